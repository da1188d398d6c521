"""Scoring of seizure annotations with NEDC v6.0.0 parity, and SzCORE.

One module per scorer (``overlap``, ``taes``, ``epoch``, ``dpalign``, ``szcore``), a registry
of them, and pure library entry points; nothing here imports Beam.

Example::

    from neurokube.core.scoring import pair_files, score_pairs
    result = score_pairs(pair_files("ref/", "hyp/"))
    print(result["overlap"]["sensitivity_pct"], result["overlap"]["fa_per_24h"])
"""
from neurokube.core.scoring.api import score_pair, score_pairs, summary, timelines
from neurokube.core.scoring.common import Counts, ScoringError, Timeline
from neurokube.core.scoring.pairing import find_annotations, pair_files
from neurokube.core.scoring.registry import DEFAULT_SCORERS, SCORERS

__all__ = ["Counts", "DEFAULT_SCORERS", "SCORERS", "ScoringError", "Timeline",
           "find_annotations", "pair_files", "score_pair", "score_pairs", "summary",
           "timelines"]
