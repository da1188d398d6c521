"""Reading EDF/EDF+ recordings (local or remote) into physical µV with pyedflib.

Remote objects (``gs://``...) are staged through Beam's FileSystems to a local
temporary file, which is removed afterwards. Only the channels the montage needs are
read; channels are selected by label, never by position.

Example::

    rec = read_recording("corpus/aaaaaaac_s001_t000.edf", FeatureSpec())
    rec.labels, rec.fs_hz, rec.signals_uv
"""
import contextlib
import dataclasses
import os
import shutil
import tempfile

import numpy as np
import pyedflib
from apache_beam.io.filesystems import FileSystems

from neurokube.transforms.dead_letters import RecordingError
from neurokube.transforms.montage import is_montage_electrode, normalise_label

_COPY_CHUNK_BYTES = 16 << 20


@dataclasses.dataclass
class Recording:
    """The montage electrodes of one EDF recording, in physical µV.

    Attributes
    ----------
    path : str
        The input path or URL, as matched.
    labels : tuple of str
        Raw EDF labels of the channels read (montage electrodes only).
    fs_hz : tuple of float
        Sampling rate of each channel read, Hz.
    signals_uv : list of np.ndarray
        float64 samples of each channel read, µV.
    all_labels : tuple of str
        Every label in the file (for the montage kind and for error messages).
    duration_s : float
        File duration from the header (data records × record duration), s.
    """

    path: str
    labels: tuple
    fs_hz: tuple
    signals_uv: list
    all_labels: tuple
    duration_s: float


def is_local(path):
    return "://" not in str(path) or str(path).startswith("file://")


@contextlib.contextmanager
def local_copy(path):
    """Yield a local file name for ``path``: the path itself, or a staged temporary copy."""
    if is_local(path):
        local = str(path)[len("file://"):] if str(path).startswith("file://") else str(path)
        yield local
        return
    if not FileSystems.exists(str(path)):
        raise FileNotFoundError(f"no such object: {path}")
    suffix = os.path.splitext(str(path))[1] or ".edf"
    fd, tmp = tempfile.mkstemp(prefix="neurokube-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as dst, FileSystems.open(str(path)) as src:
            shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
        yield tmp
    finally:
        os.unlink(tmp)


def read_recording(path, spec):
    """Read the montage electrodes of an EDF/EDF+ file in physical µV.

    Parameters
    ----------
    path : str
        Local path or any URL Beam's FileSystems can open.
    spec : FeatureSpec
        Decides how labels are normalised and which channels are non-EEG.

    Returns
    -------
    Recording

    Raises
    ------
    RecordingError
        The file is not a readable EDF/EDF+ (corrupt, truncated, other format).
    OSError
        The file or object cannot be opened.
    """
    with local_copy(path) as local:
        if not os.path.exists(local):
            raise FileNotFoundError(f"no such file: {path}")
        try:
            reader = pyedflib.EdfReader(local)
        except OSError as exc:
            raise RecordingError(f"not a readable EDF/EDF+ file: {exc}") from exc
        try:
            return _read_open_file(reader, str(path), spec)
        finally:
            reader.close()


def _read_open_file(reader, path, spec):
    all_labels = tuple(reader.getSignalLabels())
    rates = reader.getSampleFrequencies()
    counts = reader.getNSamples()
    chosen = [i for i, raw in enumerate(all_labels)
              if is_montage_electrode(normalise_label(raw, spec), spec)]
    signals = []
    for i in chosen:
        if counts[i] <= 0:
            raise RecordingError(f"channel {all_labels[i]!r} holds no samples")
        x = reader.readSignal(i, digital=False)
        if len(x) != counts[i]:
            raise RecordingError(
                f"channel {all_labels[i]!r}: read {len(x)} of {counts[i]} samples (truncated file?)")
        if not np.all(np.isfinite(x)):
            raise RecordingError(f"channel {all_labels[i]!r} holds non-finite samples")
        signals.append(x)
    return Recording(path=path, labels=tuple(all_labels[i] for i in chosen),
                     fs_hz=tuple(float(rates[i]) for i in chosen), signals_uv=signals,
                     all_labels=all_labels, duration_s=float(reader.getFileDuration()))


def write_edf(path, signals_uv, labels, fs_hz, record_s=1.0):
    """Write channels of equal rate to a local EDF+ file (16-bit, physical range per channel).

    Used to build demo corpora and test fixtures. ``signals_uv`` is (channels, samples)
    in µV; the tail is zero-padded to whole data records of ``record_s`` seconds.
    """
    signals_uv = np.asarray(signals_uv, dtype=np.float64)
    per_record = int(round(fs_hz * record_s))
    pad = (-signals_uv.shape[1]) % per_record
    data = np.pad(signals_uv, [(0, 0), (0, pad)])
    writer = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        headers = []
        for label, x in zip(labels, data):
            peak = float(np.ceil(np.max(np.abs(x)) * 1.05 + 1.0))
            headers.append({"label": label, "dimension": "uV", "sample_frequency": fs_hz,
                            "physical_max": peak, "physical_min": -peak,
                            "digital_max": 32767, "digital_min": -32768,
                            "transducer": "", "prefilter": ""})
        writer.setSignalHeaders(headers)
        if record_s != 1.0:
            writer.setDatarecordDuration(record_s)
        writer.writeSamples(list(data))
    finally:
        writer.close()
    return data.shape[1] / fs_hz
