"""What a person sees while a job runs: its own lines, a progress line, a closing table.

By default (``--log-level`` above ``DEBUG``) the C++ and Python log lines of TensorFlow,
absl and Beam's workers, the traceback Beam's SDK worker prints for a bundle it can no
longer release when a streaming job stops, and the one a worker prints when a Flink job
closes its data channel, are filtered out of stderr (the worker
processes write to the same file descriptor, so the filter sits on descriptor 2 itself);
``--log-level DEBUG`` shows everything. :class:`Progress` prints one line updated as
recordings finish (done/total, EEG-hours, real-time factor, ETA), redrawn in place on a
terminal and as plain lines every ``plain_every_s`` otherwise.

Example::

    with quiet(args.log_level), Progress(output_dir, total=len(inputs)):
        run_the_pipeline()
"""
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any, Iterable, Iterator, TextIO

# Log lines of TensorFlow/absl (C++: "I0000 00:00:...", "W1130 ..."), their preamble, and
# Beam's worker-log forwarding.
_NOISE = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ |WARNING: All log messages before absl|"
    r"To enable the following instructions|This TensorFlow binary is optimized|"
    r"(WARNING|INFO|DEBUG|ERROR)[: ](apache_beam|absl|tensorflow|root)\b|"
    r"WARNING:apache_beam|INFO:apache_beam)")
_BEAM_WORKER = "apache_beam/runners/worker/"
_RELEASED_BUNDLE = re.compile(r"^KeyError: '[^']*bundle[^']*'$")
# A worker's data channel the runner closed at the end of a job (Flink), and the header
# Python prints above a thread's traceback.
_RENDEZVOUS = re.compile(r"^grpc\._channel\._MultiThreadedRendezvous: <")
_HANGUP = (b"StatusCode.CANCELLED", b'"Multiplexer hanging up"')
_THREAD_HEADER = re.compile(r"^Exception in thread [\w.-]+:$")
_QUIET_LOGGERS = ("apache_beam", "absl", "tensorflow", "neurokube.transforms.stages")


class _StderrFilter:
    """Line filter for descriptor 2: drops framework log lines and two Beam tracebacks.

    When a streaming job is stopped, Beam's SDK worker may report, as a traceback that
    starts in the worker and ends in ``KeyError: 'bundle_...'``, a bundle the stopping
    runner had already dropped. When a Flink job ends, a worker thread reading its data
    channel may report the channel's end (a traceback through Beam's ``data_plane.py``
    ending in gRPC's ``CANCELLED`` "Multiplexer hanging up"), under Python's
    ``Exception in thread ...:`` header. Both are noise, whatever the timing. Every other
    traceback passes whole, and so does one whose lines another writer interleaved with a
    line that is not an exception line. Lines pass as the bytes they were written.
    """

    def __init__(self):
        self._block: list[bytes] | None = None  # the traceback being read, if any
        self._tail: list[bytes] | None = None   # a gRPC error's indented lines, then ">"
        self._header: bytes | None = None        # "Exception in thread ...:", held
        self._drop_blank = False

    def feed(self, line: bytes) -> list[bytes]:
        """Return what to show for one more input line (``line`` keeps its newline)."""
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if (self._tail is not None or self._block is not None) and _NOISE.match(text):
            return []  # a worker's log line written into a traceback: dropped as ever
        if self._tail is not None:
            return self._feed_tail(line, text)
        if self._block is not None:
            self._block.append(line)
            if text[:1] in (" ", "\t"):  # frames and their source lines are indented
                return []
            return self._end_block(text)
        header, self._header = self._header, None
        if text == "Traceback (most recent call last):":
            self._block = ([header] if header else []) + [line]
            return []
        shown = [header] if header else []
        if _THREAD_HEADER.match(text):
            self._header = line
            return shown
        if self._drop_blank and not text.strip():
            self._drop_blank = False
            return shown
        self._drop_blank = False
        return shown + ([] if _NOISE.match(text) else [line])

    def finish(self) -> list[bytes]:
        """Return what is left to show when the input ends."""
        left = [self._header] if self._header else []
        left += (self._block or []) + (self._tail or [])
        self._header = self._block = self._tail = None
        return left

    def _end_block(self, last: str) -> list[bytes]:
        block, self._block = self._block, None
        frames = [line.decode("utf-8", "replace").strip().replace("\\", "/") for line in block
                  if line.lstrip().startswith(b'File "')]
        if (_RELEASED_BUNDLE.match(last) and frames
                and _BEAM_WORKER in frames[0]):
            self._drop_blank = True  # the worker prints its traceback and a blank line
            return []
        if _RENDEZVOUS.match(last) and any(f"{_BEAM_WORKER}data_plane.py" in f
                                           for f in frames):
            self._tail = block  # decided once its status and details are read
            return []
        return block

    def _feed_tail(self, line: bytes, text: str) -> list[bytes]:
        self._tail.append(line)
        if text[:1] == "\t":
            return []
        tail, self._tail = self._tail, None
        if text == ">" and all(any(mark in part for part in tail) for mark in _HANGUP):
            return []
        return tail


