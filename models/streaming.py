"""Label one recording while it is being written, with a causal model.

:class:`RecordingStream` keeps what labelling needs of the recording's past (its steps
done, the flat-channel mask, the 1 s block means for the causal reference and P3's
open event) and, each time more data records are present, labels the new whole
seconds: the features of the new span with the model's past context
(:func:`~neurokube.core.feature_stream.span_features`, the same function chunked batch
labelling uses), P1, P2 and the online P3 rules (:class:`OnlineEvents`). Seconds within
``SIGNAL_CONTEXT_S`` of the data's end wait for the next records (their features need
that much signal after them) until the recording is final. With a causal bundle the
events equal those of batch ``label`` on the finished file.

No Beam: ``transforms/stream.py`` keeps one of these per recording in Beam state.

Example::

    stream = RecordingStream(path, bundle)
    with open_recording(path, bundle.feature_spec, growing=True) as src:
        decisions = stream.advance(src, detector, final=False)
"""
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import TCP_CHANNELS, FeatureSpec
from neurokube.core.feature_stream import (
    SIGNAL_CONTEXT_S, FeatureChunk, RecordingStats, block_means, recording_stats,
    span_features)
from neurokube.core.model_inputs import (
    check_scorable, hypothesis_features, step_summaries, to_model_input, to_steps)
from neurokube.models.postprocess import OnlineEvents, fuse

if TYPE_CHECKING:
    from neurokube.core.edf import EdfSource
    from neurokube.models.config import ModelConfig, P3Params
    from neurokube.models.detector import Detector


