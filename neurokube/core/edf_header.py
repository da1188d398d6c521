"""EDF/EDF+ header checks before any sample is read: precise reasons, bounded work.

pyedflib refuses a malformed file with one generic message ("it contains format
errors"). :func:`check_header` reads the 256-byte main header and the signal headers
itself, and refuses what cannot be right with the field and byte range that is wrong:
non-numeric or out-of-range counts, a record count that disagrees with the file's size
(truncated files, and files holding more records than the header says). A signal whose
own fields are wrong (a non-finite or float32-overflowing physical range, an empty digital
range, a sampling rate above what the front end supports) is listed in
``signal_problems``: the reader refuses the recording only when the montage needs that
signal, so a broken trigger or marker channel does not cost a recording its EEG. It only looks at the header and the file size, so it is cheap and
cannot hang, and it runs before pyedflib opens the file.

Two things the rest of the reader needs from the header are also decided here:

* the physical dimension of each signal, as a factor to µV (:func:`uv_per_unit`: ``uV``,
  ``µV``, ``mV``, ``V``, ``nV``; a blank field is read as µV);
* whether an EDF+D ("discontinuous") file really has gaps: :func:`check_contiguous` reads
  the time-keeping annotation of every data record and accepts the file when the records
  follow each other without a gap (many exports mark gapless files EDF+D), else refuses it
  naming the first gap, because reading records end to end would misplace every event after
  it.

Example::

    header = check_header("rec.edf", spec)     # EdfHeader, or RecordingError(stage="read")
    header.n_records, header.record_s, header.samples_per_record
"""
import dataclasses
import datetime
import math
import os
import stat
from typing import Optional

import numpy as np

from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import FeatureSpec

MAX_SIGNALS = 1024
# Physical values are float32 downstream: larger magnitudes overflow.
MAX_PHYSICAL = 1e30
_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")


@dataclasses.dataclass(frozen=True)
class EdfHeader:
    """What the header states (checked)."""

    header_bytes: int
    n_records: int
    record_s: float
    labels: tuple
    samples_per_record: tuple
    bytes_per_sample: int
    physical_min: tuple
    physical_max: tuple
    digital_min: tuple
    digital_max: tuple
    start: Optional[str] = None
    dimensions: tuple = ()
    plus: bool = False
    discontinuous: bool = False
    signal_problems: tuple = ()

    @property
    def signals(self) -> list[int]:
        """Indices of the data signals (EDF+/BDF+ annotation signals excluded)."""
        return [k for k, label in enumerate(self.labels) if label not in _ANNOTATIONS]

    @property
    def duration_s(self) -> float:
        return self.n_records * self.record_s

    def fs_hz(self, i: int) -> float:
        return self.samples_per_record[i] / self.record_s

    @property
    def record_bytes(self) -> int:
        return sum(self.samples_per_record) * self.bytes_per_sample


