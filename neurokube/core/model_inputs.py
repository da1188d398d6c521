"""Model inputs from LFCC features: normalisation, 1 s steps, windows, hypothesis features.

Pure NumPy (no Beam, no Keras); ``config`` is a ``ModelConfig`` (``neurokube.models``).
Shapes use C = channels (22), S = 1 s steps, W = window steps (7), V = values per
channel-step (260).

Normalisation (the model's CHOICEs, in its config): the frame energy E_f, and with
``recording_reference = "cepstral_median"`` also c1..c7, are taken relative to the
channel's own median over the recording (cepstral mean normalisation, as speech
recognisers do against the channel): the recording's gain, its system's filtering and a
channel's stationary spectral shape then do not reach the model, only how the EEG
changes; then every feature is standardised with the training set's mean and scale and
clipped to ``± feature_clip``, so one artefact cannot rescale a recording. Masked channels
stay zero.

Example::

    model_input = to_model_input(chunk, config)        # ModelInput, (22, T, 26) normalised
    steps = to_steps(model_input.features, config)     # (22, S, 260)
"""
import dataclasses
import typing
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from neurokube.core.errors import RecordingError

if TYPE_CHECKING:
    from neurokube.core.edf import SignalSource
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.feature_stream import FeatureChunk


@dataclasses.dataclass
class ModelInput:
    """Normalised features of one recording or one chunk of it, with context.

    Attributes
    ----------
    path : str
        The recording.
    features : np.ndarray
        float32 (22, T, 26), normalised (see the module doc), masked channels zero;
        frame 0 is recording step ``offset_step``.
    mask : np.ndarray
        bool (22,).
    offset_step, lo_step, hi_step : int
        Recording step of the array's first step, and the steps [lo, hi) this chunk
        answers for (the rest is context).
    chunk, n_chunks : int
        Chunk index and count for the recording.
    duration_s : float
        Recording duration, s.
    montage : str
    fingerprint : str, optional
        Content hash of the input file (recorded with the result).
    start : str, optional
        The recording's start (ISO 8601), for BIDS ``dateTime``.
    """

    path: str
    features: np.ndarray
    mask: np.ndarray
    offset_step: int
    lo_step: int
    hi_step: int
    chunk: int
    n_chunks: int
    duration_s: float
    montage: str
    fingerprint: typing.Optional[str] = None
    start: typing.Optional[str] = None


@dataclasses.dataclass
class ChunkPosteriors:
    """P1 and P2 posteriors of the steps [lo_step, hi_step) of a recording."""

    path: str
    chunk: int
    n_chunks: int
    lo_step: int
    hi_step: int
    p1: np.ndarray
    p2: np.ndarray
    mask: np.ndarray
    duration_s: float
    montage: str
    fingerprint: typing.Optional[str] = None
    start: typing.Optional[str] = None


def reference_columns(config: Any) -> int | None:
    """How many leading feature columns (E_f, c1...) are taken relative to the recording."""
    return {"cepstral_median": None, "causal_median": None, "energy_median": 1,
            "none": 0}[config.recording_reference]


def causal_reference(block_means: np.ndarray, config: Any, first_step: int,
                     n_steps: int) -> np.ndarray:
    """(22, n_steps, n_ref) reference of steps ``first_step..`` from the past only.

    ``block_means`` (22, B, n_ref) are the recording's 1 s block means. The reference of
    step t is the median of the ``reference_block_s`` means over the last
    ``reference_window_s`` of complete blocks before it; before the first such block
    completes, the mean of the steps so far.
    """
    per = int(round(config.reference_block_s / config.step_s))
    count = int(round(config.reference_window_s / config.reference_block_s))
    steps = np.arange(first_step, first_step + n_steps)
    n_blocks = block_means.shape[1] // per
    coarse = block_means[:, :n_blocks * per].reshape(
        block_means.shape[0], n_blocks, per, -1).mean(axis=2)
    out = np.empty((block_means.shape[0], n_steps, block_means.shape[2]), np.float32)
    last = (steps + 1) // per - 1  # the last block complete at each step
    early = last < 0
    if early.any():
        cumulative = np.cumsum(block_means[:, :per], axis=1) / np.arange(1, per + 1)[:, None]
        index = np.minimum(steps[early], cumulative.shape[1] - 1)
        out[:, early] = cumulative[:, index]
    for k in np.unique(last[~early]):
        window = coarse[:, max(0, k - count + 1):k + 1]
        out[:, last == k] = np.median(window, axis=1)[:, None, :]
    return out


