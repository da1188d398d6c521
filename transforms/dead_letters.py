"""One dead-letter record shape for every stage, and the metrics namespace.

A recording that cannot be processed is never dropped: the stage that failed emits a
:class:`DeadLetter` on its ``DEAD_LETTER`` tagged output and bumps the counter
``dead_letters_<stage>`` under :data:`METRICS_NAMESPACE`. The writer at the end of the
pipeline collects them into ``dead_letters.jsonl`` beside the results.
"""
import dataclasses
import json
import logging

import apache_beam as beam

METRICS_NAMESPACE = "neurokube"
DEAD_LETTER = "dead_letter"
MAIN = "main"

_LOG = logging.getLogger(__name__)


class RecordingError(ValueError):
    """A recording's content is unusable (bad header, missing electrodes, too short...).

    The message states the reason; the dead letter adds the path and the stage.
    """


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
        return cls(path=str(path), stage=stage, reason=f"{type(exc).__name__}: {exc}")


def counter(name):
    """A Beam counter under the project's metrics namespace."""
    return beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)


def distribution(name):
    """A Beam distribution under the project's metrics namespace (integer values)."""
    return beam.metrics.Metrics.distribution(METRICS_NAMESPACE, name)


class StageDoFn(beam.DoFn):
    """Base DoFn that turns a failure of one recording into a dead letter.

    Subclasses implement :meth:`run`, which receives the element and yields outputs.
    Input errors (:class:`RecordingError`, ``ValueError``, ``OSError``...) and any other
    exception raised for a recording become one :class:`DeadLetter` on the
    ``DEAD_LETTER`` output: one bad file never stops the job. ``path_of`` extracts the
    recording's path from the element for the record.
    """

    stage = "unknown"

    def __init__(self):
        super().__init__()
        self._failed = counter(f"dead_letters_{self.stage}")

    @staticmethod
    def path_of(element):
        return element.path if hasattr(element, "path") else str(element)

    def run(self, element):
        raise NotImplementedError

    def process(self, element):
        try:
            outputs = list(self.run(element))
        except Exception as exc:  # noqa: BLE001 - every failure must become a dead letter
            letter = DeadLetter.from_exception(self.path_of(element), self.stage, exc)
            _LOG.warning("dead letter: %s [%s] %s", letter.path, letter.stage, letter.reason)
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
            return
        yield from outputs
