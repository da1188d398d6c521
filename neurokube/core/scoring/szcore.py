"""SzCORE event scoring through the ``timescoring`` library (v0.0.7), default tolerances.

Reference events are extended to ``[start - 30 s, stop + 60 s]``, events closer than 90 s are
merged and events longer than 5 min split (all inside ``timescoring``); any overlap detects.
Only seizures are scored: the union of the ``seiz`` events of each timeline goes in, so
overlapping or touching events count once. Counts are pooled over recordings by summing, as
the issue asks (szcore-evaluation itself averages per subject by default).
"""
from timescoring import scoring
from timescoring.annotations import Annotation as TsAnnotation

from neurokube.core.formats import SEIZ
from neurokube.core.scoring.common import Counts, Timeline

NAME = "szcore"
FA_WEIGHT = 1.0
# timescoring scores at 10 Hz internally; building the masks at that rate loses nothing more.
FS_HZ = 10


def _union(intervals):
    merged = []
    for start, stop in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def score(ref: Timeline, hyp: Timeline) -> dict[str, Counts]:
    """Score one pair of timelines; returns ``{"seiz": Counts}``."""
    # At least one sample: timescoring divides by the duration (a 0.04 s recording is 0).
    n_samples = max(1, round(ref.duration_s * FS_HZ))
    result = scoring.EventScoring(
        TsAnnotation(_union(ref.of_label(SEIZ)), FS_HZ, n_samples),
        TsAnnotation(_union(hyp.of_label(SEIZ)), FS_HZ, n_samples))
    return {SEIZ: Counts(targets=int(result.refTrue), hits=int(result.tp),
                         misses=int(result.refTrue - result.tp), false_alarms=int(result.fp))}
