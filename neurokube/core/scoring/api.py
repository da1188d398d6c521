"""The library entry points: score one pair, or pool many, with any registered scorers."""
import os
from typing import Any, Iterable, Union

from neurokube.core.formats import SEIZ, TIME_DECIMALS, Annotation, read_annotation
from neurokube.core.scoring.common import (SECONDS_PER_DAY, Counts, ScoringError,
                                                 Timeline, sensitivity)
from neurokube.core.scoring.registry import DEFAULT_SCORERS, SCORERS

# A path to an annotation file, or the annotation itself.
_AnnotationSource = Union[str, os.PathLike[str], Annotation]


def _check_scorers(scorers):
    scorers = tuple(scorers)
    unknown = [name for name in scorers if name not in SCORERS]
    if unknown or not scorers:
        raise ValueError(f"unknown scorer(s) {unknown}; choose from {sorted(SCORERS)}")
    return scorers


def _load(item):
    annotation = item if isinstance(item, Annotation) else read_annotation(item)
    if not annotation.is_term:
        channels = sorted({e.channel for e in annotation.events} - {"TERM"})
        raise ScoringError(
            f"{annotation.source or annotation.bname}: per-channel annotation (channels "
            f"{', '.join(channels[:5])}{' ...' if len(channels) > 5 else ''}) offered for term "
            "scoring; score its term file (.csv_bi) or convert it explicitly")
    return annotation


def timelines(ref: _AnnotationSource, hyp: _AnnotationSource) -> tuple[Timeline, Timeline]:
    """Read and check one pair; return their NEDC timelines.

    Parameters
    ----------
    ref, hyp : str, os.PathLike or Annotation
        Reference and hypothesis of one recording.

    Returns
    -------
    (Timeline, Timeline)

    Raises
    ------
    AnnotationError
        Unreadable or invalid file (unknown label, event outside the recording, ...).
    ScoringError
        Per-channel annotation, or durations that differ at 4 decimals.
    """
    ref_ann, hyp_ann = _load(ref), _load(hyp)
    if round(ref_ann.duration_s, TIME_DECIMALS) != round(hyp_ann.duration_s, TIME_DECIMALS):
        raise ScoringError(
            f"duration mismatch: reference {ref_ann.source or ref_ann.bname} lasts "
            f"{ref_ann.duration_s} s, hypothesis {hyp_ann.source or hyp_ann.bname} "
            f"{hyp_ann.duration_s} s")
    return Timeline.from_annotation(ref_ann), Timeline.from_annotation(hyp_ann)


def score_pair(ref: _AnnotationSource, hyp: _AnnotationSource,
               scorers: Iterable[str] = DEFAULT_SCORERS) -> dict[str, dict[str, Counts]]:
    """Score one recording with each scorer, every label.

    Returns
    -------
    dict
        Scorer name -> label -> :class:`~neurokube.core.scoring.common.Counts`.
    """
    scorers = _check_scorers(scorers)
    ref_tl, hyp_tl = timelines(ref, hyp)
    return {name: SCORERS[name].score(ref_tl, hyp_tl) for name in scorers}


def summary(counts: Counts, duration_s: float, fa_weight: float = 1.0) -> dict[str, float]:
    """The reported figures of pooled SEIZ counts.

    Parameters
    ----------
    counts : Counts
    duration_s : float
        Total scored duration in seconds.
    fa_weight : float
        Seconds one false alarm weighs in the rate (EPOCH: the epoch length; else 1).

    Returns
    -------
    dict
        ``targets``, ``hits``, ``misses``, ``false_alarms``, ``sensitivity_pct``,
        ``precision_pct`` (hits / (hits + false alarms), NEDC's PPV), ``f1_pct`` and
        ``fa_per_24h``.
    """
    rate = counts.false_alarms * fa_weight / duration_s * SECONDS_PER_DAY if duration_s else 0.0
    sens = sensitivity(counts)
    flagged = counts.hits + counts.false_alarms
    precision = counts.hits / flagged if flagged else 0.0
    f1 = 2 * precision * sens / (precision + sens) if precision + sens else 0.0
    return {"targets": counts.targets, "hits": counts.hits, "misses": counts.misses,
            "false_alarms": counts.false_alarms, "sensitivity_pct": 100.0 * sens,
            "precision_pct": 100.0 * precision, "f1_pct": 100.0 * f1, "fa_per_24h": rate}


def score_pairs(pairs: Iterable[tuple[_AnnotationSource, _AnnotationSource]],
                scorers: Iterable[str] = DEFAULT_SCORERS) -> dict[str, Any]:
    """Score many recordings and pool the SEIZ results, as NEDC's summary does.

    Parameters
    ----------
    pairs : iterable of (ref, hyp)
        Paths or :class:`~neurokube.core.formats.Annotation` objects, e.g. from
        :func:`~neurokube.core.scoring.pairing.pair_files`.
    scorers : sequence of str
        Names from :data:`~neurokube.core.scoring.registry.SCORERS`.

    Returns
    -------
    dict
        ``{"files": N, "total_duration_s": D, "<scorer>": summary, ...}`` where D sums each
        reference's duration (seconds) and each summary is :func:`summary` of the SEIZ label
        (IRA adds ``kappa`` and its ``confusion`` matrix).

    Raises
    ------
    AnnotationError, ScoringError
        On the first pair that cannot be scored; the message names the file(s).

    Examples
    --------
    >>> result = score_pairs(pair_files("ref/", "hyp/"), scorers=["overlap", "taes"])
    >>> result["overlap"]["sensitivity_pct"]
    """
    scorers = _check_scorers(scorers)
    totals: dict[str, dict[str, Counts]] = {name: {} for name in scorers}
    n_files, duration_s = 0, 0.0
    for ref, hyp in pairs:
        ref_tl, hyp_tl = timelines(ref, hyp)
        for name in scorers:
            for label, counts in SCORERS[name].score(ref_tl, hyp_tl).items():
                totals[name][label] = totals[name].get(label, Counts()) + counts
        n_files += 1
        duration_s += ref_tl.duration_s
    if not n_files:
        raise ScoringError("nothing to score: no reference/hypothesis pairs")
    result = {"files": n_files, "total_duration_s": duration_s}
    for name in scorers:
        result[name] = summary(totals[name].get(SEIZ, Counts()), duration_s,
                               SCORERS[name].FA_WEIGHT)
        if hasattr(SCORERS[name], "figures"):
            result[name].update(SCORERS[name].figures(totals[name]))
    return result
