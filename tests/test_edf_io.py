"""Reading EDF/EDF+ files: physical units, label variants, rates, broken files."""
import numpy as np
import pytest

from neurokube.core.edf import open_recording
from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import FeatureSpec
from neurokube.core.montage import to_tcp
from tests.conftest import TUH_HEADERS, require_shared

SPEC = FeatureSpec()


def read_tcp(path):
    """(source labels read, signals, TcpSignals) of a whole file."""
    with open_recording(str(path), SPEC) as src:
        signals = src.read()
        tcp = to_tcp(signals, src.labels, src.fs_hz, SPEC, str(path), plan=src.plan)
        return src, signals, tcp


@pytest.mark.parametrize("fs", [250, 256, 400, 512])
@pytest.mark.parametrize("reference, ears, kind", [("REF", True, "AR"), ("LE", True, "LE"),
                                                   ("REF", False, "AR_A"), ("LE", False, "LE_A")])
def test_reads_physical_uv_of_montage_channels_only(make_edf, fs, reference, ears, kind):
    path, signals = make_edf(fs_hz=fs, duration_s=4.0, reference=reference, ears=ears)
    src, read, tcp = read_tcp(path)
    used = [src.labels[i] for i in read]
    assert len(used) == (19 if ears else 17)  # the TCP montage uses no FZ, PZ
    assert not any("EKG" in lab or "PHOTIC" in lab or lab == "IBI" for lab in used)
    assert {src.fs_hz[i] for i in read} == {float(fs)}
    fp1 = read[src.labels.index(f"EEG FP1-{reference}")]
    # 16-bit quantisation of the physical range: well under 0.1 µV here.
    np.testing.assert_allclose(fp1, signals["FP1"], atol=0.05)
    assert tcp.montage == kind and tcp.data_uv.shape == (22 if ears else 20, 1000)


def test_bare_new_style_labels(make_edf):
    path, _ = make_edf(label_style="bare", folder="x/01_tcp_ar")
    src, read, tcp = read_tcp(path)
    assert "T7" in src.labels and "P8" in src.labels and len(read) == 19
    assert tcp.montage == "AR"


def _surgery(path, mutate):
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(mutate(data)))
    return path


@pytest.mark.parametrize("name, mutate, reason", [
    ("truncated", lambda d: d[: len(d) - 700], r"truncated file: the header states 10 data "
                                               r"records .* \(9 whole records\)"),
    ("extra_bytes", lambda d: d + b"\0" * 100, "100 bytes beyond the last record"),
    ("header_only", lambda d: d[:256], "truncated header"),
    ("bad_version", lambda d: b"9" + d[1:], r"version field \(bytes 0-7\)"),
    ("bad_signal_count", lambda d: d[:252] + b"xx  " + d[256:],
     r"number of signals \(bytes 252-255\) is not a number: 'xx'"),
    ("bad_record_count", lambda d: d[:236] + b"-5      " + d[244:],
     r"number of data records \(bytes 236-243\) is -5"),
    ("zero_record_length", lambda d: d[:244] + b"0       " + d[252:],
     "duration of a data record"),
    ("not_edf", lambda d: b"<html>not an EDF</html>\n" * 40, "not an EDF file"),
    ("empty", lambda d: b"", "not an EDF file: 0 bytes"),
])
def test_broken_files_raise_clear_recording_errors(make_edf, name, mutate, reason):
    path, _ = make_edf(name=f"{name}.edf")
    _surgery(path, mutate)
    with pytest.raises(RecordingError, match=reason) as caught:
        read_tcp(path)
    assert caught.value.stage == "read"


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_tcp("/nonexistent/x.edf")


