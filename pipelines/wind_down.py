"""Bound the wait for worker processes after Ctrl-C.

After the first Ctrl-C, Beam's runner closes its workers and waits for each worker
process to exit. A worker that missed its shutdown message waits for it forever, and so
would the job (observed with the FnApiRunner's workers when Ctrl-C comes in a job's
first seconds: 8 of 30 such interrupts of ``stream`` hung). :func:`bounded_wind_down`
gives the workers ``wind_down_s`` seconds after each Ctrl-C, then terminates the
processes this one started (read from ``/proc``; where there is none, it does nothing),
which lets the runner's own clean-up finish.
"""
import contextlib
import os
import signal
import threading
from typing import Iterator


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children first), from ``/proc``; [] where unreadable."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(0), [])
        found += below
        todo += below
    return found


def terminate_descendants() -> list[int]:
    """Send SIGTERM to every process below this one; returns their ids."""
    pids = descendants(os.getpid())
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    return pids


@contextlib.contextmanager
def bounded_wind_down(wind_down_s: float) -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` as usual and, if the block
    has not ended ``wind_down_s`` seconds later, terminates this process's descendants.

    Once they are terminated, the exceptions of threads that ended because of it (the
    runner's "worker subprocess exited" and broken control streams) are not printed.
    Only in the main thread with Python's default SIGINT handler; otherwise a no-op.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    timers: list[threading.Timer] = []
    terminated = threading.Event()
    usual_hook = threading.excepthook

    def terminate():
        terminated.set()
        terminate_descendants()

    def interrupted(signum, frame):
        timer = threading.Timer(wind_down_s, terminate)
        timer.daemon = True
        timer.start()
        timers.append(timer)
        raise KeyboardInterrupt

    def thread_ended(args):
        if not terminated.is_set():
            usual_hook(args)

    signal.signal(signal.SIGINT, interrupted)
    threading.excepthook = thread_ended
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for timer in timers:
            timer.cancel()
        threading.excepthook = usual_hook
