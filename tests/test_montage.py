"""Labels, derivation plans, montage kinds, resampling and the TCP montage (algorithm.md §1)."""
import numpy as np
import pyedflib
import pytest

from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import TCP_CHANNELS, TCP_MONTAGE, FeatureSpec
from neurokube.core.montage import (
    MONTAGE_ELECTRODES, REFERENCE, derivation_plan, flat_samples, folder_montage_kind,
    montage_kind, normalise_label, parse_label, resample, resample_ratio, to_tcp)
from tests.conftest import SHARED_DATA, require_shared

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
    assert parse_label(raw, SPEC) == (expected, REFERENCE)


@pytest.mark.parametrize("raw, expected", [
    ("Fp1.", "FP1"), ("T7..", "T3"), ("Cz..", "CZ"), ("P8..", "T6"), ("FP1", "FP1"),
    ("EEG Fp1", "FP1"), ("eeg fp1-ref", "FP1"), ("EEG T8-LE", "T4"),
    # Vendor spellings: Nihon Kohden's POL prefix, other separators, linked ears.
    ("POL Fp1", "FP1"), ("Fp1_Ref", "FP1"), ("EEG Fp1 Ref", "FP1"), ("Fp1-A1A2", "FP1"),
    ("EEG T7-A1+A2", "T3"),
])
def test_padded_and_cased_10_10_labels(raw, expected):
    assert parse_label(raw, SPEC) == (expected, REFERENCE)


@pytest.mark.parametrize("raw, expected", [
    ("FP1-F7", ("FP1", "F7")), ("T7-P7", ("T3", "T5")), ("FT10-T8", ("FT10", "T4")),
    ("EEG A2-A1", ("A2", "A1")), ("P7-T7", ("T5", "T3")),
])
def test_bipolar_labels(raw, expected):
    assert parse_label(raw, SPEC) == expected


@pytest.mark.parametrize("raw", ["EEG EKG1-REF", "EKG", "PHOTIC-REF", "PHOTIC PH", "IBI",
                                 "BURSTS", "SUPPR", "EEG 20-REF", "DC1-DC", "EEG ROC-REF",
                                 "EEG LOC-REF", "ECG ECG", "EDF Annotations", "-",
                                 "POL DC03", "POL E", "POL $A1"])
def test_non_eeg_channels_are_ignored(raw):
    assert parse_label(raw, SPEC) is None


@pytest.mark.parametrize("raw", ["EEG PG1-LE", "EEG OZ-REF", "Fc5.", "Iz.."])
def test_eeg_electrodes_outside_the_montage_are_not_montage_electrodes(raw):
    parsed = parse_label(raw, SPEC)
    assert parsed is None or parsed[0] not in MONTAGE_ELECTRODES


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
                                       (200, (5, 4)), (160, (25, 16)), (2000, (1, 8)),
                                       (2048, (125, 1024))])
def test_resample_ratios(fs, ratio):
    assert resample_ratio(fs, SPEC) == ratio


@pytest.mark.parametrize("fs", [0, 10, 32.5, float("nan"), 173.61, 200000])
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


def test_missing_electrode_masks_its_channels():
    sig = _signals()
    del sig["CZ"]
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [250] * 20, SPEC)
    assert tcp.mask.sum() == 20 and "C3-CZ" not in tcp.channels and "CZ-C4" not in tcp.channels


def test_too_few_channels_is_a_recording_error_listing_the_labels():
    labels = ["EEG FP1-REF", "EEG F7-REF", "EEG T3-REF", "EEG EKG1-REF"]
    with pytest.raises(RecordingError, match="only 2 of 22 TCP channels") as caught:
        derivation_plan(labels, SPEC)
    assert "EEG EKG1-REF" in str(caught.value) and caught.value.stage == "montage"
    assert derivation_plan(labels, SPEC.replace(min_tcp_channels=2)).mask.sum() == 2