class RecordingStream:
    """The labelling state of one growing recording (small and picklable).

    Attributes
    ----------
    path : str
    steps_done : int
        Whole seconds labelled so far.
    records_seen : int
        Data records present at the last advance (a later count below it is a truncation).
    decisions : list of dict
        Every event decision so far (see :meth:`advance`).
    final : bool
        The recording has ended and its last event is closed.
    bytes_seen : int
        File size at the last observation (kept by the caller).
    dead : bool
        The recording became a dead letter (set by the caller).
    """

    def __init__(self, path: str, feature_spec: FeatureSpec, config: "ModelConfig",
                 p3: "P3Params") -> None:
        if not config.causal:
            raise ValueError("streaming needs a causal model (its config has causal=False): "
                             "its windows would look into data not yet recorded")
        self.path, self.spec, self.config, self.p3 = path, feature_spec, config, p3
        self.steps_done = 0
        self.records_seen = 0
        self.mask = None
        self.montage = None
        self.blocks = np.zeros((len(TCP_CHANNELS), 0, feature_spec.n_cepstra), np.float32)
        # P1 posteriors of the last steps: the hypothesis features' past (run length and
        # event mean, capped), and the P2 windows' past.
        self._history_steps = config.context_steps[0] + config.window_steps
        self.p1_history = np.zeros((len(TCP_CHANNELS), 0), np.float32)
        self.online = OnlineEvents(p3, config.step_s, len(TCP_CHANNELS))
        self.decisions = []
        self.duration_s = 0.0
        self.final = False
        self.bytes_seen = 0   # file size at the last observation (a smaller one: truncated)
        self.dead = False     # became a dead letter: ignored from then on

    def _decide_mask(self, src, ready):
        decide_s = self.spec.mask_decision_s or math.inf
        span = min(ready, decide_s)
        features, buildable = span_features(src, self.spec, 0.0, span)
        stats = recording_stats(block_means(features, self.spec), buildable,
                                features.shape[1], src.plan.montage, self.spec)
        self.mask, self.montage = stats.mask, stats.montage

    def advance(self, src: "EdfSource", detector: "Detector", final: bool = False,
                now: str | None = None) -> list[dict[str, Any]]:
        """Label the seconds that ``src`` (opened ``growing=True``) now completes.

        ``final``: no more records will come (the file stopped growing): every second is
        labelled and the open event closed. Returns the new decisions, dicts with
        ``decision`` (``start`` or ``end``), ``start_s``, ``stop_s`` and ``confidence``
        (ends only), ``decided_at_s`` (data time at which it was decided), ``latency_s``
        (decided_at_s − start_s) and ``decided_wall`` (``now``, wall-clock time).

        Raises
        ------
        RecordingError
            The file holds fewer records than before (truncated), or cannot be labelled.
        """
        records = src.n_records
        if records < self.records_seen:
            raise RecordingError(f"file truncated while being followed: {records} data "
                                 f"records, {self.records_seen} before", stage="read")
        self.records_seen = records
        self.duration_s = src.duration_s
        if final:
            check_scorable(src.duration_s, self.config.step_s)
        whole = int(math.floor(src.duration_s + 1e-9))
        ready = whole if final else max(0, int(math.floor(src.duration_s - SIGNAL_CONTEXT_S)))
        if self.mask is None:
            decide_s = self.spec.mask_decision_s or math.inf
            if not final and ready < decide_s:
                return []
            self._decide_mask(src, ready)
        out = []
        if ready > self.steps_done:
            out += self._label(src, detector, ready)
        if final:
            out += self.online.finish(src.duration_s)
            self.final = True
        return self._record(out, now)

    def _label(self, src, detector, ready):
        """Posteriors of steps [steps_done, ready) and their P3 decisions. Only the P1
        windows' past (``window_steps - 1`` steps) is featurised again; the hypothesis
        features' longer past comes from the P1 posteriors kept in ``p1_history``."""
        config, per = self.config, self.config.frames_per_step
        lo = self.steps_done
        first = max(0, lo - (config.window_steps - 1))
        features, _ = span_features(src, self.spec, float(first), float(ready))
        features[~self.mask] = 0.0
        new_blocks = block_means(features[:, (lo - first) * per:], self.spec)
        blocks = np.concatenate([self.blocks, np.where(
            self.mask[:, None, None], new_blocks, 0.0).astype(np.float32)], axis=1)
        stats = RecordingStats(mask=self.mask, flat_channels=(), reference=None,
                               n_frames=ready * per, montage=self.montage, block_means=blocks)
        chunk = FeatureChunk(path=self.path, features=features, first_frame=first * per,
                             lo_frame=lo * per, hi_frame=ready * per, chunk=0, n_chunks=1,
                             duration_s=src.duration_s, stats=stats)
        normalised = to_model_input(chunk, config).features
        p1 = detector.p1_posteriors(to_steps(normalised, config), self.mask)[:, lo - first:]
        history = np.concatenate([self.p1_history, p1], axis=1)
        hyp = hypothesis_features(history, config)[:, -(ready - first):]
        maps = detector.p2_inputs(step_summaries(normalised, config),
                                  history[:, -(ready - first):], self.mask, hyp=hyp)
        p2 = detector.p2_posteriors(maps, lo - first, ready - first)
        fused = fuse(p1, p2, self.mask, self.p3)
        self.blocks = blocks
        self.p1_history = history[:, -self._history_steps:]
        self.steps_done = ready
        return self.online.update(fused, p1, self.mask)

    def _record(self, decisions, now):
        out = []
        step_s = self.config.step_s
        for kind, what, at_step in decisions:
            decided_at = (at_step + 1) * step_s
            if kind == "start":
                row = {"decision": "start", "start_s": what}
            else:
                start, stop, confidence = what
                row = {"decision": "end", "start_s": start, "stop_s": stop,
                       "confidence": round(confidence, 4)}
                decided_at = min(decided_at, self.duration_s)
            row.update(decided_at_s=float(decided_at),
                       latency_s=round(float(decided_at - row["start_s"]), 3),
                       decided_wall=now)
            out.append(row)
        self.decisions += out
        return out

    def events(self) -> list[tuple[float, float, float | None]]:
        """The events so far: [(start_s, stop_s, confidence)], the open one (start decided)
        running to the data labelled so far."""
        events = list(self.online.events)
        open_start = self.online.open_start_s()
        if open_start is not None:
            events.append((open_start, float(self.steps_done * self.config.step_s),
                           self.online.open_confidence()))
        return events
