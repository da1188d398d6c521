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


class EdfSource:
    """An open EDF/EDF+ file restricted to its montage electrodes; reads time ranges.

    Use through :func:`open_recording`. Attributes mirror :class:`Recording` (without
    the samples); :meth:`read` returns the samples of ``[start_s, stop_s)``.
    """

    def __init__(self, reader, path, spec, local_path):
        self._reader, self.path = reader, path
        self.all_labels = tuple(reader.getSignalLabels())
        rates = reader.getSampleFrequencies()
        self._counts = reader.getNSamples()
        self._chosen = [i for i, raw in enumerate(self.all_labels)
                        if is_montage_electrode(normalise_label(raw, spec), spec)]
        self.labels = tuple(self.all_labels[i] for i in self._chosen)
        self.fs_hz = tuple(float(rates[i]) for i in self._chosen)
        self.duration_s = float(reader.getFileDuration())
        for i in self._chosen:
            if self._counts[i] <= 0:
                raise RecordingError(f"channel {self.all_labels[i]!r} holds no samples")
        self._records = _EdfRecords.open(local_path, self.all_labels, reader)

    def read(self, start_s=0.0, stop_s=None):
        """float64 µV of each montage channel over ``[start_s, stop_s)`` (s, clipped)."""
        spans = []
        for i, fs in zip(self._chosen, self.fs_hz):
            first = max(0, int(round(start_s * fs)))
            last = self._counts[i] if stop_s is None else min(self._counts[i],
                                                              int(round(stop_s * fs)))
            spans.append((i, first, max(0, last - first)))
        if self._records is not None:
            samples = self._records.physical(spans)
        else:
            samples = [self._reader.readSignal(i, first, n, digital=False) if n else np.zeros(0)
                       for i, first, n in spans]
        for (i, first, n), x in zip(spans, samples):
            if len(x) != n:
                raise RecordingError(f"channel {self.all_labels[i]!r}: read {len(x)} of {n} "
                                     f"samples from {first} (truncated file?)")
            if not np.all(np.isfinite(x)):
                raise RecordingError(f"channel {self.all_labels[i]!r} holds non-finite samples")
        return samples


class _EdfRecords:
    """Vectorised access to the 16-bit data records of a plain EDF/EDF+ file.

    pyedflib opens and validates the file (header, size); the data records spanning a
    read are then loaded with one ``np.fromfile`` and every channel is sliced out of them,
    several times faster than reading sample blocks channel by channel. Only the records
    of the span are in memory (no map of the whole file, whose pages would stay resident).
    Physical values use pyedflib's formula. BDF (24-bit) files and anything unexpected
    fall back to pyedflib's reader.
    """

    def __init__(self, path, header_bytes, per_record, offsets, counts, gains, offsets_phys):
        self._path, self._header_bytes, self._per_record = path, header_bytes, per_record
        self._offsets, self._counts = offsets, counts
        self._gains, self._phys_offsets = gains, offsets_phys

    @classmethod
    def open(cls, local_path, labels, reader):
        with open(local_path, "rb") as handle:
            head = handle.read(256)
            if len(head) < 256 or head[:1] != b"0":
                return None  # BDF or unknown: let pyedflib read
            ns = int(head[252:256].decode("ascii").strip())
            header_bytes = int(head[184:192].decode("ascii").strip())
            signals = handle.read(ns * 256)

        def field(offset, width):
            return [signals[offset + k * width:offset + (k + 1) * width].decode(
                "latin-1").strip() for k in range(ns)]

        raw_labels = field(0, 16)
        samples = [int(v) for v in field(216 * ns, 8)]
        kept = [k for k, label in enumerate(raw_labels) if label != "EDF Annotations"]
        if [raw_labels[k] for k in kept] != [str(x).strip() for x in labels]:
            return None
        per_record = sum(samples)
        starts = np.concatenate([[0], np.cumsum(samples)])
        offsets = [int(starts[k]) for k in kept]
        counts = [samples[k] for k in kept]
        gains, phys_offsets = [], []
        for i in range(len(kept)):
            header = reader.getSignalHeader(i)
            gain = (header["physical_max"] - header["physical_min"]) / (
                header["digital_max"] - header["digital_min"])
            gains.append(gain)
            phys_offsets.append(header["physical_max"] / gain - header["digital_max"])
        return cls(local_path, header_bytes, per_record, offsets, counts, gains, phys_offsets)

    def physical(self, spans):
        """µV (float64) of each ``(signal, first sample, n samples)`` span."""
        wanted = [(i, first, n) for i, first, n in spans if n > 0]
        if not wanted:
            return [np.zeros(0) for _ in spans]
        r0 = min(first // self._counts[i] for i, first, _ in wanted)
        r1 = max(-(-(first + n) // self._counts[i]) for i, first, n in wanted)
        records = np.fromfile(self._path, dtype="<i2", count=(r1 - r0) * self._per_record,
                              offset=self._header_bytes + 2 * r0 * self._per_record)
        records = records.reshape(-1, self._per_record)
        out = []
        for i, first, n in spans:
            per = self._counts[i]
            block = records[:, self._offsets[i]:self._offsets[i] + per].reshape(-1)
            digital = block[first - r0 * per:first - r0 * per + n]
            out.append(self._gains[i] * (digital.astype(np.float64) + self._phys_offsets[i]))
        return out


@contextlib.contextmanager
def open_recording(path, spec):
    """Open an EDF/EDF+ file (local or staged remote copy) as an :class:`EdfSource`.

    Raises
    ------
    RecordingError
        The file is not a readable EDF/EDF+ (corrupt, truncated, other format).
    FileNotFoundError
        The file or object does not exist.
    """
    with local_copy(path) as local:
        if not os.path.exists(local):
            raise FileNotFoundError(f"no such file: {path}")
        try:
            reader = pyedflib.EdfReader(local)
        except OSError as exc:
            raise RecordingError(f"not a readable EDF/EDF+ file: {exc}") from exc
        try:
            yield EdfSource(reader, str(path), spec, local)
        finally:
            reader.close()


def read_recording(path, spec):
    """Read the montage electrodes of a whole EDF/EDF+ file in physical µV.

    Parameters
    ----------
    path : str
        Local path or any URL Beam's FileSystems can open.
    spec : FeatureSpec
        Decides how labels are normalised and which channels are non-EEG.

    Returns
    -------
    Recording
    """
    with open_recording(path, spec) as src:
        return Recording(path=src.path, labels=src.labels, fs_hz=src.fs_hz,
                         signals_uv=src.read(), all_labels=src.all_labels,
                         duration_s=src.duration_s)


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
