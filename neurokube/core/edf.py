"""Reading EDF/EDF+/BDF recordings (local or remote) into physical µV.

Remote objects (``gs://``...) are staged to a local temporary file (see
:func:`neurokube.core.paths.local_copy`). The header is checked first
(:func:`~neurokube.core.edf_header.check_header`: every refusal names the field that is
wrong); only the signals the montage's derivation plan needs are then read, straight from
the data records with NumPy (16-bit EDF and 24-bit BDF), without parsing the EDF+
annotation signal or the identification fields: a broken annotation channel or patient
field does not cost a recording its EEG (only the first record's time keeping is read, for
the start time, and in an EDF+D file every record's, checked for gaps:
:func:`~neurokube.core.edf_header.check_contiguous`). Samples are scaled
by each signal's physical dimension (mV, V...) to µV. Channels are selected by label, never
by position.

Example::

    with open_recording("corpus/aaaaaaac_s001_t000.edf", FeatureSpec()) as src:
        src.plan, src.duration_s, src.read(0.0, 60.0)
"""
import contextlib
import dataclasses
import datetime
import os
from typing import Iterator, Protocol, Sequence

import numpy as np
import pyedflib

from neurokube.core.edf_header import (EdfHeader, check_contiguous, check_header,
                                      first_record_onset, uv_per_unit)
from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import FeatureSpec
from neurokube.core.montage import DerivationPlan, derivation_plan
from neurokube.core.paths import local_copy


class SignalSource(Protocol):
    """What the feature stream reads: an open recording (:class:`EdfSource`) or arrays in
    memory (``neurokube.api``). ``start`` (recording start, or None) and the load hints
    ``samples_per_s``/``record_samples_per_s`` (samples read per recording second) are
    optional."""

    path: str
    labels: tuple[str, ...]
    fs_hz: tuple[float, ...]
    duration_s: float
    plan: DerivationPlan

    def read(self, start_s: float = 0.0, stop_s: float | None = None
             ) -> dict[int, np.ndarray]:
        """{signal index: float64 µV} of the planned signals over ``[start_s, stop_s)``."""
        ...