def test_real_tuh_headers_read_and_montage():
    root = require_shared(TUH_HEADERS)
    paths = sorted(root.rglob("*.edf"))
    assert len(paths) == 217
    kinds = {}
    for path in paths:
        _, _, tcp = read_tcp(path)
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
    path, _ = make_edf(fs_hz=fs, duration_s=7.0, seed=fs)
    for start_s, stop_s in [(0.0, None), (1.3, 4.9), (6.5, 7.0), (0.0, 0.004)]:
        with open_recording(str(path), SPEC) as src:
            assert src._records is not None
            ours = src.read(start_s, stop_s)
            labels = [src.labels[i] for i in ours]
        first = int(round(start_s * fs))
        n = (7 * fs if stop_s is None else int(round(stop_s * fs))) - first
        assert all(len(x) == n for x in ours.values())
        for x, expected in zip(ours.values(), _pyedflib_signals(path, labels, first, n)):
            np.testing.assert_allclose(x, expected, rtol=0, atol=1e-9)


def test_real_tuh_files_read_the_same_as_pyedflib():
    root = require_shared(TUH_HEADERS)
    for path in sorted(root.rglob("*.edf"))[::20]:
        with open_recording(str(path), SPEC) as src:
            ours = src.read()
            labels = [src.labels[i] for i in ours]
        n = len(next(iter(ours.values())))
        for x, expected in zip(ours.values(), _pyedflib_signals(path, labels, 0, n)):
            np.testing.assert_allclose(x, expected, rtol=0, atol=1e-9)


