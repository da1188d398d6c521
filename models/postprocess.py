"""P3: fuse P1 and P2 posteriors and turn them into seizure events (pure NumPy).

Example::

    fused = fuse(p1, p2, mask, params)                       # (S,)
    events = detect_events(fused, p1, mask, params, step_s)  # [(start_s, stop_s, conf)]
"""
from typing import Sequence

import numpy as np

from neurokube.core.model_inputs import ChunkPosteriors
from neurokube.models.config import P3Params


def top_k_mean(p1: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k highest P1 channel posteriors per step (present channels only)."""
    present = np.asarray(p1, np.float64)[np.asarray(mask, bool)]
    if present.shape[0] == 0:
        return np.zeros(p1.shape[1])
    k = min(k, present.shape[0])
    return np.sort(present, axis=0)[-k:].mean(axis=0)


def fuse(p1: np.ndarray, p2: np.ndarray, mask: np.ndarray, params: P3Params) -> np.ndarray:
    """p(t) = w · p_P2(t) + (1 − w) · mean of the top-k P1 channel posteriors."""
    return params.p2_weight * np.asarray(p2, np.float64) + (1.0 - params.p2_weight) * top_k_mean(
        p1, mask, params.top_k)


def _runs(flags):
    """(start, stop) index pairs of the runs of True in a boolean vector (stop exclusive)."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges.reshape(-1, 2)


def event_stop_s(stop: int, n_steps: int, step_s: float, duration_s: float | None) -> float:
    """End (s) of an event whose last step is ``stop - 1``: clipped to the recording, and
    run on to its end when the event holds the last whole step, since the partial last
    step (under ``step_s``, given no decision of its own) follows the one before it."""
    stop_s = stop * step_s
    if duration_s is None:
        return stop_s
    if stop == n_steps and stop_s < duration_s < stop_s + step_s:
        return duration_s
    return min(stop_s, duration_s)


def detect_events(fused: np.ndarray, p1: np.ndarray, mask: np.ndarray, params: P3Params,
                  step_s: float, duration_s: float | None = None
                  ) -> list[tuple[float, float, float]]:
    """Seizure events from the fused posterior, with the P3 heuristics.

    Parameters
    ----------
    fused : np.ndarray
        (S,) fused posterior per step.
    p1 : np.ndarray
        (C, S) P1 posteriors (for the "channels observed" rule).
    mask : np.ndarray
        (C,) present channels.
    params : P3Params
    step_s : float
        Step length, s.
    duration_s : float, optional
        Recording duration; events are clipped to it (see :func:`event_stop_s`).

    Returns
    -------
    list of (start_s, stop_s, confidence)
        Sorted, non-overlapping; confidence = mean fused posterior over the event.
    """
    fused = np.asarray(fused, np.float64)
    runs = _runs(fused > params.threshold)
    merged = []
    gap_steps = params.merge_gap_s / step_s
    for start, stop in runs:
        if merged and start - merged[-1][1] <= gap_steps + 1e-9:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    above = (np.asarray(p1) > params.threshold) & np.asarray(mask, bool)[:, None]
    events = []
    for start, stop in merged:
        if (stop - start) * step_s < params.min_duration_s - 1e-9:
            continue
        if above[:, start:stop].any(axis=1).sum() < params.min_channels:
            continue
        start_s, stop_s = start * step_s, event_stop_s(stop, len(fused), step_s, duration_s)
        if stop_s <= start_s:
            continue
        events.append((float(start_s), float(stop_s), float(fused[start:stop].mean())))
    return events


def channel_events(p1: np.ndarray, mask: np.ndarray,
                   events: Sequence[tuple[float, float, float]], params: P3Params,
                   step_s: float, channel_names: Sequence[str]
                   ) -> list[tuple[str, float, float, float]]:
    """Per-channel seizure events within the term events (for TUSZ's per-channel ``.csv``).

    Inside each term event, a present channel is in seizure where its P1 posterior is
    above ``params.threshold``; runs closer than ``params.merge_gap_s`` merge.

    Returns
    -------
    list of (channel, start_s, stop_s, confidence)
        Confidence = mean P1 over the run; sorted by channel (montage order), then time.
    """
    p1 = np.asarray(p1, np.float64)
    out = []
    gap_steps = params.merge_gap_s / step_s
    for c in np.flatnonzero(np.asarray(mask, bool)):
        for start_s, stop_s, _ in events:
            lo, hi = int(round(start_s / step_s)), int(np.ceil(stop_s / step_s - 1e-9))
            merged = []
            for a, b in _runs(p1[c, lo:hi] > params.threshold):
                if merged and a - merged[-1][1] <= gap_steps + 1e-9:
                    merged[-1][1] = b
                else:
                    merged.append([a, b])
            for a, b in merged:
                s = max(start_s, (lo + a) * step_s)
                # Raised at the last whole step: on over the partial last one, as the event.
                e = stop_s if lo + b == p1.shape[1] else min(stop_s, (lo + b) * step_s)
                if e > s:
                    out.append((channel_names[c], float(s), float(e),
                                float(p1[c, lo + a:lo + b].mean())))
    return out


def assemble(chunks: Sequence[ChunkPosteriors], params: P3Params, step_s: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
    """A recording's posteriors and events from its chunks' posteriors (in chunk order).

    Returns
    -------
    (p1 (C, S), p2 (S,), fused (S,), events)
    """
    p1 = np.concatenate([c.p1 for c in chunks], axis=1)
    p2 = np.concatenate([c.p2 for c in chunks])
    first = chunks[0]
    fused = fuse(p1, p2, first.mask, params)
    events = detect_events(fused, p1, first.mask, params, step_s, first.duration_s)
    return p1, p2, fused, events


class OnlineEvents:
    """P3's event rules applied step by step, deciding each start and end once.

    Feed the fused posterior and the P1 posteriors of new steps as they come
    (:meth:`update`); an event's start is decided as soon as its run (runs closer than
    ``merge_gap_s`` merged) has lasted ``min_duration_s`` and ``min_channels`` P1 channels
    have been above the threshold inside it, and its end once the posterior has stayed
    below the threshold for longer than ``merge_gap_s`` (or the recording ends:
    :meth:`finish`). A decided start is never revised. For a finished recording the events
    equal :func:`detect_events`'.

    Decisions are ``("start", start_s, decided_at_step)`` and
    ``("end", (start_s, stop_s, confidence), decided_at_step)``.
    """

    def __init__(self, params: P3Params, step_s: float, n_channels: int) -> None:
        self._params, self._step_s = params, step_s
        self._gap_steps = params.merge_gap_s / step_s
        self.step = 0                       # steps seen
        self._start = None                  # candidate run start (step)
        self._stop = None                   # one past its last step above threshold
        self._channels = np.zeros(n_channels, bool)
        self._sum = 0.0                     # fused over [start, now) for the confidence
        self._decided = False
        self.events = []

    def _close(self, at_step, duration_s=None):
        """End the candidate; returns its decision (if its start was decided)."""
        out = []
        if self._decided:
            start_s = self._start * self._step_s
            stop_s = event_stop_s(self._stop, at_step, self._step_s, duration_s)
            if stop_s > start_s:
                confidence = self._sum_to_stop / (self._stop - self._start)
                event = (float(start_s), float(stop_s), float(confidence))
                self.events.append(event)
                out.append(("end", event, at_step))
        self._start = self._stop = None
        self._decided = False
        return out

    def update(self, fused: np.ndarray, p1: np.ndarray, mask: np.ndarray
               ) -> list[tuple[str, float | tuple[float, float, float], int]]:
        """Steps ``self.step ..`` of the fused (S,) and P1 (C, S) posteriors; returns the
        decisions they bring."""
        p = self._params
        above_channels = (np.asarray(p1) > p.threshold) & np.asarray(mask, bool)[:, None]
        out = []
        for k, value in enumerate(np.asarray(fused, np.float64)):
            t = self.step + k
            if value > p.threshold:
                if self._start is None:
                    self._start, self._sum = t, 0.0
                    self._channels[:] = False
                self._stop = t + 1
                self._channels |= above_channels[:, k]
            elif self._start is not None and t - self._stop + 1 > self._gap_steps + 1e-9:
                out += self._close(t)
            if self._start is not None:
                self._sum += value
                if self._stop == t + 1:
                    self._sum_to_stop = self._sum
                long_enough = (self._stop - self._start) * self._step_s >= \
                    p.min_duration_s - 1e-9
                if not self._decided and long_enough and \
                        self._channels.sum() >= p.min_channels:
                    self._decided = True
                    out.append(("start", float(self._start * self._step_s), t))
        self.step += len(fused)
        return out

    def open_start_s(self) -> float | None:
        """Start (s) of the event whose start is decided but whose end is not, or None."""
        return float(self._start * self._step_s) if self._decided else None

    def open_confidence(self) -> float | None:
        """Mean fused posterior of the open event so far (None without one)."""
        if not self._decided:
            return None
        return float(self._sum_to_stop / max(self._stop - self._start, 1))

    def finish(self, duration_s: float | None = None
               ) -> list[tuple[str, float | tuple[float, float, float], int]]:
        """The recording ended: close the open event; returns the decisions."""
        return self._close(self.step, duration_s) if self._start is not None else []