def _pump(read_fd, write_fd):
    """Copy ``read_fd`` to ``write_fd`` through :class:`_StderrFilter`; closes both."""
    lines_filter = _StderrFilter()
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as source:
            pending = b""
            while True:
                block = source.read(65536)
                if not block:
                    break
                pending += block
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    for shown in lines_filter.feed(line + b"\n"):
                        os.write(write_fd, shown)
            shown = lines_filter.feed(pending) if pending else []
            for line in shown + lines_filter.finish():
                os.write(write_fd, line)
    finally:
        os.close(write_fd)


@contextlib.contextmanager
def quiet(log_level: str = "WARNING") -> Iterator[None]:
    """Filter framework noise from stderr (descriptor 2) for the duration of the block."""
    if log_level == "DEBUG":
        yield
        return
    for var, value in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("TF_ENABLE_ONEDNN_OPTS", "0")):
        os.environ.setdefault(var, value)
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    # The pump writes to its own copy of the terminal's descriptor: if a writer that
    # outlives the block keeps it running, it never writes into a file opened later.
    pump = threading.Thread(target=_pump, args=(read_fd, os.dup(saved)), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the pump drains and ends
        pump.join(timeout=5)
        os.close(saved)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _eta(seconds):
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" \
        if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """A progress line for a local output folder, from the result records as they land.

    Parameters
    ----------
    output_dir : str
    total : int
        Recordings of the run.
    suffix : str
        The file a finished recording leaves (``.result.json`` for ``label``).
    """

    def __init__(self, output_dir: str, total: int, suffix: str = ".result.json",
                 stream: TextIO | None = None, interval_s: float = 1.0,
                 plain_every_s: float = 30.0) -> None:
        self._dir, self._total, self._suffix = str(output_dir), total, suffix
        self._stream = stream or sys.stdout
        self._interval_s, self._plain_every_s = interval_s, plain_every_s
        self._tty = self._stream.isatty()
        self._seen, self._hours = set(), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = 0.0

    def _scan(self):
        if "://" in self._dir or not os.path.isdir(self._dir):
            return
        for top, _, files in os.walk(self._dir):
            for name in files:
                if name.endswith(self._suffix):
                    path = os.path.join(top, name)
                    if path in self._seen or os.path.getmtime(path) < self._started:
                        continue
                    self._seen.add(path)
                    try:
                        with open(path, encoding="utf-8") as handle:
                            self._hours += json.load(handle).get("duration_s", 0.0) / 3600
                    except (OSError, ValueError):
                        pass

    def line(self) -> str:
        elapsed = max(time.time() - self._started, 1e-9)
        done = len(self._seen)
        rate = self._hours * 3600 / elapsed
        eta = (self._total - done) * elapsed / done if done else None
        return (f"{done}/{self._total} recordings, {self._hours:.2f} EEG-hours, "
                f"{rate:,.0f}x real time, ETA {_eta(eta)}")

    def _loop(self):
        last_plain = time.time()
        while not self._stop.wait(self._interval_s):
            self._scan()
            if self._tty:
                self._stream.write("\r" + self.line() + "\x1b[K")
                self._stream.flush()
            elif time.time() - last_plain >= self._plain_every_s:
                self._stream.write(self.line() + "\n")
                self._stream.flush()
                last_plain = time.time()

    def __enter__(self):
        self._started = time.time() - 1.0
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self._scan()
        if self._tty:
            self._stream.write("\r\x1b[K")
        return False


def print_dead_letters(letters: Iterable[dict[str, Any]],
                       stream: TextIO | None = None) -> None:
    """Each dead letter on one plain line: name, stage, reason."""
    stream = stream or sys.stdout
    for letter in letters:
        stream.write(f"dead letter: {letter['path']} [{letter['stage']}] {letter['reason']}\n")


def print_results_table(rows: list[dict[str, Any]], unlisted: int = 0,
                        stream: TextIO | None = None) -> None:
    """Recording, duration, events, seizure seconds, one line per row; then how many
    recordings are not listed (``unlisted``)."""
    stream = stream or sys.stdout
    if not rows:
        return
    width = min(60, max(len(r["name"]) for r in rows))
    stream.write(f"{'recording':<{width}} {'duration s':>10} {'events':>6} "
                 f"{'seizure s':>9}\n")
    for r in rows:
        name = r["name"] if len(r["name"]) <= width else "..." + r["name"][-(width - 3):]
        stream.write(f"{name:<{width}} {r['duration_s']:>10.1f} {r['events']:>6d} "
                     f"{r['seizure_s']:>9.1f}\n")
    if unlisted:
        stream.write(f"... and {unlisted} more recordings (see run.json and the report)\n")
