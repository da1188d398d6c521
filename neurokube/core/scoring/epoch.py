"""NEDC EPOCH scoring, v6.0.0 semantics (``nedc_eeg_eval_epoch``), 0.25 s epochs.

Both timelines are sampled at ``t = 0.125 + k * 0.25`` s while ``t`` does not pass the end
of the reference. A sample takes the label of the first event (in timeline order) with
``start <= t <= stop``; a sample matching none takes the last event's label, as NEDC's
``-1`` index does. Per label: targets are reference samples of the label, hits samples where
both agree, misses reference samples labelled otherwise by the hypothesis, false alarms
hypothesis samples of the label where the reference says ``bckg``. Its false-alarm rate
counts false-alarm **seconds** (samples x 0.25 s) per 24 h.
"""
import numpy as np

from neurokube.core.formats import BCKG
from neurokube.core.scoring.common import LABELS, Counts, Timeline

NAME = "epoch"
EPOCH_S = 0.25
FA_WEIGHT = EPOCH_S


def sample_times(stop_s: float, epoch_s: float = EPOCH_S) -> np.ndarray:
    """Epoch midpoints ``epoch_s / 2 + k * epoch_s`` (seconds) up to and including ``stop_s``."""
    half = epoch_s / 2.0
    n = int(np.floor((stop_s - half) / epoch_s)) + 2
    times = half + np.arange(max(n, 0)) * epoch_s
    return times[times <= stop_s]


def sample_labels(timeline: Timeline, times: np.ndarray) -> np.ndarray:
    """Index into :data:`LABELS` of the timeline's label at each time (first match wins)."""
    codes = np.full(len(times), LABELS.index(timeline.events[-1][2]), dtype=np.int8)
    for start, stop, label in reversed(timeline.events):
        lo = np.searchsorted(times, start, side="left")
        hi = np.searchsorted(times, stop, side="right")
        codes[lo:hi] = LABELS.index(label)
    return codes


def score(ref: Timeline, hyp: Timeline) -> dict[str, Counts]:
    """Score one pair of timelines; returns label -> Counts (sample counts)."""
    times = sample_times(ref.duration_s)
    r = sample_labels(ref, times)
    h = sample_labels(hyp, times)
    background = LABELS.index(BCKG)
    out = {}
    for code, label in enumerate(LABELS):
        is_ref = r == code
        out[label] = Counts(
            targets=int(is_ref.sum()),
            hits=int((is_ref & (h == code)).sum()),
            misses=int((is_ref & (h != code)).sum()),
            false_alarms=0 if code == background else int(((r == background) & (h == code)).sum()))
    return out
