"""Reading EDF/EDF+ recordings (local or remote) into physical µV with pyedflib.

Remote objects (``gs://``...) are staged to a local temporary file (see
:func:`neurokube.core.paths.local_copy`). Only the channels the montage's derivation plan
needs are read; channels are selected by label, never by position.

Example::

    with open_recording("corpus/aaaaaaac_s001_t000.edf", FeatureSpec()) as src:
        src.plan, src.duration_s, src.read(0.0, 60.0)
"""
import contextlib
import os

import numpy as np
import pyedflib

from neurokube.core.edf_header import check_header
from neurokube.core.errors import RecordingError
from neurokube.core.montage import derivation_plan
from neurokube.core.paths import local_copy


class EdfSource:
    """An open EDF/EDF+ file and the derivation plan of its TCP montage; reads time ranges.

    Use through :func:`open_recording`.

    Attributes
    ----------
    path : str
        The input path or URL, as matched.
    labels : tuple of str
        Every signal label in the file (EDF+ annotation signals excluded).
    fs_hz : tuple of float
        Sampling rate of every signal, Hz.
    plan : DerivationPlan
        Which signals build which TCP channel (only those are read).
    duration_s : float
        File duration from the header (data records × record duration), s.
    samples_per_s : float
        Samples per second of the planned signals together (what a read holds).
    record_samples_per_s : float
        Samples per second of every signal together (the data records read from disk).
    """

    def __init__(self, reader, path, spec, local_path):
        self._reader, self.path = reader, path
        self.labels = tuple(reader.getSignalLabels())
        rates = reader.getSampleFrequencies()
        self.fs_hz = tuple(float(r) for r in rates)
        self._counts = reader.getNSamples()
        self.duration_s = float(reader.getFileDuration())
        self.plan = derivation_plan(self.labels, spec, path)
        self._chosen = self.plan.channels_used
        self.samples_per_s = float(sum(self.fs_hz[i] for i in self._chosen))
        self.record_samples_per_s = float(sum(self.fs_hz))
        for i in self._chosen:
            if self._counts[i] <= 0:
                raise RecordingError(f"channel {self.labels[i]!r} holds no samples",
                                     stage="read")
        self._records = _EdfRecords.open(local_path, self.labels, reader)

    def read(self, start_s=0.0, stop_s=None):
        """{signal index: float64 µV} of the planned signals over ``[start_s, stop_s)`` (s,
        clipped to the recording)."""
        spans = []
        for i in self._chosen:
            fs = self.fs_hz[i]
            first = max(0, int(round(start_s * fs)))
            last = self._counts[i] if stop_s is None else min(self._counts[i],
                                                              int(round(stop_s * fs)))
            spans.append((i, first, max(0, last - first)))
        if self._records is not None:
            samples = self._records.physical(spans)
        else:
            samples = [self._reader.readSignal(i, first, n, digital=False) if n else np.zeros(0)
                       for i, first, n in spans]
        out = {}
        for (i, first, n), x in zip(spans, samples):
            if len(x) != n:
                raise RecordingError(f"channel {self.labels[i]!r}: read {len(x)} of {n} "
                                     f"samples from {first} (truncated file?)", stage="read")
            if not np.all(np.isfinite(x)):
                raise RecordingError(f"channel {self.labels[i]!r} holds non-finite samples",
                                     stage="read")
            out[i] = x
        return out


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
        The file is not a regular file or not a readable EDF/EDF+ (corrupt, truncated,
        inconsistent header, other format): the reason names what is wrong.
    FileNotFoundError
        The file or object does not exist.
    """
    with local_copy(path) as local:
        check_header(local, spec)
        try:
            reader = pyedflib.EdfReader(local)
        except OSError as exc:
            # pyedflib names the local (perhaps staged) path: say only what is wrong.
            reason = str(exc).replace(f"{local}: ", "").replace(local, "the file")
            raise RecordingError(f"not a readable EDF/EDF+ file: {reason}", stage="read") from exc
        try:
            yield EdfSource(reader, str(path), spec, local)
        finally:
            reader.close()


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
