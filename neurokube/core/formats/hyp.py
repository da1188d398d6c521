"""The per-epoch hypothesis stream (``.hyp``, write only): label and confidence of every
1 s epoch."""
import math
from typing import Iterable

from neurokube.core.formats.model import (
    BCKG, SEIZ, TIME_DECIMALS, Annotation, filled_with_background, sorted_term_events)

# Length of one epoch of the ``hyp`` stream.
HYP_EPOCH_S = 1.0


def format_hyp(annotation: Annotation) -> str:
    """Per-epoch hypothesis stream: label and confidence of every 1 s epoch.

    An epoch is ``seiz`` when seizure events cover at least half of it, and then carries the
    confidence of the seizure event covering most of it; otherwise ``bckg`` with the
    confidence of the explicit background event covering most of it, or 1.0. The last epoch
    is cut at the recording's end.
    """
    events = filled_with_background(sorted_term_events(annotation), annotation.duration_s)
    lines = ["# version = hyp_v1.0.0", f"# bname = {annotation.bname}",
             f"# duration = {annotation.duration_s:.4f} secs",
             f"# epoch_duration = {HYP_EPOCH_S:.4f} secs",
             "start_time,stop_time,label,confidence"]
    n_epochs = math.ceil(round(annotation.duration_s / HYP_EPOCH_S, TIME_DECIMALS))
    for k in range(n_epochs):
        start, stop = k * HYP_EPOCH_S, min((k + 1) * HYP_EPOCH_S, annotation.duration_s)
        covers = {SEIZ: [], BCKG: []}
        for event in events:
            overlap = min(stop, event.stop_s) - max(start, event.start_s)
            if overlap > 0:
                covers[event.label].append((overlap, event.confidence))
        seiz_s = sum(overlap for overlap, _ in covers[SEIZ])
        label = SEIZ if seiz_s >= (stop - start) / 2 else BCKG
        confidence = max(covers[label])[1]
        lines.append(f"{start:.4f},{stop:.4f},{label},{confidence:.4f}")
    return "\n".join(lines) + "\n"


def format_hyp_posteriors(annotation: Annotation, posteriors: Iterable[float],
                          epoch_s: float = HYP_EPOCH_S) -> str:
    """Per-epoch hypothesis stream from a detector's per-epoch seizure posteriors.

    Each ``epoch_s`` epoch is labelled as :func:`format_hyp` labels it (``seiz`` when the
    annotation's seizure events cover at least half of it); its confidence is the
    posterior of that label, p for ``seiz`` and 1 − p for ``bckg``. Epochs beyond the
    posteriors (a partial last second) take the last posterior.
    """
    lines = format_hyp(annotation).splitlines()
    header = [line for line in lines if line.startswith("#") or line.startswith("start_time")]
    rows = [line for line in lines if line not in header]
    posteriors = list(posteriors)
    out = list(header)
    for k, row in enumerate(rows):
        start, stop, label, _ = row.split(",")
        p = float(posteriors[min(k, len(posteriors) - 1)]) if posteriors else 0.0
        confidence = p if label == SEIZ else 1.0 - p
        out.append(f"{start},{stop},{label},{confidence:.4f}")
    return "\n".join(out) + "\n"
