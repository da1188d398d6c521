"""Beam composites from recording paths to LFCC features, with dead letters.

Each composite takes a PCollection and returns ``{MAIN: ..., DEAD_LETTER: ...}``; every
input element ends on exactly one of the two. The science lives in
:mod:`~neurokube.transforms.montage` and :mod:`~neurokube.transforms.features`.

Example Usage::

    stages = paths | ReadRecordings(spec)
    tcp = stages[MAIN] | ToTcpMontage(spec)
    feats = tcp[MAIN] | ComputeFeatures(spec)
"""
import dataclasses

import apache_beam as beam
import numpy as np

from neurokube.transforms.dead_letters import (
    DEAD_LETTER, MAIN, DeadLetter, StageDoFn, counter, distribution)
from neurokube.transforms.edf_io import Recording, read_recording
from neurokube.transforms.feature_spec import FeatureSpec
from neurokube.transforms.features import lfcc
from neurokube.transforms.montage import TcpSignals, checked_tcp


@dataclasses.dataclass
class TcpRecording:
    """A recording in the TCP montage at 250 Hz (see :class:`TcpSignals`)."""

    path: str
    tcp: TcpSignals
    duration_s: float


@dataclasses.dataclass
class FeatureRecording:
    """The LFCC features of one recording.

    Attributes
    ----------
    path : str
        Input path or URL.
    features : np.ndarray
        float32, (channels, frames, 26), un-normalised.
    channels : tuple of str
        TCP channel names in montage order.
    mask : np.ndarray
        bool (22,): which TCP channels are present.
    frame_s : float
        Frame hop, s.
    duration_s : float
        Recording duration from the EDF header, s.
    montage : str
        ``AR``, ``LE``, ``AR_A`` or ``LE_A``.
    """

    path: str
    features: np.ndarray
    channels: tuple
    mask: np.ndarray
    frame_s: float
    duration_s: float
    montage: str


def _require_spec(spec):
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec must be a FeatureSpec, got {type(spec).__name__}")
    return spec


class _ReadFn(StageDoFn):
    stage = "read"

    def __init__(self, spec):
        super().__init__()
        self._spec = spec
        self._read = counter("recordings_read")

    def run(self, path):
        recording = read_recording(path, self._spec)
        self._read.inc()
        yield recording


class _TcpFn(StageDoFn):
    stage = "montage"

    def __init__(self, spec):
        super().__init__()
        self._spec = spec

    def run(self, rec):
        tcp = checked_tcp(rec.signals_uv, rec.labels, rec.fs_hz, self._spec, rec.path,
                          rec.all_labels)
        yield TcpRecording(path=rec.path, tcp=tcp, duration_s=rec.duration_s)


class _FeaturesFn(StageDoFn):
    stage = "features"

    def __init__(self, spec):
        super().__init__()
        self._spec = spec
        self._done = counter("recordings_featurized")
        self._frames = counter("feature_frames")
        self._eeg_ms = distribution("recording_duration_ms")

    def run(self, rec):
        feats = lfcc(rec.tcp.data_uv, self._spec)
        self._done.inc()
        self._frames.inc(feats.shape[1])
        self._eeg_ms.update(int(rec.duration_s * 1000))
        yield FeatureRecording(path=rec.path, features=feats, channels=rec.tcp.channels,
                               mask=rec.tcp.mask, frame_s=self._spec.frame_s,
                               duration_s=rec.duration_s, montage=rec.tcp.montage)


def _apply(pcoll, label, fn):
    outputs = pcoll | label >> beam.ParDo(fn).with_outputs(DEAD_LETTER, main=MAIN)
    return {MAIN: outputs[MAIN], DEAD_LETTER: outputs[DEAD_LETTER]}


class ReadRecordings(beam.PTransform):
    """Paths or URLs -> :class:`Recording` (montage electrodes, µV), or dead letters.

    Example Usage::

        stages = paths | ReadRecordings(FeatureSpec())
    """

    def __init__(self, spec):
        super().__init__()
        self._spec = _require_spec(spec)

    def expand(self, paths):
        return _apply(paths, "ReadEdf", _ReadFn(self._spec).with_input_types(str)
                      .with_output_types(Recording))


class ToTcpMontage(beam.PTransform):
    """:class:`Recording` -> :class:`TcpRecording` (250 Hz TCP montage), or dead letters.

    Example Usage::

        tcp = recordings | ToTcpMontage(FeatureSpec())
    """

    def __init__(self, spec):
        super().__init__()
        self._spec = _require_spec(spec)

    def expand(self, recordings):
        return _apply(recordings, "BuildTcpMontage", _TcpFn(self._spec)
                      .with_input_types(Recording).with_output_types(TcpRecording))


class ComputeFeatures(beam.PTransform):
    """:class:`TcpRecording` -> :class:`FeatureRecording` (26 LFCC per channel per 0.1 s).

    Example Usage::

        feats = tcp | ComputeFeatures(FeatureSpec())
    """

    def __init__(self, spec):
        super().__init__()
        self._spec = _require_spec(spec)

    def expand(self, tcp):
        return _apply(tcp, "ComputeLfcc", _FeaturesFn(self._spec)
                      .with_input_types(TcpRecording).with_output_types(FeatureRecording))


class Featurize(beam.PTransform):
    """Paths -> :class:`FeatureRecording`: read, montage and front end in one composite.

    Returns ``{MAIN: features, DEAD_LETTER: dead letters of every stage}``.

    Example Usage::

        out = paths | Featurize(FeatureSpec())
    """

    def __init__(self, spec):
        super().__init__()
        self._spec = _require_spec(spec)

    def expand(self, paths):
        read = paths | "Read" >> ReadRecordings(self._spec)
        tcp = read[MAIN] | "Montage" >> ToTcpMontage(self._spec)
        feats = tcp[MAIN] | "Features" >> ComputeFeatures(self._spec)
        dead = ((read[DEAD_LETTER], tcp[DEAD_LETTER], feats[DEAD_LETTER])
                | "FlattenDeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
        return {MAIN: feats[MAIN], DEAD_LETTER: dead}