def test_mixed_rates_are_resampled_per_channel():
    sig = _signals(n=2560)
    rates = [256] * 21
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], rates, SPEC)
    assert tcp.fs_hz == 250 and tcp.data_uv.shape == (22, 2500)


T3_CHANNELS = {"F7-T3", "T3-T5", "A1-T3", "T3-C3"}


def test_a_dead_electrode_zeroes_the_channels_built_from_it_in_the_seconds_it_is_dead():
    """T3 flat (a constant offset) in seconds 1-2 of 4: its four channels read zero there
    (not F7-REF, T5-REF, ...) and are untouched elsewhere; every other channel as built."""
    sig = _signals(n=1000)
    sig["T3"][250:750] = 35.0
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [250] * 21, SPEC)
    assert tcp.mask.all()
    for row, (a, b) in enumerate(TCP_MONTAGE):
        expected = (sig[a] - sig[b]).astype(np.float32)
        if f"{a}-{b}" in T3_CHANNELS:
            expected[250:750] = 0.0
        np.testing.assert_allclose(tcp.data_uv[row], expected, atol=1e-5)


def test_bundles_saved_before_dead_electrodes_were_zeroed_keep_their_montage():
    """A spec without the field (the shipped bundles') builds the channels as it did."""
    old = FeatureSpec.from_dict({k: v for k, v in SPEC.to_dict().items()
                                 if k != "dead_electrode_zeroes_channels"})
    assert not old.dead_electrode_zeroes_channels and SPEC.dead_electrode_zeroes_channels
    sig = _signals(n=1000)
    sig["T3"][:] = 0.0
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [250] * 21, old)
    np.testing.assert_allclose(tcp.data_uv[TCP_CHANNELS.index("F7-T3")], sig["F7"], rtol=1e-5)


def test_a_quiet_electrode_is_not_dead():
    """A live electrode of 1 µV RMS (ten times the flat threshold) is kept as it is."""
    sig = _signals(n=1000)
    sig["T3"] = sig["T3"] / 20.0
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [250] * 21, SPEC)
    row = TCP_CHANNELS.index("F7-T3")
    np.testing.assert_allclose(tcp.data_uv[row], sig["F7"] - sig["T3"], rtol=1e-5)


def test_flat_samples_blocks_and_partial_tail():
    x = np.random.default_rng(1).normal(0, 10, 250 * 3 + 40)
    assert flat_samples(x, 250, len(x), SPEC) is None
    x[500:] = 7.0  # the third block and the 40-sample tail after it
    flat = flat_samples(x, 250, len(x), SPEC)
    assert not flat[:500].any() and flat[500:].all()
    assert flat_samples(np.zeros(40), 250, 40, SPEC).all()  # under a block: judged alone


@pytest.mark.parametrize("fs", [256, 200, 512])
def test_an_electrode_that_dies_at_a_rail_is_found_at_resampled_rates(fs):
    """Live for 2 s, then stuck at 5 mV: the resampler's ripple on that level (far from
    the first second's offset) must not hide it, so flatness is judged at the file's rate."""
    sig = _signals(n=fs * 6)
    sig["T3"][2 * fs:] = 5000.0
    tcp = to_tcp(list(sig.values()), [f"EEG {e}-REF" for e in sig], [fs] * 21, SPEC)
    for name in T3_CHANNELS:
        row = tcp.data_uv[tcp.channels.index(name)]
        assert not row[3 * 250:].any() and row[:250].any()


def _electrode_field(n=1000, seed=3):
    rng = np.random.default_rng(seed)
    names = ELECTRODES + ("FT9", "FT10", "FZ", "PZ")
    return {e: rng.normal(0, 20, n) for e in dict.fromkeys(names)}


