"""Causal band-pass and mains notch filtering of TCP channels before the front end.

Every recording is filtered to the band of ``spec.bandpass_hz`` (a band all recording
systems and the training data share) and notched at the mains frequencies of
``spec.notch_hz`` below Nyquist, so that DC offsets, drifts, recording bandwidth and
mains hum do not reach the features. The filter is causal (second-order sections, the
same one a streaming detector can run) and starts in the steady state of the first
sample, so a DC offset causes no start-up transient. A chunk is filtered from
``spec.filter_settle_s`` before its start, after which its state equals that of a run
over the whole recording to float32 precision.

Example::

    y = bandpass(tcp.data_uv, spec)     # float32, same shape
"""
import functools

import numpy as np

from neurokube.core.feature_spec import FeatureSpec


@functools.lru_cache(maxsize=8)
def filter_sections(spec: FeatureSpec) -> np.ndarray:
    """(n_sections, 6) second-order sections of the band-pass and the notches.

    Empty when the spec asks for no filtering.
    """
    from scipy import signal as sp_signal  # 0.5 s to import: only where used
    fs = float(spec.target_fs_hz)
    parts = []
    if spec.bandpass_hz:
        parts.append(sp_signal.butter(spec.bandpass_order, list(spec.bandpass_hz),
                                      btype="bandpass", fs=fs, output="sos"))
    for f0 in spec.notch_hz:
        if 0 < f0 < fs / 2:
            b, a = sp_signal.iirnotch(f0, spec.notch_q, fs=fs)
            parts.append(sp_signal.tf2sos(b, a))
    sections = np.vstack(parts) if parts else np.zeros((0, 6))
    sections.setflags(write=False)
    return sections


@functools.lru_cache(maxsize=8)
def _steady_state(spec: FeatureSpec) -> np.ndarray:
    """Filter state after a constant input of 1 (``sosfilt_zi``)."""
    from scipy import signal as sp_signal
    zi = sp_signal.sosfilt_zi(filter_sections(spec))
    zi.setflags(write=False)
    return zi


def bandpass(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Filter (channels, samples) µV at ``spec.target_fs_hz``; returns float32.

    The filter starts in the steady state of each channel's first sample.
    """
    from scipy import signal as sp_signal
    x = np.asarray(x)
    sections = filter_sections(spec)
    if len(sections) == 0 or x.shape[-1] == 0:
        return np.asarray(x, dtype=np.float32)
    zi = _steady_state(spec)[:, None, :] * x[None, :, :1].astype(np.float64)
    y, _ = sp_signal.sosfilt(np.array(sections), x, axis=-1, zi=zi)
    return y.astype(np.float32)