def apply_reference(features: np.ndarray, reference: np.ndarray, config: Any) -> np.ndarray:
    """Raw LFCC ``(22, T, F)`` relative to the recording's levels (new array): ``reference``
    is (22, n_ref), or (22, T, n_ref) for a reference that changes frame by frame."""
    out = np.array(features, dtype=np.float32)
    reference = np.asarray(reference, np.float32)
    n = reference.shape[-1] if reference_columns(config) is None else reference_columns(config)
    if n:
        out[..., :n] -= reference[..., :n] if reference.ndim == 3 else reference[:, None, :n]
    return out


def standardise(features: np.ndarray, mask: np.ndarray, config: Any) -> np.ndarray:
    """Standardise and clip referenced features in place (see the module doc); returns them."""
    if config.feature_mean:
        features -= np.asarray(config.feature_mean, np.float32)
        features /= np.asarray(config.feature_scale, np.float32)
    if config.feature_clip:
        np.clip(features, -config.feature_clip, config.feature_clip, out=features)
    features[~np.asarray(mask, bool)] = 0.0
    return features


def normalise(features: np.ndarray, mask: np.ndarray, reference: np.ndarray,
              config: Any) -> np.ndarray:
    """Normalised model features (float32, a new array) from raw LFCC ``(22, T, F)``."""
    return standardise(apply_reference(features, reference, config), mask, config)