def test_linked_ears_with_an_ear_derivation_build_all_22_channels():
    """EEGMAT-style: 19 'EEG Fp1' channels referenced to (A1+A2)/2 plus 'EEG A2-A1'."""
    field = _electrode_field()
    ref = (field["A1"] + field["A2"]) / 2
    names = [e for e in ELECTRODES if e not in ("A1", "A2")]
    labels = [f"EEG {e.capitalize()}" for e in names] + ["EEG A2-A1", "ECG ECG"]
    signals = [field[e] - ref for e in names] + [field["A2"] - field["A1"], field["FZ"]]
    tcp = to_tcp(signals, labels, [500] * len(labels), SPEC.replace(target_fs_hz=500))
    assert tcp.mask.all()
    for row, (a, b) in enumerate(TCP_MONTAGE):
        np.testing.assert_allclose(tcp.data_uv[row], field[a] - field[b], atol=1e-3)


def test_a_flat_ear_derivation_is_not_a_dead_electrode():
    """Ears linked by a wire read A2-A1 = 0: the ear channels are built, not zeroed."""
    field = _electrode_field()
    field["A2"] = field["A1"]
    ref = field["A1"]
    names = [e for e in ELECTRODES if e not in ("A1", "A2")]
    labels = [f"EEG {e.capitalize()}" for e in names] + ["EEG A2-A1"]
    signals = [field[e] - ref for e in names] + [field["A2"] - field["A1"]]
    tcp = to_tcp(signals, labels, [250] * len(labels), SPEC)
    assert tcp.mask.all()
    for row, (a, b) in enumerate(TCP_MONTAGE):
        np.testing.assert_allclose(tcp.data_uv[row], field[a] - field[b], atol=1e-3)
    assert np.abs(tcp.data_uv[TCP_CHANNELS.index("A1-T3")]).max() > 1.0


def test_bipolar_recording_chains_derivations_and_masks_the_rest():
    """CHB-MIT's 23 derivations, T8-P8 listed twice: 18 TCP channels, chained exactly."""
    field = _electrode_field()
    labels = ["FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
              "FP2-F4", "F4-C4", "C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
              "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8", "T8-P8"]
    alias = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
    signals = []
    for label in labels:
        a, b = (alias.get(x, x) for x in label.split("-"))
        signals.append(field[a] - field[b])
    plan = derivation_plan(labels, SPEC)
    assert plan.montage == "BIPOLAR"
    missing = {name for name, w in zip(TCP_CHANNELS, plan.weights) if w is None}
    assert missing == {"A1-T3", "T4-A2", "C3-CZ", "CZ-C4"}
    tcp = to_tcp(signals, labels, [250] * len(labels), SPEC)
    for row, name in enumerate(tcp.channels):
        a, b = name.split("-")
        np.testing.assert_allclose(tcp.data_uv[row], field[a] - field[b], atol=1e-3)
    # T3-C3 is built by chaining through the posterior chain.
    assert len(plan.weights[TCP_CHANNELS.index("T3-C3")]) > 1


@pytest.mark.parametrize("name, built, kind", [
    ("real_background/eegmmidb_S001R01.edf", 20, "AR_A"),
    ("real_background/eegmat_Subject00_1.edf", 22, "LE"),
    ("chbmit_chb03/chbmit_chb03_01_ictal.edf", 18, "BIPOLAR"),
])
def test_real_label_sets(name, built, kind):
    path = require_shared(SHARED_DATA / name)
    with pyedflib.EdfReader(str(path)) as reader:
        labels = reader.getSignalLabels()
    plan = derivation_plan(labels, SPEC, str(path))
    assert plan.mask.sum() == built and plan.montage == kind


def test_every_tuh_header_builds_its_montage():
    root = require_shared(SHARED_DATA / "tuh_headers")
    for path in sorted(root.rglob("*.edf")):
        with pyedflib.EdfReader(str(path)) as reader:
            labels = reader.getSignalLabels()
        plan = derivation_plan(labels, SPEC, str(path))
        assert plan.mask.sum() == (20 if path.parent.name.endswith("_a") else 22)
