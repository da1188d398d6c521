"""The LFCC front end against an independent, loop-based reading of the exact definition."""
import numpy as np
import pytest
from scipy.fft import dct

from neurokube.core.feature_spec import FEATURE_NAMES, FeatureSpec
from neurokube.core.lfcc import lfcc


# The reference front end (filterbank over the 0.5-40 Hz pass band) and algorithm.md's
# 0-125 Hz one: the same definition with another CHOICE of filter range.
SPECS = [FeatureSpec(), FeatureSpec(filter_hi_hz=125.0)]


def reference_lfcc(x, lo_hz=0.0, hi_hz=40.0):
    """algorithm.md §2 "Exact definition", written frame by frame with plain loops."""
    n = len(x)
    n_frames = n // 25
    w = np.hamming(50)
    points = np.linspace(lo_hz, hi_hz, 26)
    freqs = [250.0 * k / 256 for k in range(129)]
    H = np.zeros((24, 129))
    for i in range(24):
        for k, f in enumerate(freqs):
            if points[i] <= f <= points[i + 1]:
                H[i, k] = (f - points[i]) / (points[i + 1] - points[i])
            elif points[i + 1] < f <= points[i + 2]:
                H[i, k] = (points[i + 2] - f) / (points[i + 2] - points[i + 1])
    e_f = np.zeros(n_frames)
    cep = np.zeros((n_frames, 7))
    for t in range(n_frames):
        seg = np.array([x[j] if 0 <= j < n else 0.0 for j in range(25 * t - 12, 25 * t + 38)])
        xw = w * seg
        e_f[t] = np.log(1e-10 + np.sum(xw ** 2))
        power = np.abs(np.fft.rfft(xw, n=256)) ** 2
        m = H @ power
        cep[t] = dct(np.log(np.maximum(m, 1e-10)), type=2, norm="ortho")[1:8]
    e_d = np.array([e_f[max(0, t - 4):min(n_frames - 1, t + 4) + 1].max()
                    - e_f[max(0, t - 4):min(n_frames - 1, t + 4) + 1].min()
                    for t in range(n_frames)])
    absolute = np.column_stack([e_f, cep, e_d])

    def deltas(s, big_n):
        out = np.zeros_like(s)
        denom = 2 * sum(k * k for k in range(1, big_n + 1))
        for t in range(len(s)):
            for k in range(1, big_n + 1):
                out[t] += k * (s[min(len(s) - 1, t + k)] - s[max(0, t - k)])
        return out / denom

    d = deltas(absolute, 4)
    dd = deltas(d[:, :8], 1)
    return np.column_stack([absolute, d, dd])


def relative_error_per_feature(ours, ref):
    scale = np.maximum(np.abs(ref).max(axis=0), 1e-12)
    return (np.abs(ours.astype(np.float64) - ref).max(axis=0)) / scale


@pytest.mark.parametrize("spec", SPECS, ids=["0-40Hz", "0-125Hz"])
@pytest.mark.parametrize("n_samples", [25, 49, 250 * 7 + 13, 250 * 30])
def test_matches_independent_implementation(n_samples, spec):
    rng = np.random.default_rng(n_samples)
    t = np.arange(n_samples) / 250.0
    x = (50 * np.sin(2 * np.pi * 7.5 * t) + 20 * np.sin(2 * np.pi * 31 * t)
         + rng.normal(0, 15, n_samples))
    ours = lfcc(x[None, :], spec)[0]
    ref = reference_lfcc(x, spec.filter_lo_hz, spec.filter_hi_hz)
    assert ours.shape == ref.shape == (n_samples // 25, 26)
    assert ours.dtype == np.float32
    assert relative_error_per_feature(ours, ref).max() < 1e-4


@pytest.mark.parametrize("spec", SPECS, ids=["0-40Hz", "0-125Hz"])
def test_matches_on_real_bonn_segment(spec):
    from tests.conftest import BONN, require_shared
    from scipy.signal import resample_poly
    path = require_shared(BONN) / "S" / "S001.txt"
    x = resample_poly(np.loadtxt(path), 25000, 17361)  # 173.61 Hz -> 250 Hz
    ours = lfcc(x[None, :], spec)[0]
    ref = reference_lfcc(x, spec.filter_lo_hz, spec.filter_hi_hz)
    assert relative_error_per_feature(ours, ref).max() < 1e-4


def test_channels_are_independent_and_shapes():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 30, (3, 2500))
    both = lfcc(x, FeatureSpec())
    assert both.shape == (3, 100, 26)
    np.testing.assert_array_equal(both[1], lfcc(x[1:2], FeatureSpec())[0])
    assert len(FEATURE_NAMES) == 26


def test_shorter_than_one_frame_gives_no_frames():
    assert lfcc(np.ones((2, 24)), FeatureSpec()).shape == (2, 0, 26)


def test_silence_hits_the_floors():
    feats = lfcc(np.zeros((1, 500)), FeatureSpec())[0]
    np.testing.assert_allclose(feats[:, 0], np.log(1e-10), rtol=1e-6)
    np.testing.assert_allclose(feats[:, 1:], 0.0, atol=1e-5)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="channels, samples"):
        lfcc(np.zeros(100), FeatureSpec())