class EdfSource:
    """An open EDF/EDF+/BDF file and the derivation plan of its TCP montage; reads spans.

    Use through :func:`open_recording`.

    Attributes
    ----------
    path : str
        The input path or URL, as matched.
    labels : tuple of str
        Every data signal's label (annotation signals excluded).
    fs_hz : tuple of float
        Sampling rate of every data signal, Hz.
    plan : DerivationPlan
        Which signals build which TCP channel (only those are read).
    duration_s : float
        File duration from the header (data records × record duration), s.
    n_records : int
        Data records (for a growing file: the whole records present).
    samples_per_s : float
        Samples per second of the planned signals together (what a read holds).
    record_samples_per_s : float
        Samples per second of every signal together (the data records read from disk).
    start : str or None
        The start date and time (ISO 8601) of the first sample: the header's, plus the
        onset of the first data record in an EDF+/BDF+ file that states one.
    """

    def __init__(self, header: EdfHeader, path: str, spec: FeatureSpec, local_path: str) -> None:
        self.path, self._local, self._header = path, local_path, header
        self._signals = header.signals
        self.labels = tuple(header.labels[k] for k in self._signals)
        self.fs_hz = tuple(header.fs_hz(k) for k in self._signals)
        self._counts = [header.n_records * header.samples_per_record[k] for k in self._signals]
        self.duration_s = header.duration_s
        self.n_records = header.n_records
        self.start = header.start
        self.plan = derivation_plan(self.labels, spec, path)
        self._chosen = self.plan.channels_used
        problems = dict(header.signal_problems)
        for i in self._chosen:
            if self._signals[i] in problems:
                raise RecordingError(problems[self._signals[i]], stage="read")
        self.samples_per_s = float(sum(self.fs_hz[i] for i in self._chosen))
        self.record_samples_per_s = float(sum(header.samples_per_record)) / header.record_s
        starts = np.concatenate([[0], np.cumsum(header.samples_per_record)])
        self._offsets = [int(starts[k]) for k in self._signals]
        self._per_record = int(starts[-1])
        self._gains, self._phys_offsets = [], []
        for i, k in enumerate(self._signals):
            if k in problems:  # never read
                self._phys_offsets.append(0.0)
                self._gains.append(float("nan"))
                continue
            gain = (header.physical_max[k] - header.physical_min[k]) / (
                header.digital_max[k] - header.digital_min[k])
            self._phys_offsets.append(header.physical_max[k] / gain - header.digital_max[k])
            self._gains.append(gain * self._uv_per_unit(header, i, k))

    def _uv_per_unit(self, header, i, k):
        """µV per physical unit of data signal ``i`` (EDF signal ``k``); signals the plan
        does not read may be in any unit."""
        dimension = header.dimensions[k] if header.dimensions else ""
        factor = uv_per_unit(dimension)
        if factor is None:
            if i in self._chosen:
                raise RecordingError(
                    f"signal {k + 1} ({header.labels[k]!r}): physical dimension "
                    f"{dimension!r} is not a voltage (expected uV, µV, mV, V or nV; a blank "
                    "field is read as uV)", stage="read")
            return 1.0
        return factor

    def _records(self, r0, r1):
        """Digital samples of data records [r0, r1) as (records, samples per record)."""
        width = self._header.bytes_per_sample
        count = (r1 - r0) * self._per_record
        offset = self._header.header_bytes + width * r0 * self._per_record
        try:
            if width == 2:
                data = np.fromfile(self._local, dtype="<i2", count=count, offset=offset)
            else:  # BDF: 24-bit little-endian two's complement
                raw = np.fromfile(self._local, dtype=np.uint8, count=3 * count, offset=offset)
                raw = raw.reshape(-1, 3).astype(np.int32)
                data = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
                data = np.where(data >= 1 << 23, data - (1 << 24), data)
        except OSError as exc:
            raise RecordingError(f"cannot read data records {r0}-{r1 - 1}: {exc}",
                                 stage="read") from None
        if len(data) != count:
            raise RecordingError(f"read {len(data)} of {count} samples of data records "
                                 f"{r0}-{r1 - 1} (file changed or truncated?)", stage="read")
        return data.reshape(-1, self._per_record)

    def read(self, start_s: float = 0.0, stop_s: float | None = None) -> dict[int, np.ndarray]:
        """{signal index: float64 µV} of the planned signals over ``[start_s, stop_s)`` (s,
        clipped to the recording)."""
        spans = []
        for i in self._chosen:
            fs = self.fs_hz[i]
            first = max(0, int(round(start_s * fs)))
            last = self._counts[i] if stop_s is None else min(self._counts[i],
                                                              int(round(stop_s * fs)))
            spans.append((i, first, max(0, last - first)))
        wanted = [(i, first, n) for i, first, n in spans if n > 0]
        out = {i: np.zeros(0) for i, _, _ in spans}
        if not wanted:
            return out
        per = self._header.samples_per_record
        r0 = min(first // per[self._signals[i]] for i, first, _ in wanted)
        r1 = max(-(-(first + n) // per[self._signals[i]]) for i, first, n in wanted)
        records = self._records(r0, r1)
        for i, first, n in wanted:
            count = per[self._signals[i]]
            block = records[:, self._offsets[i]:self._offsets[i] + count].reshape(-1)
            digital = block[first - r0 * count:first - r0 * count + n]
            out[i] = self._gains[i] * (digital.astype(np.float64) + self._phys_offsets[i])
        return out


@contextlib.contextmanager
def open_recording(path: str | os.PathLike[str], spec: FeatureSpec,
                   growing: bool = False) -> Iterator[EdfSource]:
    """Open an EDF/EDF+/BDF file (local, or a staged copy of a remote one) as an
    :class:`EdfSource`; ``growing``: one still being written (see
    :func:`~neurokube.core.edf_header.check_header`).

    Raises
    ------
    RecordingError
        The file is not a regular file or not a readable EDF/EDF+/BDF (corrupt,
        truncated, inconsistent header, other format): the reason names what is wrong.
    FileNotFoundError
        The file or object does not exist.
    """
    with local_copy(path) as local:
        header = check_header(local, spec, growing)
        if header.discontinuous:
            check_contiguous(local, header)
        offset_s = first_record_onset(local, header) if header.start else 0.0
        if offset_s:
            try:
                start = datetime.datetime.fromisoformat(header.start) + datetime.timedelta(
                    seconds=offset_s)
                header = dataclasses.replace(header, start=start.isoformat())
            except (OverflowError, ValueError):  # an absurd onset: keep the header's start
                pass
        yield EdfSource(header, str(path), spec, local)


def write_edf(path: str | os.PathLike[str], signals_uv: np.ndarray, labels: Sequence[str],
              fs_hz: float, record_s: float = 1.0,
              start: datetime.datetime | None = None) -> float:
    """Write channels of equal rate to a local EDF+ file (16-bit, physical range per channel).

    Used to build demo and training corpora and test fixtures. ``signals_uv`` is
    (channels, samples) in µV; the tail is zero-padded to whole data records of
    ``record_s`` seconds. ``start`` (a ``datetime``) sets the recording's start.
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
        if start is not None:
            writer.setStartdatetime(start)
        if record_s != 1.0:
            writer.setDatarecordDuration(record_s)
        writer.writeSamples(list(data))
    finally:
        writer.close()
    return data.shape[1] / fs_hz
