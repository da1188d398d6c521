"""The detector on one recording or chunk: P1 -> hypothesis features -> P2, then P3.

No Beam: the RunInference model handler, the training code and the tests all call it. The
models run in Keras (:class:`KerasEngine`, for training and GPUs) or in NumPy
(:class:`~neurokube.models.numpy_engine.NumpyEngine`, no TensorFlow in the worker).

Example::

    det = Detector.from_keras(p1_model, p2_model, ModelConfig(), P3Params())
    out = det.posteriors(chunk)          # ChunkPosteriors for chunk.own steps
"""
from typing import TYPE_CHECKING, Any

import numpy as np

from neurokube.core.model_inputs import (
    ChunkPosteriors, ModelInput, hypothesis_features, p1_inputs, p1_window_batches, p2_maps,
    p2_window_batches, step_summaries, to_steps)
from neurokube.models.config import ModelConfig, P3Params

if TYPE_CHECKING:
    from neurokube.models.numpy_engine import NumpyEngine


class KerasEngine:
    """P1's and P2's per-step blocks and heads as Keras models (split once)."""

    def __init__(self, p1: Any, p2: Any, config: ModelConfig) -> None:
        from neurokube.models.networks import split_per_step  # Keras: only where it runs
        self._p1_step, self._p1_head = split_per_step(p1, (config.p1_input_values,))
        self._p2_step, self._p2_head = split_per_step(
            p2, (config.n_channels, config.map_values + 1, 1))
        self.p1_step_units = self._p1_step.output_shape[-1]
        self.p2_step_units = self._p2_step.output_shape[-1]

    def p1_step(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._p1_step.predict_on_batch(x))

    def p1_head(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self._p1_head.predict_on_batch(windows))[:, 1]

    def p2_step(self, maps: np.ndarray) -> np.ndarray:
        return np.asarray(self._p2_step.predict_on_batch(maps))

    def p2_head(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self._p2_head.predict_on_batch(windows))[:, 1]


class Detector:
    """P1, P2 and P3 of one model bundle, applied to :class:`ModelInput` chunks.

    Parameters
    ----------
    engine : KerasEngine or NumpyEngine
        Runs the per-step blocks and the heads (:mod:`neurokube.models.numpy_engine`
        runs them without TensorFlow).
    config : ModelConfig
    p3 : P3Params
    p1_batch_windows, p2_batch_windows : int
        Windows per call (memory vs. per-call overhead).
    """

    def __init__(self, engine: "KerasEngine | NumpyEngine", config: ModelConfig, p3: P3Params,
                 p1_batch_windows: int = 8192, p2_batch_windows: int = 1024) -> None:
        self.engine, self.config, self.p3 = engine, config, p3
        self.p1_batch_windows = int(p1_batch_windows)
        self.p2_batch_windows = int(p2_batch_windows)

    @classmethod
    def from_keras(cls, p1: Any, p2: Any, config: ModelConfig, p3: P3Params,
                   **kwargs: Any) -> "Detector":
        return cls(KerasEngine(p1, p2, config), config, p3, **kwargs)

    def p1_posteriors(self, steps: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(22, S) P(seizure) of every present channel and step (from standardised steps,
        (22, S, frames × F)); absent channels are 0."""
        steps = p1_inputs(steps, self.config)
        out = np.zeros(steps.shape[:2], dtype=np.float32)
        channels = np.flatnonzero(mask)
        if steps.shape[1] == 0 or len(channels) == 0:
            return out
        flat = steps[channels].reshape(-1, steps.shape[2])
        projected = np.zeros(steps.shape[:2] + (self.engine.p1_step_units,), np.float32)
        projected[channels] = _apply(self.engine.p1_step, flat, self.p1_batch_windows).reshape(
            len(channels), steps.shape[1], -1)
        for c, s, windows in p1_window_batches(projected, channels, self.config,
                                               self.p1_batch_windows):
            out[c, s] = self.engine.p1_head(windows.astype(np.float32, copy=False))
        return out

    def p2_inputs(self, summaries: np.ndarray, p1: np.ndarray, mask: np.ndarray,
                  hyp: np.ndarray | None = None) -> np.ndarray:
        """(S, 22, 2F + 4 + 1) maps: step summaries, hypothesis features (from ``p1``, or
        ``hyp`` computed by the caller from a longer history) and the mask."""
        hyp = hypothesis_features(p1, self.config) if hyp is None else hyp
        maps = p2_maps(summaries, hyp, mask)
        column = np.broadcast_to(np.asarray(mask, np.float32)[None, :, None],
                                 maps.shape[:2] + (1,))
        return np.concatenate([maps, column], axis=-1)

    def p2_posteriors(self, maps: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """(hi - lo,) P(seizure) of P2 for steps lo..hi of ``maps``."""
        hi = maps.shape[0] if hi is None else hi
        out = np.zeros(max(0, hi - lo), dtype=np.float32)
        if hi <= lo:
            return out
        # Only the steps that the windows of lo..hi reach need their per-step features.
        config = self.config
        past, future = ((config.window_steps - 1, 0) if config.causal
                        else (config.half_window, config.half_window))
        first = max(0, lo - past)
        last = min(maps.shape[0], hi + future)
        step_features = np.zeros((maps.shape[0], self.engine.p2_step_units), np.float32)
        step_features[first:last] = _apply(self.engine.p2_step, maps[first:last, ..., None],
                                           self.p2_batch_windows)
        for s, windows in p2_window_batches(step_features, self.config, self.p2_batch_windows,
                                            lo, hi):
            out[s - lo] = self.engine.p2_head(windows.astype(np.float32, copy=False))
        return out

    def posteriors(self, chunk: ModelInput) -> ChunkPosteriors:
        """P1 and P2 posteriors of the steps a :class:`ModelInput` answers for."""
        steps = to_steps(chunk.features, self.config)
        p1 = self.p1_posteriors(steps, chunk.mask)
        maps = self.p2_inputs(step_summaries(chunk.features, self.config), p1, chunk.mask)
        lo, hi = chunk.lo_step - chunk.offset_step, chunk.hi_step - chunk.offset_step
        if lo < 0 or hi > steps.shape[1]:
            raise ValueError(f"{chunk.path}: chunk steps [{chunk.lo_step}, {chunk.hi_step}) "
                             f"exceed its features ({steps.shape[1]} steps from "
                             f"{chunk.offset_step})")
        return ChunkPosteriors(path=chunk.path, chunk=chunk.chunk, n_chunks=chunk.n_chunks,
                               lo_step=chunk.lo_step, hi_step=chunk.hi_step,
                               p1=p1[:, lo:hi].copy(), p2=self.p2_posteriors(maps, lo, hi),
                               mask=np.asarray(chunk.mask, bool), duration_s=chunk.duration_s,
                               montage=chunk.montage, fingerprint=chunk.fingerprint,
                               start=chunk.start)


def _apply(block, x, batch):
    """A block on ``x`` in batches of ``batch`` rows, float32 NumPy out."""
    parts = [np.asarray(block(np.ascontiguousarray(x[i:i + batch], np.float32)))
             for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)
