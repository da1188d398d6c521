"""Challenge-style evaluation of a detector's posteriors against annotated references.

Pure NumPy on top of the scorers (no Beam, no Keras): what ``neurokube evaluate``
computes from the ``.posteriors.npz`` that ``label`` writes and the references beside the
recordings. For one set of P3 parameters: NEDC OVERLAP and TAES and SzCORE (each with
sensitivity, precision, F1 and FA/24h), the share of reference-background seconds flagged
as seizure, the longest false event, and the detection latency of every detected seizure
(onset of the first overlapping hypothesis event minus the reference onset, s). Across
operating points: the same at every P3 threshold of a sweep.

Example::

    results = [RecordingResult.load(name, ref_path, posteriors_path), ...]
    metrics = corpus_metrics(results, bundle.p3, step_s=1.0)
    curve = operating_points(results, bundle.p3, (0.3, 0.5, 0.7, 0.9), step_s=1.0)
"""
import dataclasses
import io
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from neurokube.core.formats import (
    SEIZ, TIME_DECIMALS, Annotation, Event, biclass_label, read_annotation)
from neurokube.core.paths import read_bytes
from neurokube.core.scoring import ScoringError, score_pairs
from neurokube.models.config import P3Params
from neurokube.models.postprocess import detect_events, fuse

SCORERS = ("overlap", "taes", "szcore")
DEFAULT_THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999)


@dataclasses.dataclass
class RecordingResult:
    """A recording's reference seizures and its detector posteriors."""

    name: str
    duration_s: float
    seizures: list           # [(start_s, stop_s)] reference seizure events
    p1: np.ndarray           # (22, S)
    p2: np.ndarray           # (S,)
    mask: np.ndarray         # (22,)

    @classmethod
    def load(cls, name: str, reference_path: str | os.PathLike[str],
             posteriors_path: str | os.PathLike[str]) -> "RecordingResult":
        ref = read_annotation(reference_path)
        seizures = [(e.start_s, e.stop_s) for e in ref.events
                    if biclass_label(e.label, str(reference_path)) == SEIZ]
        with np.load(io.BytesIO(read_bytes(posteriors_path))) as data:
            recording_s = float(data["duration_s"])
            # As NEDC refuses a pair whose durations differ: a reference that stops short
            # would hide every event past its end.
            if round(recording_s, TIME_DECIMALS) != round(ref.duration_s, TIME_DECIMALS):
                raise ScoringError(
                    f"{reference_path}: the reference lasts {ref.duration_s} s but its "
                    f"recording {name} lasts {recording_s} s")
            return cls(name=name, duration_s=ref.duration_s, seizures=seizures,
                       p1=data["p1"], p2=data["p2"], mask=data["mask"])

    def events(self, params: P3Params, step_s: float) -> list[tuple[float, float, float]]:
        fused = fuse(self.p1, self.p2, self.mask, params)
        return detect_events(fused, self.p1, self.mask, params, step_s, self.duration_s)


def _intervals_length(intervals):
    return float(sum(max(0.0, b - a) for a, b in intervals))


def _overlap(a, b):
    """Seconds shared by two lists of disjoint intervals."""
    total = 0.0
    for s1, e1 in a:
        for s2, e2 in b:
            total += max(0.0, min(e1, e2) - max(s1, s2))
    return total


def _pairs(results, events_of):
    pairs = []
    for r in results:
        ref = Annotation(r.name, r.duration_s, [Event(s, e, "seiz") for s, e in r.seizures])
        hyp = Annotation(r.name, r.duration_s, [Event(s, e, "seiz", c)
                                                for s, e, c in events_of[r.name]])
        pairs.append((ref, hyp))
    return pairs


def recording_events(results: Iterable[RecordingResult], params: P3Params, step_s: float
                     ) -> dict[str, list[tuple[float, float, float]]]:
    """{recording name: [(start_s, stop_s, confidence)]} at one operating point."""
    return {r.name: r.events(params, step_s) for r in results}


