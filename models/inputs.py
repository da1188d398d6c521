"""Model inputs from LFCC features: normalisation, 1 s steps, windows, hypothesis features.

Pure NumPy (no Beam, no Keras). Shapes use C = channels (22), S = 1 s steps,
W = window steps (7), V = values per channel-step (260).

Example::

    full = zero_fill(features, mask, config)             # (22, T, 26)
    scale = max_abs_scale(full, config)                  # (22, 26)
    steps = to_steps(full / scale[:, None, :], config)   # (22, S, 260)
"""
import numpy as np

from neurokube.models.config import ModelConfig


def zero_fill(features, mask, config):
    """Place the present channels' features into a (22, T, 26) array; absent ones are 0."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (config.n_channels,) or features.shape[0] != int(mask.sum()):
        raise ValueError(f"features of {features.shape[0]} channels do not fit mask {mask}")
    full = np.zeros((config.n_channels,) + features.shape[1:], dtype=np.float32)
    full[mask] = features
    return full


def max_abs_scale(features, config):
    """Per channel and feature: max |x| over all frames, plus ``norm_eps`` -> (C, F)."""
    if features.shape[1] == 0:
        return np.full((features.shape[0], features.shape[2]), config.norm_eps, np.float32)
    return (np.abs(features).max(axis=1) + config.norm_eps).astype(np.float32)


def to_steps(features, config):
    """(C, T, F) frames -> (C, S, frames_per_step * F) steps; a partial last second is dropped."""
    n_steps = features.shape[1] // config.frames_per_step
    trimmed = features[:, :n_steps * config.frames_per_step]
    return np.ascontiguousarray(trimmed.reshape(features.shape[0], n_steps, config.step_values))


def step_summaries(features, config):
    """(C, T, F) -> (C, S, 2F): mean and max of each feature over each 1 s step."""
    n_steps = features.shape[1] // config.frames_per_step
    blocks = features[:, :n_steps * config.frames_per_step].reshape(
        features.shape[0], n_steps, config.frames_per_step, features.shape[2])
    return np.concatenate([blocks.mean(axis=2), blocks.max(axis=2)], axis=-1).astype(np.float32)


def window_index(n_steps, config, lo=0, hi=None):
    """(N, W) step indices of the centred windows of steps lo..hi, edges replicated."""
    hi = n_steps if hi is None else hi
    offsets = np.arange(-config.half_window, config.half_window + 1)
    return np.clip(np.arange(lo, hi)[:, None] + offsets[None, :], 0, n_steps - 1)


def p1_window_batches(steps, channels, config, batch_windows):
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


def hypothesis_features(p1, config):
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


def p2_maps(summaries, hyp, mask):
    """(S, C, 2F + 4) maps for P2: step summaries and hypothesis features, masked."""
    maps = np.concatenate([summaries, hyp], axis=-1) * np.asarray(mask, np.float32)[:, None, None]
    return np.ascontiguousarray(maps.transpose(1, 0, 2))


def p2_window_batches(maps, config, batch_windows, lo=0, hi=None):
    """Yield (step ids, windows (N, W, C, M)) for P2 over steps lo..hi."""
    n_steps = maps.shape[0]
    hi = n_steps if hi is None else hi
    if n_steps == 0 or hi <= lo:
        return
    index = window_index(n_steps, config, lo, hi)
    for start in range(0, len(index), batch_windows):
        part = index[start:start + batch_windows]
        yield np.arange(lo + start, lo + start + len(part)), maps[part]


def step_labels(intervals, n_steps, step_s, min_fraction=0.5):
    """1 where at least ``min_fraction`` of a step overlaps one of (start_s, stop_s)."""
    covered = np.zeros(n_steps, dtype=np.float64)
    starts = np.arange(n_steps) * step_s
    for start, stop in intervals:
        covered += np.clip(np.minimum(starts + step_s, stop) - np.maximum(starts, start), 0, None)
    return (covered >= min_fraction * step_s).astype(np.int64)


__all__ = ["ModelConfig", "zero_fill", "max_abs_scale", "to_steps", "step_summaries",
           "window_index", "p1_window_batches", "hypothesis_features", "p2_maps",
           "p2_window_batches", "step_labels"]
