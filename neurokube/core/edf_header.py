"""EDF/EDF+ header checks before any sample is read: precise reasons, bounded work.

pyedflib refuses a malformed file with one generic message ("it contains format
errors"). :func:`check_header` reads the 256-byte main header and the signal headers
itself, and refuses what cannot be right with the field and byte range that is wrong:
non-numeric or out-of-range counts, a record count that disagrees with the file's size
(truncated files, and files holding more records than the header says), non-finite or
float32-overflowing physical ranges, empty digital ranges, sampling rates outside what
the front end supports. It only looks at the header and the file size, so it is cheap and
cannot hang, and it runs before pyedflib opens the file.

Example::

    header = check_header("rec.edf", spec)     # EdfHeader, or RecordingError(stage="read")
    header.n_records, header.record_s, header.samples_per_record
"""
import dataclasses
import math
import os
import stat

from neurokube.core.errors import RecordingError

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


def _field(raw: bytes, start: int, width: int, what: str, parse):
    text = raw[start:start + width].decode("ascii", errors="replace").strip()
    try:
        value = parse(text)
    except ValueError:
        raise RecordingError(f"header field {what} (bytes {start}-{start + width - 1}) is "
                             f"not a number: {text!r}", stage="read") from None
    return value


def check_header(path: str, spec) -> EdfHeader:
    """Read and check the header of a local EDF/EDF+/BDF file (see the module doc).

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
        if head[:1] == b"0":
            bytes_per_sample = 2
        elif head[:8] == b"\xffBIOSEMI":
            bytes_per_sample = 3
        else:
            raise RecordingError(f"not an EDF file: version field (bytes 0-7) is "
                                 f"{head[:8]!r}, expected '0'", stage="read")
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

    def column(offset, width):
        base = 256 * 0 + offset * n_signals
        return [signals[base + k * width:base + (k + 1) * width] for k in range(n_signals)]

    labels = tuple(c.decode("latin-1").strip() for c in column(0, 16))
    names = {"physical minimum": 104, "physical maximum": 112, "digital minimum": 120,
             "digital maximum": 128}
    values = {}
    for what, offset in names.items():
        parse = float if what.startswith("physical") else int
        values[what] = [_field(c, 0, 8, f"{what} of signal {k + 1} ({labels[k]!r})", parse)
                        for k, c in enumerate(column(offset, 8))]
    samples = [_field(c, 0, 8, f"samples per record of signal {k + 1} ({labels[k]!r})", int)
               for k, c in enumerate(column(216, 8))]
    for k, label in enumerate(labels):
        if label in _ANNOTATIONS:
            continue
        where = f"signal {k + 1} ({label!r})"
        lo, hi = values["physical minimum"][k], values["physical maximum"][k]
        if not all(math.isfinite(v) and abs(v) <= MAX_PHYSICAL for v in (lo, hi)):
            raise RecordingError(f"{where}: physical range [{lo:g}, {hi:g}] is not finite or "
                                 f"overflows float32 (|value| > {MAX_PHYSICAL:g})",
                                 stage="read")
        if lo == hi:
            raise RecordingError(f"{where}: physical minimum equals maximum ({lo:g})",
                                 stage="read")
        dlo, dhi = values["digital minimum"][k], values["digital maximum"][k]
        if dlo >= dhi:
            raise RecordingError(f"{where}: digital range [{dlo}, {dhi}] is empty",
                                 stage="read")
        if samples[k] < 1:
            raise RecordingError(f"{where}: {samples[k]} samples per data record",
                                 stage="read")
    per_record = sum(samples) * bytes_per_sample
    data_bytes = size - header_bytes
    if n_records == -1:  # EDF+ "unknown" (a recording still being written): from the size
        n_records = data_bytes // per_record
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
                       bytes_per_sample=bytes_per_sample)
    for k, label in enumerate(labels):
        fs = header.fs_hz(k)
        if label not in _ANNOTATIONS and fs > spec.max_fs_hz:
            raise RecordingError(f"signal {k + 1} ({label!r}): sampling rate {fs:g} Hz is "
                                 f"above the supported {spec.max_fs_hz:g} Hz (refused before "
                                 "reading)", stage="read")
    return header