def _write_in_unit(path, signals_uv, dimension, unit_per_uv, fs_hz=256):
    """An EDF+ whose EEG signals are stored in ``dimension`` (``unit_per_uv`` units per µV),
    with a physical range of exactly ±150 µV so the header states it without rounding."""
    import pyedflib
    labels = [f"EEG {e}-REF" for e in signals_uv]
    writer = pyedflib.EdfWriter(str(path), len(labels) + 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        peak = 150 * unit_per_uv
        peak = int(peak) if peak == int(peak) else peak  # "-150000", not "-150000.0"
        headers = [{"label": label, "dimension": dimension, "sample_frequency": fs_hz,
                    "physical_max": peak, "physical_min": -peak, "digital_max": 32767,
                    "digital_min": -32768, "transducer": "", "prefilter": ""}
                   for label in labels]
        headers.append({"label": "EKG", "dimension": "%", "sample_frequency": fs_hz,
                        "physical_max": 100.0, "physical_min": -100.0, "digital_max": 32767,
                        "digital_min": -32768, "transducer": "", "prefilter": ""})
        writer.setSignalHeaders(headers)
        n = len(next(iter(signals_uv.values())))
        writer.writeSamples([np.clip(x, -140, 140) * unit_per_uv for x in signals_uv.values()]
                            + [np.zeros(n)])
    finally:
        writer.close()
    return path


@pytest.mark.parametrize("dimension, unit_per_uv", [("uV", 1.0), ("mV", 1e-3), ("V", 1e-6),
                                                    ("nV", 1e3), ("MV", 1e-3)])
def test_samples_are_scaled_to_uv_by_the_physical_dimension(make_edf, tmp_path, dimension,
                                                             unit_per_uv):
    _, signals = make_edf(fs_hz=256, duration_s=4.0)
    path = _write_in_unit(tmp_path / "unit.edf", signals, dimension, unit_per_uv)
    src, read, tcp = read_tcp(path)
    fp1 = read[src.labels.index("EEG FP1-REF")]
    # 16-bit steps of a ±150 µV range are 0.005 µV.
    np.testing.assert_allclose(fp1, np.clip(signals["FP1"], -140, 140), atol=0.01)
    assert tcp.data_uv.shape == (22, 1000)  # TCP signals are at 250 Hz


def test_micro_sign_and_blank_dimensions_are_uv(make_edf, tmp_path):
    _, signals = make_edf(fs_hz=256, duration_s=4.0)
    expected = np.clip(signals["C3"], -140, 140)
    # Latin-1 micro sign, UTF-8 micro sign, UTF-8 Greek mu, blank.
    for field in (b"\xb5V", b"\xc2\xb5V", b"\xce\xbcV", b""):
        path = _write_in_unit(tmp_path / "unit.edf", signals, "uV", 1.0)
        with open_recording(str(path), SPEC) as src:
            n = len(src.labels) + 1  # the annotation signal too
        data = bytearray(path.read_bytes())
        for k in range(n - 2):  # the EEG signals
            at = 256 + 96 * n + 8 * k
            data[at:at + 8] = field.ljust(8)
        path.write_bytes(bytes(data))
        src, read, _ = read_tcp(path)
        np.testing.assert_allclose(read[src.labels.index("EEG C3-REF")], expected, atol=0.01)


def test_a_montage_signal_in_no_voltage_unit_is_refused_naming_it(make_edf, tmp_path):
    _, signals = make_edf(fs_hz=256, duration_s=2.0)
    path = _write_in_unit(tmp_path / "unit.edf", signals, "mmHg", 1.0)
    with pytest.raises(RecordingError, match=r"signal 1 \('EEG FP1-REF'\): physical "
                                             r"dimension 'mmHg' is not a voltage") as caught:
        read_tcp(path)
    assert caught.value.stage == "read"


def _as_edf_plus_d(path, move_record=None, to_onset=None):
    """Mark an EDF+ file discontinuous; optionally rewrite the time keeping of one record."""
    from neurokube.core.edf_header import check_header
    header = check_header(str(path), SPEC)
    data = bytearray(path.read_bytes())
    assert data[192:197] == b"EDF+C"
    data[192:197] = b"EDF+D"
    if move_record is not None:
        annotation = header.labels.index("EDF Annotations")
        start = (header.header_bytes + header.record_bytes * move_record
                 + 2 * sum(header.samples_per_record[:annotation]))
        old = f"+{move_record}\x14\x14".encode()
        assert data[start:start + len(old)] == old
        new = f"+{to_onset}\x14\x14".encode()
        assert len(new) == len(old)
        data[start:start + len(new)] = new
    path.write_bytes(bytes(data))
    return path


def test_edf_plus_d_without_gaps_reads_as_continuous(make_edf):
    path, _ = make_edf(fs_hz=256, duration_s=8.0)
    _, before, _ = read_tcp(path)
    _as_edf_plus_d(path)
    _, after, tcp = read_tcp(path)
    for i in before:
        np.testing.assert_array_equal(before[i], after[i])
    assert tcp.data_uv.shape[1] == 8 * 250


def test_edf_plus_d_with_a_gap_is_refused_naming_the_gap(make_edf):
    path, _ = make_edf(fs_hz=256, duration_s=8.0)
    _as_edf_plus_d(path, move_record=5, to_onset=9)
    with pytest.raises(RecordingError, match=r"EDF\+D \(discontinuous\) file with a gap: data "
                                             r"record 5 starts at 9 s, \+4 s from the end of "
                                             r"the record before it \(5 s\)") as caught:
        read_tcp(path)
    assert caught.value.stage == "read"


def test_edf_plus_start_includes_the_first_records_onset(make_edf):
    """EDF+ lets the first data record start after the header's start time (its
    time-keeping annotation says when): the first sample's time is the sum."""
    import datetime
    from neurokube.core.edf_header import check_header
    path, _ = make_edf(fs_hz=256, duration_s=8.0)
    with open_recording(str(path), SPEC) as src:
        header_start = datetime.datetime.fromisoformat(src.start)
    header = check_header(str(path), SPEC)
    annotation = header.labels.index("EDF Annotations")
    data = bytearray(path.read_bytes())
    for k in range(header.n_records):  # every record's time keeping moves by 10 s
        at = (header.header_bytes + header.record_bytes * k
              + 2 * sum(header.samples_per_record[:annotation]))
        old, new = f"+{k}\x14\x14\0".encode(), f"+{k + 10}\x14\x14\0".encode()
        assert data[at:at + len(new)] == old + b"\0"  # room for one more digit
        data[at:at + len(new)] = new
    path.write_bytes(bytes(data))
    with open_recording(str(path), SPEC) as src:
        assert src.start == (header_start + datetime.timedelta(seconds=10)).isoformat()


def _set_field(data, n_signals, k, offset, text):
    """Overwrite one 8-byte signal-header field (``offset``: its per-signal bytes before)."""
    at = 256 + offset * n_signals + 8 * k
    data[at:at + 8] = text.ljust(8).encode()


def test_a_broken_channel_the_montage_does_not_read_costs_nothing(make_edf, tmp_path):
    """A trigger channel above the supported rate, and marker channels with an empty
    digital range or an empty physical range: the EEG is read; the same faults on an EEG
    channel refuse the recording, naming the channel."""
    import pyedflib
    _, signals = make_edf(fs_hz=256, duration_s=4.0)
    path = tmp_path / "extra.edf"
    labels = [f"EEG {e}-REF" for e in signals] + ["Trigger", "Marker", "Event"]
    rates = [256] * len(signals) + [8192, 256, 256]
    writer = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders([{"label": label, "dimension": "uV", "sample_frequency": fs,
                                  "physical_max": 150, "physical_min": -150,
                                  "digital_max": 32767, "digital_min": -32768,
                                  "transducer": "", "prefilter": ""}
                                 for label, fs in zip(labels, rates)])
        writer.writeSamples([np.clip(x, -140, 140) for x in signals.values()]
                            + [np.zeros(4 * fs) for fs in rates[-3:]])
    finally:
        writer.close()
    n = len(labels) + 1
    data = bytearray(path.read_bytes())
    marker, event = labels.index("Marker"), labels.index("Event")
    _set_field(data, n, marker, 120, "0")   # digital minimum
    _set_field(data, n, marker, 128, "0")   # digital maximum
    _set_field(data, n, event, 104, "0")    # physical minimum
    _set_field(data, n, event, 112, "0")    # physical maximum
    path.write_bytes(bytes(data))
    src, read, tcp = read_tcp(path)
    np.testing.assert_allclose(read[src.labels.index("EEG FP1-REF")],
                               np.clip(signals["FP1"], -140, 140), atol=0.01)
    assert tcp.mask.all()
    c3 = labels.index("EEG C3-REF")
    _set_field(data, n, c3, 104, "0")
    _set_field(data, n, c3, 112, "0")
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"signal 5 \('EEG C3-REF'\): physical minimum "
                                             r"equals maximum"):
        read_tcp(path)


def test_no_samples_in_any_signal_is_a_clear_error(make_edf):
    path, _ = make_edf()
    data = bytearray(path.read_bytes())
    n = int(data[252:256])
    for k in range(n):
        _set_field(data, n, k, 216, "0")
    data[236:244] = b"-1      "  # record count unknown: taken from the file size
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="every signal has 0 samples per data record"):
        read_tcp(path)


def test_an_absurd_first_record_onset_keeps_the_header_start(make_edf):
    import datetime
    path, _ = make_edf(fs_hz=256, duration_s=4.0)
    with open_recording(str(path), SPEC) as src:
        header_start = src.start
    from neurokube.core.edf_header import check_header
    header = check_header(str(path), SPEC)
    at = header.header_bytes + 2 * sum(header.samples_per_record[:header.labels.index(
        "EDF Annotations")])
    data = bytearray(path.read_bytes())
    new = b"+1e300\x14\x14\x00"
    assert data[at:at + len(new)] == b"+0\x14\x14\x00" + bytes(4)
    data[at:at + len(new)] = new
    path.write_bytes(bytes(data))
    with open_recording(str(path), SPEC) as src:
        assert src.start == header_start
        datetime.datetime.fromisoformat(src.start)
