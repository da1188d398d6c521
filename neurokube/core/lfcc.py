"""The LFCC front end: 26 features per TCP channel every 0.1 s.

Implements the "Exact definition" block of ``../shared/docs/algorithm.md`` §2, vectorised
over channels and frames (no per-frame Python loop). The windowed DFT (a matrix product,
the front end's largest cost) runs in float32; powers, logs, cepstra and energies in
float64 (the float32 product moves a feature by at most ~1e-5 of its spread). Returned as
float32, un-normalised.

Example::

    feats = lfcc(tcp.data_uv, FeatureSpec())   # (channels, frames, 26) float32
"""
import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neurokube.core.feature_spec import FeatureSpec

# Frames per block (about 2 MB of spectrum at n_fft=256).
_BLOCK_FRAMES = 1024


@functools.lru_cache(maxsize=8)
def _filterbank(n_fft, fs_hz, n_filters, lo_hz, hi_hz):
    """(n_fft//2+1, n_filters) weights of linearly spaced triangular filters."""
    points = np.linspace(lo_hz, hi_hz, n_filters + 2)
    freqs = fs_hz * np.arange(n_fft // 2 + 1) / n_fft
    lo, mid, hi = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (freqs[None, :] - lo) / (mid - lo)
    falling = (hi - freqs[None, :]) / (hi - mid)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    weights.setflags(write=False)
    return np.ascontiguousarray(weights.T)


def _bins_used(n_fft, fs_hz, hi_hz):
    """Number of rfft bins up to the filterbank's top edge (higher bins have weight 0)."""
    return min(n_fft // 2 + 1, int(np.floor(hi_hz * n_fft / fs_hz)) + 1)


@functools.lru_cache(maxsize=8)
def _windowed_dft(n_fft, n_window, n_bins):
    """(n_window, 2 * n_bins) float32 real matrix: the first ``n_bins`` bins of the Hamming-windowed,
    zero-padded rfft.

    ``frames @ M`` gives [Re | Im] of ``rfft(hamming * frames, n=n_fft)[:n_bins]``; as a
    matrix product it is several times faster than the FFT of 50 non-zero samples padded
    to 256, and only the bins the filterbank weighs are computed.
    """
    k = np.arange(n_bins)[None, :]
    n = np.arange(n_window)[:, None]
    w = _window(n_window)[:, None]
    phase = 2.0 * np.pi * n * k / n_fft
    matrix = np.concatenate([w * np.cos(phase), -w * np.sin(phase)], axis=1).astype(np.float32)
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_filters, n_cepstra):
    """(n_filters, n_cepstra - 1) columns 1.. of the orthonormal DCT-II (scipy's norm='ortho'):
    ``log_energies @ M`` gives c1..c(n_cepstra-1)."""
    k = np.arange(1, n_cepstra)[None, :]
    n = np.arange(n_filters)[:, None]
    matrix = np.sqrt(2.0 / n_filters) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_filters))
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=8)
def _window(n):
    w = np.hamming(n)
    w.setflags(write=False)
    return w


def energy_of_rms(rms_uv: float, spec: FeatureSpec) -> float:
    """Frame energy E_f (ln µV²) of a signal of ``rms_uv`` RMS (white or a sine)."""
    return float(np.log(spec.energy_floor + rms_uv ** 2 * float(np.sum(
        _window(spec.window_samples) ** 2))))


def frame_count(n_samples: int, spec: FeatureSpec) -> int:
    """Number of 0.1 s frames of a channel of ``n_samples`` at ``spec.target_fs_hz``."""
    return n_samples // spec.hop_samples


def regression_deltas(stream: np.ndarray, half_width: int, out: np.ndarray) -> np.ndarray:
    """HTK regression deltas along axis -2 with the first/last frame replicated.

    ``stream`` has shape (..., frames, n); the result, of the same shape, is written to
    ``out``: d_t = sum_{n=1..N} n (s_{t+n} - s_{t-n}) / (2 sum n^2).
    """
    n_frames = stream.shape[-2]
    pad = [(0, 0)] * stream.ndim
    pad[-2] = (half_width, half_width)
    padded = np.pad(stream, pad, mode="edge")
    out[...] = 0.0
    term = np.empty(stream.shape, dtype=padded.dtype)
    for n in range(1, half_width + 1):  # a loop over the half-width, not over frames
        np.subtract(padded[..., half_width + n:half_width + n + n_frames, :],
                    padded[..., half_width - n:half_width - n + n_frames, :], out=term)
        term *= n
        out += term
    out /= 2.0 * sum(n * n for n in range(1, half_width + 1))
    return out


