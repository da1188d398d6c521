"""NEDC OVERLAP (any-overlap) scoring, v6.0.0 semantics (``nedc_eeg_eval_ovlp``).

Per label: a reference event is a hit when a hypothesis event of the same label overlaps it
strictly (``hyp.stop > ref.start and hyp.start < ref.stop``; touching does not count), else a
miss; a hypothesis event overlapping no reference event of its label is a false alarm.
"""
import numpy as np

from neurokube.core.scoring.common import LABELS, Counts, Timeline

NAME = "overlap"
FA_WEIGHT = 1.0


def score(ref: Timeline, hyp: Timeline) -> dict[str, Counts]:
    """Score one pair of timelines.

    Parameters
    ----------
    ref, hyp : neurokube.core.scoring.common.Timeline

    Returns
    -------
    dict
        Label -> :class:`~neurokube.core.scoring.common.Counts`.
    """
    out = {}
    for label in LABELS:
        r = np.asarray(ref.of_label(label), dtype=float).reshape(-1, 2)
        h = np.asarray(hyp.of_label(label), dtype=float).reshape(-1, 2)
        overlaps = (h[None, :, 1] > r[:, None, 0]) & (h[None, :, 0] < r[:, None, 1])
        hits = int(overlaps.any(axis=1).sum())
        out[label] = Counts(targets=len(r), hits=hits, misses=len(r) - hits,
                            false_alarms=int((~overlaps.any(axis=0)).sum()))
    return out
