"""One dead-letter record shape for every stage, transient-error retries, metrics namespace.

A recording that cannot be processed is never dropped: the stage that failed emits a
:class:`DeadLetter` on its ``DEAD_LETTER`` tagged output and bumps the counter
``dead_letters_<stage>`` under :data:`METRICS_NAMESPACE`. The writer at the end of the
pipeline collects them into ``dead_letters.jsonl`` beside the results.

Transient errors (:class:`TransientError`, ``ConnectionError``, ``TimeoutError``,
throttling and 5xx answers of Google APIs) are retried *inside the DoFn*, for the one
recording that hit them, with exponential backoff (:class:`RetryPolicy`); a failure that
persists past the last attempt becomes a dead letter like any other. Content errors are
dead letters at once. Why inside the DoFn rather than by failing the bundle: the Python
DirectRunner (FnApiRunner) fails the job on the first exception, and the FlinkRunner
fails the job (or, with a restart strategy, restarts it from the start) -- a retry of
one recording is both cheaper and the same on every runner. Runner-level retries
(Dataflow's, the bundle-based DirectRunner's) remain a second line of defence for what a
DoFn cannot catch (a lost worker); outputs are atomic and idempotent, so they never
duplicate a result.
"""
import dataclasses
import json
import logging
import time

import apache_beam as beam

METRICS_NAMESPACE = "neurokube"
DEAD_LETTER = "dead_letter"
MAIN = "main"

_LOG = logging.getLogger(__name__)


class RecordingError(ValueError):
    """A recording's content is unusable (bad header, missing electrodes, too short...).

    The message states the reason; the dead letter adds the path and the stage.
    """


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


def is_transient(exc):
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

    def backoff_s(self, attempt):
        """Wait after failed attempt ``attempt`` (1-based), s."""
        return min(self.max_backoff_s,
                   self.initial_backoff_s * self.multiplier ** (attempt - 1))

    def call(self, fn, *args, on_retry=None):
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

    def __init__(self, exc, attempts):
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

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=False)

    @classmethod
    def from_exception(cls, path, stage, exc):
        if isinstance(exc, RetriesExhausted):
            return cls(path=str(path), stage=stage, reason=str(exc))
        return cls(path=str(path), stage=stage, reason=f"{type(exc).__name__}: {exc}")


def counter(name):
    """A Beam counter under the project's metrics namespace."""
    return beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)


def distribution(name):
    """A Beam distribution under the project's metrics namespace (integer values)."""
    return beam.metrics.Metrics.distribution(METRICS_NAMESPACE, name)


class StageDoFn(beam.DoFn):
    """Base DoFn that retries transient failures and turns the rest into dead letters.

    Subclasses implement :meth:`run`, which receives the element and yields outputs; it
    must be safe to call again for the same element (outputs are collected per attempt,
    writes are atomic). Transient errors (:func:`is_transient`) retry :meth:`run` under
    ``retry_policy``; input errors (:class:`RecordingError`, ``ValueError``,
    ``OSError``...), any other exception, and a transient error that outlasts the
    policy become one :class:`DeadLetter` on the ``DEAD_LETTER`` output: one bad file
    never stops the job. ``path_of`` extracts the recording's path for the record.
    """

    stage = "unknown"

    def __init__(self, retry_policy=None):
        super().__init__()
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY
        self._failed = counter(f"dead_letters_{self.stage}")
        self._retries = counter("transient_retries")

    def _on_retry(self, exc, attempt):
        self._retries.inc()
        _LOG.warning("transient failure (attempt %d of %d) [%s]: %s: %s", attempt,
                     self.retry_policy.max_attempts, self.stage, type(exc).__name__, exc)

    @staticmethod
    def path_of(element):
        return element.path if hasattr(element, "path") else str(element)

    def run(self, element):
        raise NotImplementedError

    def process(self, element):
        try:
            outputs = self.retry_policy.call(lambda: list(self.run(element)),
                                             on_retry=self._on_retry)
        except Exception as exc:  # noqa: BLE001 - every failure must become a dead letter
            letter = DeadLetter.from_exception(self.path_of(element), self.stage, exc)
            _LOG.warning("dead letter: %s [%s] %s", letter.path, letter.stage, letter.reason)
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
            return
        yield from outputs
