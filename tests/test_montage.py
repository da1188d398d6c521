"""Labels, montage kinds, resampling and the TCP montage (algorithm.md §1)."""
import numpy as np
import pytest

from neurokube.transforms.dead_letters import RecordingError
from neurokube.transforms.feature_spec import TCP_CHANNELS, TCP_MONTAGE, FeatureSpec
from neurokube.transforms.montage import (
    folder_montage_kind, is_montage_electrode, montage_kind, normalise_label, resample,
    resample_ratio, to_tcp)

SPEC = FeatureSpec()
ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ", "A1", "A2")


@pytest.mark.parametrize("raw, expected", [
    ("EEG FP1-REF", "FP1"), ("EEG FP1-LE", "FP1"), ("Fp1", "FP1"), ("EEG Fp1-AVG", "FP1"),
    ("EEG T7-REF", "T3"), ("T8", "T4"), ("P7", "T5"), ("EEG P8-LE", "T6"), ("EEG CZ-REF", "CZ"),
    (" EEG  C3 -REF", "C3"), ("EEG A1-REF", "A1"),
])
def test_label_normalisation(raw, expected):
    assert normalise_label(raw, SPEC) == expected
    assert is_montage_electrode(normalise_label(raw, SPEC), SPEC)


@pytest.mark.parametrize("raw", ["EEG EKG1-REF", "EKG", "PHOTIC-REF", "PHOTIC PH", "IBI",
                                 "BURSTS", "SUPPR", "EEG 20-REF", "DC1-DC", "EEG ROC-REF",
                                 "EEG LOC-REF", "EEG PG1-LE", "EEG OZ-REF"])
def test_non_eeg_and_non_montage_channels_are_ignored(raw):
    assert not is_montage_electrode(normalise_label(raw, SPEC), SPEC)


def _labels(reference, ears=True):
    return [f"EEG {e}-{reference}" for e in ELECTRODES if ears or e not in ("A1", "A2")]


@pytest.mark.parametrize("labels, path, expected", [
    (_labels("REF"), "x/01_tcp_ar/a.edf", "AR"),
    (_labels("LE"), "x/02_tcp_le/a.edf", "LE"),
    (_labels("REF", ears=False), "x/03_tcp_ar_a/a.edf", "AR_A"),
    (_labels("LE", ears=False), "x/04_tcp_le_a/a.edf", "LE_A"),
    (_labels("REF"), "plain/a.edf", "AR"),
    ([e.capitalize() for e in ELECTRODES], "x/02_tcp_le/a.edf", "LE"),   # bare labels: folder
    ([e.capitalize() for e in ELECTRODES[:-2]], "x/04_tcp_le_a/a.edf", "LE_A"),
    ([e.capitalize() for e in ELECTRODES], "plain/a.edf", "AR"),
])
def test_montage_kind(labels, path, expected):
    assert montage_kind(labels, path, SPEC) == expected


def test_folder_kind():
    assert folder_montage_kind("gs://b/edf/dev/x/s1/03_tcp_ar_a/x.edf") == "AR_A"
    assert folder_montage_kind("a/b/c.edf") is None


@pytest.mark.parametrize("fs, ratio", [(250, (1, 1)), (256, (125, 128)), (400, (5, 8)),
                                       (512, (125, 256)), (1000, (1, 4)), (100, (5, 2)),
                                       (200, (5, 4))])
def test_resample_ratios(fs, ratio):
    assert resample_ratio(fs, SPEC) == ratio


@pytest.mark.parametrize("fs", [0, 10, 32.5, float("nan"), 173.61])
def test_unsupported_rates(fs):
    with pytest.raises(RecordingError, match="unsupported sampling rate"):
        resample_ratio(fs, SPEC)


@pytest.mark.parametrize("fs", [256, 400, 512])
def test_resampling_keeps_a_sinusoid(fs):
    t = np.arange(fs * 10) / fs
    y = resample(np.sin(2 * np.pi * 10 * t)[None, :], fs, SPEC)[0]
    assert len(y) == 2500
    t250 = np.arange(2500) / 250
    np.testing.assert_allclose(y[250:-250], np.sin(2 * np.pi * 10 * t250)[250:-250], atol=2e-3)


def _signals(ears=True, n=500, seed=0):
    rng = np.random.default_rng(seed)
    return {e: rng.normal(0, 20, n) for e in ELECTRODES if ears or e not in ("A1", "A2")}


def test_tcp_is_minuend_minus_subtrahend_in_montage_order():
    sig = _signals()
    labels = list(sig)[::-1]  # channel order in files is not fixed
    tcp = to_tcp([sig[e] for e in labels], [f"EEG {e}-REF" for e in labels], [250] * 21, SPEC)
    assert tcp.channels == TCP_CHANNELS and tcp.montage == "AR" and tcp.mask.all()
    for row, (a, b) in enumerate(TCP_MONTAGE):
        np.testing.assert_allclose(tcp.data_uv[row], (sig[a] - sig[b]).astype(np.float32))
    # The inputs are untouched (no in-place subtraction).
    np.testing.assert_array_equal(sig["FP1"], _signals()["FP1"])


def test_tcp_without_ears_has_20_channels_and_a_mask():
    sig = _signals(ears=False)
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-LE" for e in sig], [250] * 19, SPEC)
    assert tcp.montage == "LE_A" and len(tcp.channels) == 20
    assert "A1-T3" not in tcp.channels and "T4-A2" not in tcp.channels
    assert tcp.mask.sum() == 20 and not tcp.mask[8] and not tcp.mask[13]


def test_missing_electrode_is_a_recording_error():
    sig = _signals()
    del sig["CZ"]
    with pytest.raises(RecordingError, match="missing: CZ"):
        to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [250] * 20, SPEC)


def test_mixed_rates_are_resampled_per_channel():
    sig = _signals(n=2560)
    rates = [256] * 21
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], rates, SPEC)
    assert tcp.fs_hz == 250 and tcp.data_uv.shape == (22, 2500)
