"""Training examples: annotated recordings -> serialized ``tf.train.Example`` records.

One example per recording (never per window): its normalised 1 s steps for P1, its
step summaries for P2, per-channel and term step labels, and its term seizure events
(for scoring the dev set). Windows are cut at training time.

Example Usage::

    examples = paths | BuildExamples(spec, config)
    _ = examples[MAIN] | beam.io.WriteToTFRecord(prefix)
"""
import pathlib

import apache_beam as beam
import numpy as np

from neurokube.models.inputs import step_labels, step_summaries, to_steps
from neurokube.transforms.annotations import (
    SEIZ, biclass_label, read_annotation)
from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, StageDoFn, counter
from neurokube.transforms.edf_io import open_recording
from neurokube.transforms.feature_spec import TCP_CHANNELS
from neurokube.transforms.model_inputs import iter_model_inputs

TERM_SUFFIXES = (".csv_bi", ".tse_bi", ".tse", ".lbl_bi")
CHANNEL_SUFFIXES = (".csv", ".lbl")
# Whole recordings: training recordings are held in memory one at a time.
_WHOLE_RECORDING_S = float("inf")


def find_annotation(edf_path, suffixes):
    """The first existing sibling of ``edf_path`` with one of ``suffixes``, or None."""
    stem = pathlib.Path(edf_path).with_suffix("")
    for suffix in suffixes:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    return None


def seizure_intervals(annotation, channel=None):
    """(start_s, stop_s) of the seizure events of one channel (or the term events)."""
    return [(e.start_s, e.stop_s) for e in annotation.events
            if (channel is None or e.channel.upper() == channel)
            and biclass_label(e.label, annotation.source or annotation.bname) == SEIZ]


def recording_labels(edf_path, n_steps, step_s):
    """Term labels (S,), per-channel labels (22, S) and the term seizure intervals.

    Channel labels come from the per-channel annotation when there is one, else every
    channel takes the term labels.

    Raises
    ------
    FileNotFoundError
        The recording has no term annotation beside it.
    """
    term_path = find_annotation(edf_path, TERM_SUFFIXES)
    if term_path is None:
        raise FileNotFoundError(f"no term annotation ({', '.join(TERM_SUFFIXES)}) "
                                f"beside {edf_path}")
    term = read_annotation(term_path)
    intervals = seizure_intervals(term)
    term_labels = step_labels(intervals, n_steps, step_s)
    channel_path = find_annotation(edf_path, CHANNEL_SUFFIXES)
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


def make_example(path, steps, summaries, mask, term_labels, channel_labels, intervals,
                 duration_s):
    """One recording as a ``tf.train.Example`` (arrays as raw float32/int8 bytes)."""
    import tensorflow as tf
    feature = {
        "path": _bytes_feature([path.encode()]),
        "shape": _int_feature(steps.shape),
        "summary_values": _int_feature([summaries.shape[-1]]),
        "steps": _bytes_feature([np.ascontiguousarray(steps, np.float32).tobytes()]),
        "summaries": _bytes_feature([np.ascontiguousarray(summaries, np.float32).tobytes()]),
        "mask": _int_feature(np.asarray(mask, np.int64)),
        "term_labels": _int_feature(term_labels),
        "channel_labels": _bytes_feature([np.asarray(channel_labels, np.int8).tobytes()]),
        "seizures_s": _float_feature(np.asarray(intervals, np.float64).reshape(-1)),
        "duration_s": _float_feature([duration_s]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


class _ExampleFn(StageDoFn):
    stage = "examples"

    def __init__(self, spec, config):
        super().__init__()
        self._spec, self._config = spec, config
        self._made = counter("training_examples")

    def run(self, path):
        with open_recording(path, self._spec) as src:
            (chunk,) = iter_model_inputs(src, self._spec, self._config, _WHOLE_RECORDING_S)
        steps = to_steps(chunk.features, self._config)
        summaries = step_summaries(chunk.features, self._config)
        term, channel, intervals, _ = recording_labels(path, steps.shape[1],
                                                       self._config.step_s)
        channel = channel * np.asarray(chunk.mask, np.int64)[:, None]
        self._made.inc()
        yield make_example(path, steps, summaries, chunk.mask, term, channel, intervals,
                           chunk.duration_s).SerializeToString()


class _BuildExamples(beam.PTransform):
    """Paths -> serialized examples through one example DoFn; dead letters beside."""

    _fn_class = None

    def __init__(self, spec, config):
        super().__init__()
        self._fn = self._fn_class(spec, config)

    def expand(self, paths):
        out = paths | "MakeExamples" >> beam.ParDo(self._fn).with_output_types(
            bytes).with_outputs(DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], DEAD_LETTER: out[DEAD_LETTER]}


class BuildExamples(_BuildExamples):
    """EDF paths (with annotations beside them) -> serialized training examples.

    Returns ``{MAIN: bytes, DEAD_LETTER: dead letters}``.
    """

    _fn_class = _ExampleFn

BONN_FS_HZ = 173.61
BONN_SEIZURE_SET = "S"
BONN_SETS = ("Z", "O", "N", "F", "S")


def bonn_paths(bonn_dir, numbers):
    """Sorted paths of the Bonn segment files with the given numbers, all five sets."""
    root = pathlib.Path(bonn_dir)
    paths = []
    for name in BONN_SETS:
        for n in numbers:
            found = [p for p in (root / name / f"{name}{n:03d}.txt",
                                 root / name / f"{name}{n:03d}.TXT") if p.exists()]
            if not found:
                raise FileNotFoundError(f"Bonn segment {name}{n:03d} not found under {root}")
            paths.append(str(found[0]))
    return paths


class _BonnExampleFn(StageDoFn):
    """One Bonn single-channel segment -> a one-channel example for P1."""

    stage = "examples"

    def __init__(self, spec, config):
        super().__init__()
        self._spec, self._config = spec, config

    def run(self, path):
        from scipy.signal import resample

        from neurokube.models.inputs import max_abs_scale
        from neurokube.transforms.features import lfcc
        x = np.loadtxt(path, dtype=np.float64)
        x = resample(x - x.mean(), int(round(len(x) * self._spec.target_fs_hz / BONN_FS_HZ)))
        feats = lfcc(x[None, :], self._spec)
        feats = feats / max_abs_scale(feats, self._config)[:, None, :]
        steps = to_steps(feats, self._config)
        seizure = pathlib.Path(path).parent.name.upper() == BONN_SEIZURE_SET
        labels = np.full((1, steps.shape[1]), int(seizure), dtype=np.int64)
        duration = len(x) / self._spec.target_fs_hz
        intervals = [(0.0, duration)] if seizure else []
        yield make_example(path, steps, step_summaries(feats, self._config), [1], labels[0],
                           labels, intervals, duration).SerializeToString()


class BuildBonnExamples(_BuildExamples):
    """Bonn segment paths -> serialized one-channel P1 training examples."""

    _fn_class = _BonnExampleFn
