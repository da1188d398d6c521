"""From an open EDF to normalised model inputs, whole or in chunks with context.

A recording up to ``whole_max_s`` long becomes one :class:`ModelInput`. A longer one is read
twice, in chunks of ``chunk_s``, so memory stays bounded: pass 1 finds the max-abs normalisation
scale over the whole recording, pass 2 emits chunks whose features carry
``ModelConfig.context_steps`` of context, enough that every output equals that of
processing the recording whole. Chunk edges fall on whole seconds, where the polyphase
resampler and the 0.1 s frames line up exactly.

Example::

    with open_recording(path, spec) as src:
        for chunk in iter_model_inputs(src, spec, config, chunk_s=3600):
            ...
"""
import math

import numpy as np

from neurokube.models.detector import ModelInput
from neurokube.models.inputs import max_abs_scale, zero_fill
from neurokube.transforms.features import lfcc
from neurokube.transforms.montage import checked_tcp

# Signal context around a chunk for the resampler and the frame/delta windows, s.
SIGNAL_CONTEXT_S = 2.0


def tcp_features(src, spec, start_s, stop_s, context_s=SIGNAL_CONTEXT_S):
    """LFCC frames of ``[start_s, stop_s)`` (whole seconds) computed with signal context.

    Returns
    -------
    features : np.ndarray
        float32 (channels present, frames, 26); frame 0 starts at ``start_s``.
    tcp : TcpSignals
        The montage of the read span (for mask, channels and montage kind).
    """
    lo = max(0.0, start_s - context_s)
    hi = min(src.duration_s, stop_s + context_s)
    tcp = checked_tcp(src.read(lo, hi), src.labels, src.fs_hz, spec, src.path, src.all_labels,
                      from_start=lo == 0.0)
    feats = lfcc(tcp.data_uv, spec)
    frames_per_s = int(round(1.0 / spec.frame_s))
    first = int(round((start_s - lo) * frames_per_s))
    last = first + int(round((stop_s - start_s) * frames_per_s))
    return feats[:, first:last], tcp


def _whole_seconds(x):
    return float(math.floor(x + 1e-9))


def iter_model_inputs(src, spec, config, chunk_s, whole_max_s=None):
    """Yield the :class:`ModelInput` chunks of an open recording.

    Recordings up to ``whole_max_s`` (default ``chunk_s``) seconds give one input; longer
    ones are cut into ``chunk_s`` chunks (two passes over the file).
    """
    duration = src.duration_s
    if duration <= (chunk_s if whole_max_s is None else whole_max_s):
        feats, tcp = tcp_features(src, spec, 0.0, duration, 0.0)
        full = zero_fill(feats, tcp.mask, config)
        full /= max_abs_scale(full, config)[:, None, :]
        n_steps = full.shape[1] // config.frames_per_step
        yield ModelInput(path=src.path, features=full, mask=tcp.mask, offset_step=0,
                         lo_step=0, hi_step=n_steps, chunk=0, n_chunks=1,
                         duration_s=duration, montage=tcp.montage)
        return
    chunk_s = _whole_seconds(chunk_s)
    bounds = np.arange(0.0, duration, chunk_s)
    scale, n_frames, mask, montage = None, 0, None, None
    for start in bounds:  # pass 1: the normalisation scale and the frame count
        feats, tcp = tcp_features(src, spec, start, min(duration, start + chunk_s))
        full = zero_fill(feats, tcp.mask, config)
        part = max_abs_scale(full, config)
        scale = part if scale is None else np.maximum(scale, part)
        n_frames += full.shape[1]
        mask, montage = tcp.mask, tcp.montage
    n_steps = n_frames // config.frames_per_step
    step_bounds = list(range(0, n_steps, int(round(chunk_s / config.step_s))))
    past, future = config.context_steps
    for k, lo in enumerate(step_bounds):  # pass 2: chunks with context
        hi = min(n_steps, lo + int(round(chunk_s / config.step_s)))
        first, last = max(0, lo - past), min(n_steps, hi + future)
        feats, tcp = tcp_features(src, spec, first * config.step_s, last * config.step_s)
        full = zero_fill(feats, tcp.mask, config)
        full /= scale[:, None, :]
        yield ModelInput(path=src.path, features=full, mask=mask, offset_step=first,
                         lo_step=lo, hi_step=hi, chunk=k, n_chunks=len(step_bounds),
                         duration_s=duration, montage=montage)
