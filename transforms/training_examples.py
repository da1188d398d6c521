"""Training examples: annotated recordings -> serialized ``tf.train.Example`` records.

One example per recording (never per window), built through the same feature path as
``label`` (:func:`~neurokube.core.feature_stream.iter_feature_chunks`, whole): its 1 s
steps relative to each channel's recording levels (standardisation is measured and
applied when training), per-channel and term step labels, and its term
seizure events (for scoring the dev set). Windows are cut at training time.

Example Usage::

    examples = sources | BuildExamples(spec, config)
    _ = examples[MAIN] | beam.io.WriteToTFRecord(prefix)
"""
from typing import TYPE_CHECKING, Iterable

import apache_beam as beam
import numpy as np

from neurokube.core.edf import open_recording
from neurokube.core.feature_spec import TCP_CHANNELS
from neurokube.core.feature_stream import iter_feature_chunks
from neurokube.core.formats import SEIZ, biclass_label, read_annotation
from neurokube.core.model_inputs import (
    apply_reference, chunk_reference, step_labels, to_steps)
from neurokube.core.paths import exists
from neurokube.transforms.stages import Stage, counter

if TYPE_CHECKING:
    import tensorflow as tf

    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.formats import Annotation
    from neurokube.models.config import ModelConfig

TERM_SUFFIXES = (".csv_bi", ".tse_bi", ".tse", ".lbl_bi")
CHANNEL_SUFFIXES = (".csv", ".lbl")
# Training recordings are held whole, one at a time.
_WHOLE_RECORDING_S = float("inf")


def find_annotation(edf_url: str, suffixes: Iterable[str]) -> str | None:
    """The first existing sibling of ``edf_url`` with one of ``suffixes``, or None."""
    stem = edf_url.rsplit(".", 1)[0]
    for suffix in suffixes:
        if exists(stem + suffix):
            return stem + suffix
    return None


def seizure_intervals(annotation: "Annotation",
                      channel: str | None = None) -> list[tuple[float, float]]:
    """(start_s, stop_s) of the seizure events of one channel (or the term events)."""
    return [(e.start_s, e.stop_s) for e in annotation.events
            if (channel is None or e.channel.upper() == channel)
            and biclass_label(e.label, annotation.source or annotation.bname) == SEIZ]


def recording_labels(edf_url: str, n_steps: int, step_s: float
                     ) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]], float]:
    """Term labels (S,), per-channel labels (22, S) and the term seizure intervals.

    Channel labels come from the per-channel annotation when there is one, else every
    channel takes the term labels.

    Raises
    ------
    FileNotFoundError
        The recording has no term annotation beside it.
    """
    term_path = find_annotation(edf_url, TERM_SUFFIXES)
    if term_path is None:
        raise FileNotFoundError(f"no term annotation ({', '.join(TERM_SUFFIXES)}) "
                                f"beside {edf_url}")
    term = read_annotation(term_path)
    intervals = seizure_intervals(term)
    term_labels = step_labels(intervals, n_steps, step_s)
    channel_path = find_annotation(edf_url, CHANNEL_SUFFIXES)
    if channel_path is None:
        channel = np.tile(term_labels, (len(TCP_CHANNELS), 1))
    else:
        per_channel = read_annotation(channel_path)
        channel = np.stack([step_labels(seizure_intervals(per_channel, name), n_steps, step_s)
                            for name in TCP_CHANNELS])
    return term_labels, channel, intervals, term.duration_s


def _bytes_feature(values):
    import tensorflow as tf
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int_feature(values):
    import tensorflow as tf
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _float_feature(values):
    import tensorflow as tf
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def make_example(path: str, steps: np.ndarray, mask: np.ndarray, term_labels: np.ndarray,
                 channel_labels: np.ndarray, intervals: list[tuple[float, float]],
                 duration_s: float) -> "tf.train.Example":
    """One recording as a ``tf.train.Example`` (arrays as raw float32/int8 bytes)."""
    import tensorflow as tf
    feature = {
        "path": _bytes_feature([path.encode()]),
        "shape": _int_feature(steps.shape),
        "steps": _bytes_feature([np.ascontiguousarray(steps, np.float32).tobytes()]),
        "mask": _int_feature(np.asarray(mask, np.int64)),
        "term_labels": _int_feature(term_labels),
        "channel_labels": _bytes_feature([np.asarray(channel_labels, np.int8).tobytes()]),
        "seizures_s": _float_feature(np.asarray(intervals, np.float64).reshape(-1)),
        "duration_s": _float_feature([duration_s]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


class _ExampleOne:
    def __init__(self, spec, config):
        self._spec, self._config = spec, config
        self._made = counter("training_examples")

    def __call__(self, source):
        with open_recording(source.url, self._spec) as src:
            (chunk,) = iter_feature_chunks(src, self._spec, _WHOLE_RECORDING_S)
        referenced = apply_reference(chunk.features, chunk_reference(chunk, self._config),
                                     self._config)
        steps = to_steps(referenced, self._config)
        term, channel, intervals, _ = recording_labels(source.url, steps.shape[1],
                                                       self._config.step_s)
        channel = channel * np.asarray(chunk.mask, np.int64)[:, None]
        self._made.inc()
        yield make_example(source.name, steps, chunk.mask, term, channel, intervals,
                           chunk.duration_s).SerializeToString()


class BuildExamples(beam.PTransform):
    """Sources (EDFs with annotations beside them) -> serialized training examples.

    Returns ``{MAIN: bytes, DEAD_LETTER: dead letters}``.
    """

    def __init__(self, spec: "FeatureSpec", config: "ModelConfig") -> None:
        super().__init__()
        self._fn = _ExampleOne(spec, config)

    def expand(self, sources):
        return sources | "MakeExamples" >> Stage("examples", self._fn, output_type=bytes)
