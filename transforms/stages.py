"""The one dead-letter stage helper of every composite: retries, counters, tagged outputs.

A stage applies a function ``fn(element) -> iterable of outputs`` to each element. Outputs
stream out as ``fn`` yields them (a 24-hour recording's chunks are never collected first).
A transient error (:func:`~neurokube.core.errors.is_transient`) retries the element under
the stage's :class:`~neurokube.core.errors.RetryPolicy`; outputs an earlier attempt
already emitted are not emitted again (``fn`` must yield the same outputs in the same order
for the same element). Any other exception, and a transient one that outlasts the policy,
becomes one :class:`~neurokube.core.errors.DeadLetter` on the ``DEAD_LETTER`` output and
bumps ``dead_letters_<stage>`` under :data:`METRICS_NAMESPACE`: one bad recording never
stops the job, and every element ends as outputs or one dead letter.

Example Usage::

    out = paths | "Read" >> Stage("read", read_fn)
    out[MAIN], out[DEAD_LETTER]
"""
import logging
import time
from typing import Any, Callable, Iterable

import apache_beam as beam

from neurokube.core.errors import (
    DEFAULT_RETRY_POLICY, METRICS_NAMESPACE, DeadLetter, RecordingError, RetriesExhausted,
    RetryPolicy, is_transient)

DEAD_LETTER = "dead_letter"
MAIN = "main"

_LOG = logging.getLogger(__name__)


def counter(name: str) -> beam.metrics.Metrics.DelegatingCounter:
    """A Beam counter under the project's metrics namespace."""
    return beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)


def distribution(name: str) -> beam.metrics.Metrics.DelegatingDistribution:
    """A Beam distribution under the project's metrics namespace (integer values)."""
    return beam.metrics.Metrics.distribution(METRICS_NAMESPACE, name)


def path_of(element: Any) -> str:
    """The recording an element stands for: its ``path`` (a source's name), that of the
    first item of a tuple, or the element itself."""
    if isinstance(element, tuple) and element:
        element = element[0]
    return element.path if hasattr(element, "path") else str(element)


def dead_letter(element: Any, stage: str, exc: BaseException) -> DeadLetter:
    """The dead letter of ``element`` failing in ``stage`` with ``exc``.

    A :class:`RecordingError` that names its own stage (``exc.stage``) keeps it: a read
    failure found while computing features is reported as ``read``.
    """
    stage = getattr(exc, "stage", None) or stage
    letter = DeadLetter.from_exception(path_of(element), stage, exc)
    _LOG.warning("dead letter: %s [%s] %s", letter.path, letter.stage, letter.reason)
    return letter


class StageFn(beam.DoFn):
    """Apply ``fn`` to every element; failures become dead letters (see module doc).

    Parameters
    ----------
    stage : str
        Stage name recorded in dead letters (``list``, ``read``, ``montage``,
        ``features``, ``inference``, ``write``...).
    fn : callable
        ``fn(element)`` returns an iterable of outputs. Heavy state belongs in
        ``setup_fn``.
    setup_fn : callable, optional
        Called once per DoFn instance in ``setup`` (e.g. to load a model); its result is
        passed to ``fn`` as a second argument.
    retry_policy : RetryPolicy, optional
    """

    def __init__(self, stage: str, fn: Callable, setup_fn: Callable | None = None,
                 retry_policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self.stage, self._fn, self._setup_fn = stage, fn, setup_fn
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY
        self._state = None
        self._failed = counter(f"dead_letters_{stage}")
        self._retries = counter("transient_retries")

    def setup(self) -> None:
        if self._setup_fn is not None:
            self._state = self._setup_fn()

    def _outputs(self, element) -> Iterable:
        if self._setup_fn is None:
            return self._fn(element)
        return self._fn(element, self._state)

    def process(self, element):
        emitted, policy = 0, self.retry_policy
        for attempt in range(1, policy.max_attempts + 1):
            try:
                for k, out in enumerate(self._outputs(element)):
                    if k >= emitted:
                        emitted += 1
                        yield out
                return
            except Exception as exc:  # noqa: BLE001 - every failure must become a dead letter
                if is_transient(exc) and attempt < policy.max_attempts:
                    self._retries.inc()
                    _LOG.warning("transient failure (attempt %d of %d) [%s]: %s: %s",
                                 attempt, policy.max_attempts, self.stage,
                                 type(exc).__name__, exc)
                    time.sleep(policy.backoff_s(attempt))
                    continue
                if is_transient(exc):
                    exc = RetriesExhausted(exc, attempt)
                # Outputs already emitted are dropped downstream, where a recording's
                # parts are assembled: an incomplete recording has a dead letter.
                self._failed.inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(element, self.stage, exc))
                return


class Stage(beam.PTransform):
    """``pcoll | Stage(stage, fn)`` -> ``{MAIN: outputs, DEAD_LETTER: DeadLetter}``.

    Example Usage::

        written = detections | "Write" >> Stage("write", write_one, output_type=str)
    """

    def __init__(self, stage: str, fn: Callable, setup_fn: Callable | None = None,
                 output_type: Any = None, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self._do_fn = StageFn(stage, fn, setup_fn, retry_policy)
        self._output_type = output_type

    def expand(self, pcoll):
        do = beam.ParDo(self._do_fn)
        if self._output_type is not None:
            do = do.with_output_types(self._output_type)
        out = pcoll | do.with_outputs(DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], DEAD_LETTER: out[DEAD_LETTER]}


def flatten_dead_letters(label: str,
                         *stages: dict[str, beam.PCollection] | beam.PCollection
                         ) -> beam.PCollection:
    """One PCollection of the dead letters of several stage results (dicts or PCollections)."""
    parts = tuple(s[DEAD_LETTER] if isinstance(s, dict) else s for s in stages)
    return parts | label >> beam.Flatten().with_output_types(DeadLetter)



class stage_of:  # noqa: N801 - used as a context manager, like contextlib helpers
    """Tag exceptions raised inside the block (of the given types) with ``stage``.

    Example::

        with stage_of("write", when=(OSError,)):
            atomic_write_bytes(path, payload)
    """

    def __init__(self, stage: str,
                 when: Iterable[type[BaseException]] = (Exception,)) -> None:
        self._stage, self._when = stage, tuple(when)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, self._when) and getattr(
                exc, "stage", None) is None:
            try:
                exc.stage = self._stage
            except AttributeError:  # exceptions with __slots__: keep the stage found
                pass
        return False


__all__ = ["DEAD_LETTER", "MAIN", "METRICS_NAMESPACE", "RecordingError", "Stage", "StageFn",
           "counter", "dead_letter", "distribution", "flatten_dead_letters", "path_of",
           "stage_of"]
