"""Errors, the retry policy for transient failures, and the one dead-letter record shape.

A recording that cannot be processed is never dropped: the stage that failed turns the
exception into a :class:`DeadLetter` (see :mod:`neurokube.transforms.stages`), and the writer
at the end of the pipeline collects them into ``dead_letters.jsonl`` beside the results.

Transient errors (:class:`TransientError`, ``ConnectionError``, ``TimeoutError``,
throttling and 5xx answers of Google APIs) are retried for the one recording that hit
them, with exponential backoff (:class:`RetryPolicy`); a failure that persists past the
last attempt becomes a dead letter like any other. Content errors are dead letters at
once. Why per recording rather than by failing the bundle: the Python DirectRunner fails
the job on the first exception, and the FlinkRunner fails the job (or, with a restart
strategy, restarts it from the start); a retry of one recording is cheaper and the same
on every runner.
"""
import dataclasses
import json
import logging
import os
import time
from typing import Any, Callable, Optional, TypeVar

# The namespace of every counter and distribution the jobs report.
METRICS_NAMESPACE = "neurokube"
# Where a recording can fail, in the order of its way through a job.
STAGES = ("list", "read", "montage", "features", "inference", "postprocess", "write",
          "examples")

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


class RecordingError(ValueError):
    """A recording's content is unusable (bad header, too few channels, too short...).

    The message states the reason; the dead letter adds the path. ``stage`` names where
    the problem lies (one of :data:`STAGES`) when it differs from the stage that found it
    (a header error found while computing features is a ``read`` failure).
    """

    def __init__(self, message: str, stage: str | None = None) -> None:
        super().__init__(message)
        if stage is not None and stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
        self.stage = stage


class TransientError(Exception):
    """A failure that may go away if the same work is tried again (network, throttling).

    Raise it (or let ``ConnectionError`` / ``TimeoutError`` through) from a stage to have
    the recording retried under the stage's :class:`RetryPolicy` before it becomes a
    dead letter.
    """


def _transient_types():
    types = [TransientError, ConnectionError, TimeoutError]
    try:  # Google API answers that mean "try again" (GCS through Beam's FileSystems)
        from google.api_core import exceptions as gexc
        types += [gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway,
                  gexc.ServiceUnavailable, gexc.GatewayTimeout]
    except ImportError:  # pragma: no cover - google-cloud extras not installed
        pass
    return tuple(types)


TRANSIENT_ERRORS = _transient_types()


def is_transient(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` (or the exception it was raised from) is worth retrying."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, TRANSIENT_ERRORS):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often a recording hitting transient errors is tried, and the waits between.

    Attributes
    ----------
    max_attempts : int
        Tries in all (1 = no retry).
    initial_backoff_s : float
        Wait before the second try, s; each later wait is ``multiplier`` times longer.
    multiplier : float
    max_backoff_s : float
        Longest single wait, s.

    Example::

        RetryPolicy(max_attempts=3).call(fetch, path)
    """

    max_attempts: int = 3
    initial_backoff_s: float = 1.0
    multiplier: float = 4.0
    max_backoff_s: float = 60.0

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be non-negative and multiplier at least 1")

    def backoff_s(self, attempt: int) -> float:
        """Wait after failed attempt ``attempt`` (1-based), s."""
        return min(self.max_backoff_s,
                   self.initial_backoff_s * self.multiplier ** (attempt - 1))

    def call(self, fn: Callable[..., _T], *args: Any,
             on_retry: Optional[Callable[[Exception, int], Any]] = None) -> _T:
        """``fn(*args)``, tried again on transient errors; the last error propagates.

        A transient error that outlasts ``max_attempts`` is re-raised wrapped in
        :class:`RetriesExhausted` (its message says how many attempts were made).
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised unless transient
                if not is_transient(exc):
                    raise
                if attempt == self.max_attempts:
                    raise RetriesExhausted(exc, attempt) from exc
                if on_retry is not None:
                    on_retry(exc, attempt)
                time.sleep(self.backoff_s(attempt))
        raise AssertionError("unreachable")


class RetriesExhausted(Exception):
    """A transient error that persisted through every attempt of a :class:`RetryPolicy`."""

    def __init__(self, exc: BaseException, attempts: int) -> None:
        super().__init__(f"{type(exc).__name__}: {exc} (transient; gave up after "
                         f"{attempts} attempts)")
        self.attempts = attempts


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """Why one input recording produced no result.

    Attributes
    ----------
    path : str
        The input recording's path or URL, as matched.
    stage : str
        The stage that failed (``read``, ``montage``, ``features``, ``infer``, ``write``...).
    reason : str
        A human-readable reason, starting with the exception type.
    """

    path: str
    stage: str
    reason: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=False)

    @classmethod
    def from_exception(cls, path: str | os.PathLike[str], stage: str,
                       exc: BaseException) -> "DeadLetter":
        """A dead letter whose reason starts with the exception's type (exceptions whose
        message is already a full reason, such as :class:`RetriesExhausted`, keep it)."""
        if isinstance(exc, RetriesExhausted) or getattr(exc, "full_reason", False):
            return cls(path=str(path), stage=stage, reason=str(exc))
        return cls(path=str(path), stage=stage, reason=f"{type(exc).__name__}: {exc}")