def chunk_reference(chunk: "FeatureChunk", config: Any) -> np.ndarray:
    """The reference a chunk's raw features are taken relative to: the recording's
    medians (22, n_ref), or for ``causal_median`` one from the past for every frame
    (22, T, n_ref)."""
    if config.recording_reference != "causal_median":
        return chunk.stats.reference
    per = config.frames_per_step
    n_chunk_steps = -(-chunk.features.shape[1] // per)
    steps = causal_reference(chunk.stats.block_means, config, chunk.first_frame // per,
                             n_chunk_steps)
    return np.repeat(steps, per, axis=1)[:, :chunk.features.shape[1]]


def to_model_input(chunk: "FeatureChunk", config: Any,
                   fingerprint: str | None = None) -> ModelInput:
    """A :class:`ModelInput` from a :class:`~neurokube.core.feature_stream.FeatureChunk`.

    Chunk edges fall on whole seconds; a partial last second is dropped.
    """
    per = config.frames_per_step
    features = normalise(chunk.features, chunk.mask, chunk_reference(chunk, config), config)
    n_steps = chunk.stats.n_frames // per
    return ModelInput(path=chunk.path, features=features, mask=np.asarray(chunk.mask, bool),
                      offset_step=chunk.first_frame // per, lo_step=chunk.lo_frame // per,
                      hi_step=min(n_steps, chunk.hi_frame // per), chunk=chunk.chunk,
                      n_chunks=chunk.n_chunks, duration_s=chunk.duration_s,
                      montage=chunk.montage, fingerprint=fingerprint, start=chunk.start)


def check_scorable(duration_s: float, step_s: float) -> None:
    """Refuse a recording shorter than one decision step (s): nothing in it can be scored,
    and no result may claim that it is background.

    Raises
    ------
    RecordingError
        Stage ``read``.
    """
    if duration_s < step_s:
        raise RecordingError(f"recording of {duration_s:g} s is shorter than one "
                             f"{step_s:g} s decision step: nothing to score", stage="read")


def iter_model_inputs(src: "SignalSource", spec: "FeatureSpec", config: Any, chunk_s: float,
                      whole_max_s: float | None = None, fingerprint: str | None = None,
                      name: str | None = None) -> Iterator[ModelInput]:
    """The :class:`ModelInput` s of an open recording: whole, or chunks with the context
    the models need (see :func:`~neurokube.core.feature_stream.iter_feature_chunks`).

    ``name`` (default: the source's path) names the inputs.

    Raises
    ------
    RecordingError
        The recording is shorter than one decision step (:func:`check_scorable`).
    """
    from neurokube.core.feature_stream import iter_feature_chunks
    check_scorable(src.duration_s, config.step_s)
    past, future = config.context_steps
    context = (past * config.frames_per_step, future * config.frames_per_step)
    for chunk in iter_feature_chunks(src, spec, chunk_s, whole_max_s, context):
        chunk.path = name or chunk.path
        yield to_model_input(chunk, config, fingerprint)


def feature_moments(referenced: Iterable[tuple[np.ndarray, np.ndarray]]
                    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-feature (mean, scale) over ``(features (C, T, F), mask)`` pairs of referenced
    training features (present channels only, float64 sums): the standardisation a
    model's config records."""
    total, total_sq, count = 0.0, 0.0, 0
    for features, mask in referenced:
        x = np.asarray(features)[np.asarray(mask, bool)].astype(np.float64)
        x = x.reshape(-1, x.shape[-1])
        total = total + x.sum(axis=0)
        total_sq = total_sq + (x * x).sum(axis=0)
        count += len(x)
    mean = total / max(count, 1)
    scale = np.sqrt(np.maximum(total_sq / max(count, 1) - mean * mean, 1e-12))
    return tuple(float(v) for v in mean), tuple(float(v) for v in scale)


def to_steps(features: np.ndarray, config: Any) -> np.ndarray:
    """(C, T, F) frames -> (C, S, frames_per_step * F) steps; a partial last second is dropped."""
    n_steps = features.shape[1] // config.frames_per_step
    trimmed = features[:, :n_steps * config.frames_per_step]
    return np.ascontiguousarray(trimmed.reshape(features.shape[0], n_steps, config.step_values))


def p1_inputs(steps: np.ndarray, config: Any) -> np.ndarray:
    """P1's per-step input from standardised steps (C, S, frames × F): the frames as they
    are (``config.p1_step_input == "frames"``), or the mean and standard deviation of each
    feature over the step (``"moments"``, (C, S, 2F)), followed by the context of each
    width in ``config.p1_context_steps`` (:func:`step_context`), standardised with
    ``config.p1_input_mean`` / ``p1_input_scale`` when the model records them and
    clipped to ``± feature_clip``."""
    if config.p1_step_input == "frames":
        return steps
    c, s, _ = steps.shape
    frames = steps.reshape(c, s, config.frames_per_step, config.n_features)
    moments = np.concatenate([frames.mean(axis=2), frames.std(axis=2)], axis=-1)
    parts = [moments] + [step_context(moments, width, config.absolute_features)
                         for width in config.p1_context_steps]
    out = np.concatenate(parts, axis=-1).astype(np.float32)
    if config.p1_input_mean:
        out -= np.asarray(config.p1_input_mean, np.float32)
        out /= np.asarray(config.p1_input_scale, np.float32)
        if config.feature_clip:
            np.clip(out, -config.feature_clip, config.feature_clip, out=out)
    return out


def step_context(moments: np.ndarray, width: int, n_absolute: int) -> np.ndarray:
    """(C, S, V) step inputs -> (C, S, V + n_absolute): over the ``width`` steps centred on
    each step (those that exist: fewer at a recording's edges, none invented), the mean
    of every value, and the standard deviation of the first ``n_absolute`` values (the
    step means of the absolute features)."""
    n_steps = moments.shape[1]
    values = moments.astype(np.float64)
    absolute = values[..., :n_absolute]
    cumulative = np.cumsum(np.concatenate([values, absolute * absolute], axis=-1), axis=1)
    cumulative = np.concatenate([np.zeros_like(cumulative[:, :1]), cumulative], axis=1)
    index = np.arange(n_steps)
    lo = np.maximum(index - width // 2, 0)
    hi = np.minimum(index + width // 2 + 1, n_steps)
    sums = (cumulative[:, hi] - cumulative[:, lo]) / (hi - lo)[None, :, None]
    mean = sums[..., :values.shape[-1]]
    spread = np.sqrt(np.maximum(sums[..., values.shape[-1]:] - mean[..., :n_absolute] ** 2, 0.0))
    return np.concatenate([mean, spread], axis=-1)


def step_summaries(features: np.ndarray, config: Any) -> np.ndarray:
    """(C, T, F) -> (C, S, 2F): mean and max of each feature over each 1 s step."""
    n_steps = features.shape[1] // config.frames_per_step
    blocks = features[:, :n_steps * config.frames_per_step].reshape(
        features.shape[0], n_steps, config.frames_per_step, features.shape[2])
    return np.concatenate([blocks.mean(axis=2), blocks.max(axis=2)], axis=-1).astype(np.float32)


def window_index(n_steps: int, config: Any, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """(N, W) step indices of the windows of steps lo..hi, edges replicated: centred on
    the step, or ending at it for a causal model (``config.causal``)."""
    hi = n_steps if hi is None else hi
    if config.causal:
        offsets = np.arange(-(config.window_steps - 1), 1)
    else:
        offsets = np.arange(-config.half_window, config.half_window + 1)
    return np.clip(np.arange(lo, hi)[:, None] + offsets[None, :], 0, n_steps - 1)


def p1_window_batches(steps: np.ndarray, channels: np.ndarray | Sequence[int], config: Any,
                      batch_windows: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (channel ids, step ids, windows (N, W, V)) for P1, ``batch_windows`` at a time.

    Windows of all listed ``channels`` at every step, channel-major, built lazily so that
    memory stays at one batch.
    """
    n_steps = steps.shape[1]
    if n_steps == 0:
        return
    per_channel = window_index(n_steps, config)
    channel_ids = np.repeat(np.asarray(channels, dtype=np.int64), n_steps)
    step_ids = np.tile(np.arange(n_steps), len(channels))
    for lo in range(0, len(channel_ids), batch_windows):
        c, s = channel_ids[lo:lo + batch_windows], step_ids[lo:lo + batch_windows]
        yield c, s, steps[c[:, None], per_channel[s]]


def hypothesis_features(p1: np.ndarray, config: Any) -> np.ndarray:
    """P1 hypothesis features per channel and step -> (C, S, 4).

    [p(t), in-event flag (p > threshold), time since the event's onset in s (capped at
    ``hyp_onset_cap_s``, divided by it; 0 outside events), mean p over the current
    event within the last ``hyp_mean_window_s`` (0 outside events)]. Every value depends
    on at most the last ``max(cap, window)`` seconds, so chunked inference is exact.
    """
    p1 = np.asarray(p1, dtype=np.float32)
    n_channels, n_steps = p1.shape
    in_event = p1 > config.hyp_threshold
    cap = int(round(config.hyp_onset_cap_s / config.step_s))
    span = int(round(config.hyp_mean_window_s / config.step_s))
    # Length of the current run of in-event steps ending at t (0 outside), capped.
    run = np.zeros((n_channels, n_steps), dtype=np.int64)
    limit = max(cap, span) + 1
    current = np.zeros(n_channels, dtype=np.int64)
    for t in range(n_steps):  # one pass over steps, vectorised over channels
        current = np.where(in_event[:, t], np.minimum(current + 1, limit), 0)
        run[:, t] = current
    since_onset = np.minimum(np.maximum(run - 1, 0) * config.step_s, config.hyp_onset_cap_s)
    since_onset = since_onset / config.hyp_onset_cap_s
    csum = np.concatenate([np.zeros((n_channels, 1)), np.cumsum(p1, axis=1, dtype=np.float64)],
                          axis=1)
    length = np.minimum(run, span)
    t_idx = np.arange(n_steps)[None, :]
    total = csum[np.arange(n_channels)[:, None], t_idx + 1] - csum[
        np.arange(n_channels)[:, None], t_idx + 1 - length]
    mean_p = np.where(length > 0, total / np.maximum(length, 1), 0.0)
    return np.stack([p1, in_event.astype(np.float32), since_onset.astype(np.float32),
                     mean_p.astype(np.float32)], axis=-1)


def p2_maps(summaries: np.ndarray, hyp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, C, 2F + 4) maps for P2: step summaries and hypothesis features, masked."""
    maps = np.concatenate([summaries, hyp], axis=-1) * np.asarray(mask, np.float32)[:, None, None]
    return np.ascontiguousarray(maps.transpose(1, 0, 2))


def p2_window_batches(maps: np.ndarray, config: Any, batch_windows: int, lo: int = 0,
                      hi: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (step ids, windows (N, W, C, M)) for P2 over steps lo..hi."""
    n_steps = maps.shape[0]
    hi = n_steps if hi is None else hi
    if n_steps == 0 or hi <= lo:
        return
    index = window_index(n_steps, config, lo, hi)
    for start in range(0, len(index), batch_windows):
        part = index[start:start + batch_windows]
        yield np.arange(lo + start, lo + start + len(part)), maps[part]


def step_labels(intervals: Iterable[tuple[float, float]], n_steps: int, step_s: float,
                min_fraction: float = 0.5) -> np.ndarray:
    """1 where at least ``min_fraction`` of a step overlaps one of (start_s, stop_s)."""
    covered = np.zeros(n_steps, dtype=np.float64)
    starts = np.arange(n_steps) * step_s
    for start, stop in intervals:
        covered += np.clip(np.minimum(starts + step_s, stop) - np.maximum(starts, start), 0, None)
    return (covered >= min_fraction * step_s).astype(np.int64)


__all__ = ["ChunkPosteriors", "ModelInput", "apply_reference", "check_scorable", "chunk_reference",
           "feature_moments", "hypothesis_features", "iter_model_inputs", "normalise",
           "p1_inputs", "p1_window_batches", "p2_maps", "p2_window_batches", "standardise",
           "step_context", "step_labels", "step_summaries", "to_model_input", "to_steps",
           "window_index"]