def background_flagged(results: Iterable[RecordingResult],
                       events_of: Mapping[str, Sequence[tuple[float, float, float]]]
                       ) -> tuple[float, float, float]:
    """(background s, background s flagged as seizure, longest false event s)."""
    background_s = flagged_s = longest_false_s = 0.0
    for r in results:
        hyp = [(s, e) for s, e, _ in events_of[r.name]]
        background_s += r.duration_s - _intervals_length(r.seizures)
        flagged_s += _intervals_length(hyp) - _overlap(hyp, r.seizures)
        for s, e in hyp:
            if not any(e > rs and s < re for rs, re in r.seizures):
                longest_false_s = max(longest_false_s, e - s)
    return background_s, flagged_s, longest_false_s


def corpus_metrics(results: Sequence[RecordingResult], params: P3Params, step_s: float,
                   scorers: Sequence[str] = SCORERS,
                   events_of: Mapping[str, Sequence[tuple[float, float, float]]] | None = None
                   ) -> dict[str, Any]:
    """Every figure of one operating point over a corpus (see the module doc);
    ``events_of`` (from :func:`recording_events`) saves recomputing the events."""
    events_of = events_of or recording_events(results, params, step_s)
    scores = score_pairs(_pairs(results, events_of), scorers=scorers)
    background_s, flagged_s, longest_false_s = background_flagged(results, events_of)
    latencies = []
    for r in results:
        hyp = [(s, e) for s, e, _ in events_of[r.name]]
        for rs, re in r.seizures:
            onsets = [s for s, e in hyp if e > rs and s < re]
            if onsets:
                latencies.append(min(onsets) - rs)
    lat = np.asarray(latencies, dtype=np.float64)
    return dict(scores, background_flagged_pct=100.0 * flagged_s / background_s
                if background_s else 0.0,
                background_s=background_s, longest_false_event_s=longest_false_s,
                latency_s={"detected": len(lat),
                           "median": float(np.median(lat)) if len(lat) else None,
                           "p90": float(np.percentile(lat, 90)) if len(lat) else None,
                           "values": [round(float(v), 3) for v in lat]})


def decision_delays(results: Iterable[RecordingResult], params: P3Params, step_s: float
                    ) -> dict[str, Any]:
    """Detection delay of a causal detector, as ``neurokube stream`` would emit it: for
    every reference seizure that an event overlaps, the data time at which that event's
    start was decided (:class:`~neurokube.models.postprocess.OnlineEvents`) minus the
    seizure's onset, s. Returns {"detected", "median", "p90", "values"}."""
    from neurokube.models.postprocess import OnlineEvents
    delays = []
    for r in results:
        online = OnlineEvents(params, step_s, r.p1.shape[0])
        fused = fuse(r.p1, r.p2, r.mask, params)
        decisions = online.update(fused, r.p1, r.mask) + online.finish(r.duration_s)
        decided = {start: (at + 1) * step_s for kind, start, at in decisions
                   if kind == "start"}
        for rs, re in r.seizures:
            hits = [decided[s] for s, e, _ in online.events if e > rs and s < re
                    and s in decided]
            if hits:
                delays.append(min(hits) - rs)
    values = np.asarray(delays, np.float64)
    return {"detected": len(values),
            "median": float(np.median(values)) if len(values) else None,
            "p90": float(np.percentile(values, 90)) if len(values) else None,
            "values": [round(float(v), 3) for v in values]}


def operating_points(results: Sequence[RecordingResult], params: P3Params,
                     thresholds: Iterable[float], step_s: float) -> list[dict[str, float]]:
    """OVERLAP sensitivity and FA/24h, TAES sensitivity and background flagged, at each
    P3 threshold (the other P3 parameters as given)."""
    points = []
    for threshold in thresholds:
        point = dataclasses.replace(params, threshold=float(threshold))
        m = corpus_metrics(results, point, step_s, scorers=("overlap", "taes"))
        points.append({"threshold": float(threshold),
                       "overlap_sensitivity_pct": m["overlap"]["sensitivity_pct"],
                       "overlap_fa_per_24h": m["overlap"]["fa_per_24h"],
                       "taes_sensitivity_pct": m["taes"]["sensitivity_pct"],
                       "background_flagged_pct": m["background_flagged_pct"]})
    return points