def check_regular_file(path: str) -> int:
    """The size of ``path`` if it is a regular file, else a clear error (no FIFO, device or
    folder is ever opened for reading: they can block or never end)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError("no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise RecordingError("not a regular file (a FIFO, device or folder cannot be a "
                             "recording)", stage="read")
    return info.st_size


def _field(raw: bytes, start: int, width: int, what: str, parse, file_offset=0):
    """Parse ``raw[start:start + width]``; ``file_offset`` is where ``raw`` lies in the file
    (for the byte range the error names)."""
    text = raw[start:start + width].decode("ascii", errors="replace").strip()
    try:
        value = parse(text)
    except ValueError:
        first = file_offset + start
        raise RecordingError(f"header field {what} (bytes {first}-{first + width - 1}) is "
                             f"not a number: {text!r}", stage="read") from None
    return value


def check_header(path: str, spec: FeatureSpec, growing: bool = False) -> EdfHeader:
    """Read and check the header of a local EDF/EDF+/BDF file (see the module doc).

    ``growing``: the file is still being written (``neurokube stream``): its records are
    the whole records present, whatever the header's count says (-1, stale, or ahead of
    the data), and a partly written last record is left for later.

    Raises
    ------
    RecordingError
        Stage ``read``, naming the field, channel or byte range that is wrong.
    FileNotFoundError
    """
    size = check_regular_file(path)
    with open(path, "rb") as handle:
        head = handle.read(256)
        if len(head) < 256:
            raise RecordingError(f"not an EDF file: {size} bytes, shorter than the 256-byte "
                                 "header", stage="read")
        if head[:8] == b"0       ":
            bytes_per_sample = 2
        elif head[:8] == b"\xffBIOSEMI":
            bytes_per_sample = 3
        else:
            raise RecordingError(f"not an EDF file: version field (bytes 0-7) is "
                                 f"{head[:8]!r}, expected '0' and 7 spaces", stage="read")
        n_signals = _field(head, 252, 4, "number of signals", int)
        if not 1 <= n_signals <= MAX_SIGNALS:
            raise RecordingError(f"header field number of signals (bytes 252-255) is "
                                 f"{n_signals}, expected 1 to {MAX_SIGNALS}", stage="read")
        header_bytes = _field(head, 184, 8, "header bytes", int)
        if header_bytes != 256 * (n_signals + 1):
            raise RecordingError(f"header field header bytes (bytes 184-191) is "
                                 f"{header_bytes}, expected {256 * (n_signals + 1)} for "
                                 f"{n_signals} signals", stage="read")
        n_records = _field(head, 236, 8, "number of data records", int)
        record_s = _field(head, 244, 8, "duration of a data record", float)
        signals = handle.read(256 * n_signals)
    if len(signals) < 256 * n_signals:
        raise RecordingError(f"truncated header: {size} bytes, the header alone needs "
                             f"{header_bytes}", stage="read")
    if not (math.isfinite(record_s) and record_s > 0):
        raise RecordingError(f"header field duration of a data record (bytes 244-251) is "
                             f"{record_s}, expected a positive number of seconds",
                             stage="read")

    def column(offset, width, what, parse):
        """Parse one signal-header field of every signal (``offset``: per-signal bytes
        before it in the EDF layout)."""
        base = offset * n_signals
        return [_field(signals, base + k * width, width,
                       f"{what} of signal {k + 1} ({labels[k]!r})", parse, file_offset=256)
                for k in range(n_signals)]

    labels = tuple(signals[16 * k:16 * (k + 1)].decode("latin-1").strip()
                   for k in range(n_signals))
    names = {"physical minimum": 104, "physical maximum": 112, "digital minimum": 120,
             "digital maximum": 128}
    values = {what: column(offset, 8, what, float if what.startswith("physical") else int)
              for what, offset in names.items()}
    samples = column(216, 8, "samples per record", int)
    dimensions = tuple(signals[96 * n_signals + 8 * k:96 * n_signals + 8 * (k + 1)]
                       .decode("latin-1").strip() for k in range(n_signals))
    for k, label in enumerate(labels):
        if samples[k] < 0:
            raise RecordingError(f"signal {k + 1} ({label!r}): {samples[k]} samples per data "
                                 "record", stage="read")
    per_record = sum(samples) * bytes_per_sample
    if per_record == 0:
        raise RecordingError("every signal has 0 samples per data record: no data",
                             stage="read")
    data_bytes = size - header_bytes
    if n_records == -1 or growing:  # EDF+ "unknown" (still being written): from the size
        n_records = data_bytes // per_record
        if growing:
            data_bytes = n_records * per_record
    if n_records < 1:
        raise RecordingError(f"header field number of data records (bytes 236-243) is "
                             f"{n_records}: no data", stage="read")
    expected = n_records * per_record
    if data_bytes < expected:
        raise RecordingError(
            f"truncated file: the header states {n_records} data records ({expected} bytes "
            f"after the {header_bytes}-byte header) but the file holds {data_bytes} bytes "
            f"({data_bytes // per_record} whole records)", stage="read")
    if data_bytes > expected:
        raise RecordingError(
            f"the header states {n_records} data records ({expected} bytes after the "
            f"header) but the file holds {data_bytes} bytes: {data_bytes - expected} bytes "
            f"beyond the last record (header inconsistent with the file)", stage="read")
    header = EdfHeader(header_bytes=header_bytes, n_records=n_records, record_s=record_s,
                       labels=labels, samples_per_record=tuple(samples),
                       bytes_per_sample=bytes_per_sample,
                       physical_min=tuple(values["physical minimum"]),
                       physical_max=tuple(values["physical maximum"]),
                       digital_min=tuple(values["digital minimum"]),
                       digital_max=tuple(values["digital maximum"]),
                       start=_start(head), dimensions=dimensions,
                       plus=head[192:196] in (b"EDF+", b"BDF+"),
                       discontinuous=head[192:197] in (b"EDF+D", b"BDF+D"))
    problems = tuple((k, reason) for k, label in enumerate(labels)
                     if label not in _ANNOTATIONS
                     for reason in [_signal_problem(header, k, spec)] if reason)
    return dataclasses.replace(header, signal_problems=problems)


def _signal_problem(header: EdfHeader, k: int, spec: FeatureSpec) -> Optional[str]:
    """Why data signal ``k`` cannot be read as EEG (its ranges or rate), or None."""
    where = f"signal {k + 1} ({header.labels[k]!r})"
    lo, hi = header.physical_min[k], header.physical_max[k]
    if not all(math.isfinite(v) and abs(v) <= MAX_PHYSICAL for v in (lo, hi)):
        return (f"{where}: physical range [{lo:g}, {hi:g}] is not finite or overflows "
                f"float32 (|value| > {MAX_PHYSICAL:g})")
    if lo == hi:
        return f"{where}: physical minimum equals maximum ({lo:g})"
    dlo, dhi = header.digital_min[k], header.digital_max[k]
    if dlo >= dhi:
        return f"{where}: digital range [{dlo}, {dhi}] is empty"
    if header.samples_per_record[k] < 1:
        return f"{where}: {header.samples_per_record[k]} samples per data record"
    fs = header.fs_hz(k)
    if fs > spec.max_fs_hz:
        return (f"{where}: sampling rate {fs:g} Hz is above the supported "
                f"{spec.max_fs_hz:g} Hz (refused before reading)")
    return None


# Physical dimensions of a voltage and their size in µV, compared case-blind ("MV" is read as
# mV: nobody records EEG in megavolts) once every spelling of the micro sign is a "u".
_UV_PER_UNIT = {"uv": 1.0, "microv": 1.0, "microvolt": 1.0, "microvolts": 1.0, "mv": 1e3,
                "millivolt": 1e3, "millivolts": 1e3, "v": 1e6, "volt": 1e6, "volts": 1e6,
                "nv": 1e-3, "": 1.0}
# The micro sign as the Latin-1 header decodes it: itself (B5), and UTF-8 "µ" (C2 B5) and
# Greek mu (CE BC) read byte by byte.
_MICRO_SIGNS = ("\u00c2\u00b5", "\u00ce\u00bc", "\u00b5", "\u03bc")


def uv_per_unit(dimension: str) -> Optional[float]:
    """µV per physical unit of an EDF physical-dimension field (``"mV"`` -> 1000.0), or None
    when the field names no voltage (``"%"``, ``"mmHg"``). A blank field is taken as µV, the
    unit of nearly every EEG file that leaves it out."""
    text = dimension.strip()
    for micro in _MICRO_SIGNS:
        text = text.replace(micro, "u")
    return _UV_PER_UNIT.get(text.lower())


def _record_onset(tal: bytes) -> Optional[float]:
    """The onset (s) of a data record's time-keeping TAL (``+12.5\\x14\\x14\\x00``...)."""
    head, sep, _ = tal.partition(b"\x14")
    try:
        onset = float(head.decode("ascii")) if sep and head[:1] in (b"+", b"-") else None
    except (UnicodeDecodeError, ValueError):
        return None
    return onset if onset is not None and math.isfinite(onset) else None