def frame_energy_and_cepstra(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """E_f and c1..c(n_cepstra-1) of every frame.

    Parameters
    ----------
    x : np.ndarray
        (channels, samples) µV at ``spec.target_fs_hz``.

    Returns
    -------
    np.ndarray
        float64, (channels, frames, n_cepstra): column 0 is E_f, then c1...
    """
    hop, win = spec.hop_samples, spec.window_samples
    n_channels, n_samples = x.shape
    n_frames = frame_count(n_samples, spec)
    start = spec.window_offset_samples
    # Zero-pad so every window x[hop*t - start : hop*t - start + win] exists; one channel
    # at a time into one reused buffer (touching fresh memory for all channels at once
    # costs more than the arithmetic).
    right = max(0, hop * (n_frames - 1) - start + win - n_samples)
    padded = np.zeros(start + n_samples + right, dtype=np.float64)
    windows = sliding_window_view(padded, win)[::hop][:n_frames]
    n_bins = _bins_used(spec.n_fft, float(spec.target_fs_hz), float(spec.filter_hi_hz))
    dft = _windowed_dft(spec.n_fft, win, n_bins)
    energy_weights = _window(win) ** 2
    bank = _filterbank(spec.n_fft, float(spec.target_fs_hz), spec.n_filters,
                       float(spec.filter_lo_hz), float(spec.filter_hi_hz))[:n_bins]
    dct = _dct_matrix(spec.n_filters, spec.n_cepstra)
    cepstra = np.empty((n_channels, n_frames, spec.n_cepstra), dtype=np.float64)
    for c in range(n_channels):
        padded[start:start + n_samples] = x[c]
        # Blocks of frames keep the working set in cache.
        for lo in range(0, n_frames, _BLOCK_FRAMES):
            hi = min(n_frames, lo + _BLOCK_FRAMES)
            frames = np.ascontiguousarray(windows[lo:hi])
            spectrum = (frames.astype(np.float32) @ dft).astype(np.float64)
            spectrum *= spectrum
            energies = np.add(spectrum[:, :n_bins], spectrum[:, n_bins:]) @ bank
            np.log(np.maximum(energies, spec.log_floor, out=energies), out=energies)
            cepstra[c, lo:hi, 1:] = energies @ dct
            energy = (frames * frames) @ energy_weights
            energy += spec.energy_floor
            cepstra[c, lo:hi, 0] = np.log(energy)
    return cepstra


def differential_energy(energy: np.ndarray, half_frames: int) -> np.ndarray:
    """E_d: max - min of E_f over frames t-k..t+k, truncated at the edges.

    Replicating the edge frames gives exactly the truncated window's max and min.
    """
    padded = np.pad(energy, [(0, 0), (half_frames, half_frames)], mode="edge")
    windows = sliding_window_view(padded, 2 * half_frames + 1, axis=-1)
    return windows.max(axis=-1) - windows.min(axis=-1)


def lfcc(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """The 26 LFCC features per channel and 0.1 s frame.

    Parameters
    ----------
    x : np.ndarray
        (channels, samples), µV at ``spec.target_fs_hz``.
    spec : FeatureSpec

    Returns
    -------
    np.ndarray
        float32, (channels, frames, spec.n_features), columns
        ``E_f | c1..c7 | E_d | Δ of those 9 | ΔΔ of the first 8``. ``frames`` is
        ``samples // hop``; zero frames gives an empty array.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (channels, samples), got shape {x.shape}")
    n_frames = frame_count(x.shape[1], spec)
    if n_frames == 0:
        return np.zeros((x.shape[0], 0, spec.n_features), dtype=np.float32)
    n_abs, n_cep = spec.n_cepstra + 1, spec.n_cepstra
    out = np.empty((x.shape[0], n_frames, spec.n_features), dtype=np.float32)
    base = frame_energy_and_cepstra(x, spec)
    out[..., :n_cep] = base
    out[..., n_cep] = differential_energy(base[..., 0], spec.ediff_half_frames)
    regression_deltas(out[..., :n_abs], spec.delta_half_frames, out=out[..., n_abs:2 * n_abs])
    regression_deltas(out[..., n_abs:n_abs + n_cep], spec.delta_delta_half_frames,
                      out=out[..., 2 * n_abs:])
    return out
