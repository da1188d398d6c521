"""Reading EDF/EDF+ files: physical units, label variants, rates, broken files."""
import numpy as np
import pytest

from neurokube.transforms.dead_letters import RecordingError
from neurokube.transforms.edf_io import read_recording
from neurokube.transforms.feature_spec import FeatureSpec
from neurokube.transforms.montage import to_tcp
from tests.conftest import TUH_HEADERS, require_shared

SPEC = FeatureSpec()


@pytest.mark.parametrize("fs", [250, 256, 400, 512])
@pytest.mark.parametrize("reference, ears, kind", [("REF", True, "AR"), ("LE", True, "LE"),
                                                   ("REF", False, "AR_A"), ("LE", False, "LE_A")])
def test_reads_physical_uv_of_montage_channels_only(make_edf, fs, reference, ears, kind):
    path, signals = make_edf(fs_hz=fs, duration_s=4.0, reference=reference, ears=ears)
    rec = read_recording(str(path), SPEC)
    assert len(rec.labels) == (19 if ears else 17)  # the TCP montage uses no FZ, PZ
    assert not any("EKG" in lab or "PHOTIC" in lab or lab == "IBI" for lab in rec.labels)
    assert set(rec.fs_hz) == {float(fs)}
    fp1 = rec.signals_uv[rec.labels.index(f"EEG FP1-{reference}")]
    # 16-bit quantisation of the physical range: well under 0.1 µV here.
    np.testing.assert_allclose(fp1, signals["FP1"], atol=0.05)
    tcp = to_tcp(rec.signals_uv, rec.labels, rec.fs_hz, SPEC, path=str(path))
    assert tcp.montage == kind and tcp.data_uv.shape == (22 if ears else 20, 1000)


def test_bare_new_style_labels(make_edf):
    path, _ = make_edf(label_style="bare", folder="x/01_tcp_ar")
    rec = read_recording(str(path), SPEC)
    assert "T7" in rec.labels and "P8" in rec.labels and len(rec.labels) == 19
    assert to_tcp(rec.signals_uv, rec.labels, rec.fs_hz, SPEC, str(path)).montage == "AR"


def _surgery(path, mutate):
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(mutate(data)))
    return path


@pytest.mark.parametrize("name, mutate, reason", [
    ("truncated", lambda d: d[: len(d) - 700], "not a readable EDF"),
    ("header_only", lambda d: d[:256], "not a readable EDF"),
    ("bad_version", lambda d: b"9" + d[1:], "not a readable EDF"),
    ("bad_signal_count", lambda d: d[:252] + b"xx  " + d[256:], "not a readable EDF"),
    ("bad_record_count", lambda d: d[:236] + b"-5      " + d[244:], "not a readable EDF"),
    ("not_edf", lambda d: b"<html>not an EDF</html>\n" * 40, "not a readable EDF"),
    ("empty", lambda d: b"", "not a readable EDF"),
])
def test_broken_files_raise_clear_recording_errors(make_edf, name, mutate, reason):
    path, _ = make_edf(name=f"{name}.edf")
    _surgery(path, mutate)
    with pytest.raises(RecordingError, match=reason):
        read_recording(str(path), SPEC)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_recording("/nonexistent/x.edf", SPEC)


def test_real_tuh_headers_read_and_montage():
    root = require_shared(TUH_HEADERS)
    paths = sorted(root.rglob("*.edf"))
    assert len(paths) == 217
    kinds = {}
    for path in paths:
        rec = read_recording(str(path), SPEC)
        tcp = to_tcp(rec.signals_uv, rec.labels, rec.fs_hz, SPEC, str(path))
        folder = path.parent.name
        kinds.setdefault(folder, set()).add(tcp.montage)
        assert len(tcp.channels) == (20 if folder.endswith("_a") else 22)
    assert kinds == {"01_tcp_ar": {"AR"}, "02_tcp_le": {"LE"}, "03_tcp_ar_a": {"AR_A"}}


def _pyedflib_signals(path, labels, first, n):
    import pyedflib
    with pyedflib.EdfReader(str(path)) as ref:
        names = ref.getSignalLabels()
        return [ref.readSignal(names.index(label), first, n) for label in labels]


@pytest.mark.parametrize("fs", [250, 256, 512])
def test_vectorised_sample_reader_equals_pyedflib(make_edf, fs):
    from neurokube.transforms.edf_io import open_recording
    path, _ = make_edf(fs_hz=fs, duration_s=7.0, seed=fs)
    for start_s, stop_s in [(0.0, None), (1.3, 4.9), (6.5, 7.0), (0.0, 0.004)]:
        with open_recording(str(path), SPEC) as src:
            assert src._records is not None
            ours, labels = src.read(start_s, stop_s), src.labels
        first = int(round(start_s * fs))
        n = (7 * fs if stop_s is None else int(round(stop_s * fs))) - first
        assert all(len(x) == n for x in ours)
        for x, expected in zip(ours, _pyedflib_signals(path, labels, first, n)):
            np.testing.assert_allclose(x, expected, rtol=0, atol=1e-9)


def test_real_tuh_files_read_the_same_as_pyedflib():
    from neurokube.transforms.edf_io import open_recording
    root = require_shared(TUH_HEADERS)
    for path in sorted(root.rglob("*.edf"))[::20]:
        with open_recording(str(path), SPEC) as src:
            ours, labels = src.read(), src.labels
        for x, expected in zip(ours, _pyedflib_signals(path, labels, 0, len(ours[0]))):
            np.testing.assert_allclose(x, expected, rtol=0, atol=1e-9)