def _annotation_bytes(path: str, header: EdfHeader, n_records: int) -> Optional[list]:
    """The annotation-signal bytes of the first ``n_records`` data records, or None when
    the file has no annotation signal."""
    annotation = next((k for k, label in enumerate(header.labels) if label in _ANNOTATIONS),
                      None)
    if annotation is None:
        return None
    width = header.bytes_per_sample
    first_byte = width * sum(header.samples_per_record[:annotation])
    n_bytes = width * header.samples_per_record[annotation]
    records = np.memmap(path, dtype=np.uint8, mode="r", offset=header.header_bytes,
                        shape=(n_records, header.record_bytes))
    return [bytes(records[k, first_byte:first_byte + n_bytes]) for k in range(n_records)]


def first_record_onset(path: str, header: EdfHeader) -> float:
    """When the first data record starts after the header's start time, s: the onset of
    its time-keeping annotation in an EDF+/BDF+ file (EDF+ lets a file begin at, say,
    +10 s), else 0."""
    tals = _annotation_bytes(path, header, 1) if header.plus else None
    onset = _record_onset(tals[0]) if tals else None
    return onset or 0.0


def check_contiguous(path: str, header: EdfHeader, tolerance_s: float = 1e-3) -> None:
    """Refuse an EDF+D file whose data records do not follow each other in time.

    Reads the first TAL (the time keeping) of each record's annotation signal; the file is
    accepted when record ``k`` starts at ``first + k * record_s`` (±``tolerance_s``).

    Raises
    ------
    RecordingError
        Stage ``read``: the first gap (or overlap), or a record without time keeping.
    """
    tals = _annotation_bytes(path, header, header.n_records)
    if tals is None:
        raise RecordingError("EDF+D (discontinuous) file without an annotation signal: the "
                             "start of each data record is unknown", stage="read")
    onsets = []
    for k, tal in enumerate(tals):
        onset = _record_onset(tal)
        if onset is None:
            raise RecordingError(f"EDF+D (discontinuous) file: data record {k} has no "
                                 "time-keeping annotation, so its start is unknown",
                                 stage="read")
        onsets.append(onset)
    expected = onsets[0] + header.record_s * np.arange(header.n_records)
    off = np.flatnonzero(np.abs(np.asarray(onsets) - expected) > tolerance_s)
    if off.size:
        k = int(off[0])
        previous_end = onsets[k - 1] + header.record_s
        raise RecordingError(
            f"EDF+D (discontinuous) file with a gap: data record {k} starts at "
            f"{onsets[k]:g} s, {onsets[k] - previous_end:+g} s from the end of the record "
            f"before it ({previous_end:g} s); recordings with gaps are not read, because "
            "their records end to end would misplace every later event (split the file at "
            "its gaps)", stage="read")


def _start(head: bytes) -> Optional[str]:
    """The start date and time (ISO 8601) of bytes 168-183 (``dd.mm.yy`` ``hh.mm.ss``; years
    85-99 are 19xx), or None when they do not read as one. Only these two fields of the
    header's identification part are ever read."""
    try:
        day, month, year = (int(v) for v in head[168:176].decode("ascii").split("."))
        hour, minute, second = (int(v) for v in head[176:184].decode("ascii").split("."))
        year += 1900 if year >= 85 else 2000
        return datetime.datetime(year, month, day, hour, minute, second).isoformat()
    except (ValueError, UnicodeDecodeError):
        return None
