"""Beam composites of the detector: model inputs, batched inference, P3 per recording.

Example Usage::

    inputs = paths | PrepareModelInputs(spec, config, chunk_s=1200, whole_max_s=3600)
    found = inputs[MAIN] | DetectSeizures(handler, p3_params)
    written = detections(found, "Write", WriteDetections(out, formats, meta))
"""
import dataclasses
import pickle
import typing
from typing import TYPE_CHECKING, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import PredictionResult, RunInference

from neurokube.core.edf import open_recording
from neurokube.core.model_inputs import ChunkPosteriors, ModelInput, iter_model_inputs
from neurokube.models.handler import InferenceFailure
from neurokube.models.postprocess import assemble
from neurokube.transforms.stages import (
    DEAD_LETTER, MAIN, Stage, counter, dead_letter, distribution, flatten_dead_letters)

if TYPE_CHECKING:
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.models.config import ModelConfig, P3Params
    from neurokube.models.handler import DetectorModelHandler


@dataclasses.dataclass
class Detection:
    """The detector's result for one recording.

    Attributes
    ----------
    path : str
        The recording's name (see :class:`~neurokube.core.sources.Source`).
    events : list of (start_s, stop_s, confidence)
        Seizure events, sorted and non-overlapping.
    fused : np.ndarray
        (S,) fused posterior per 1 s step.
    p1 : np.ndarray
        (22, S) P1 posterior per channel and step (0 for masked channels).
    p2 : np.ndarray
        (S,) P2 posterior per step.
    mask : np.ndarray
        (22,) channels present.
    duration_s : float
    montage : str
    fingerprint : str, optional
        Content hash of the input file.
    start : str, optional
        The recording's start (ISO 8601).
    """

    path: str
    events: list
    fused: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    mask: np.ndarray
    duration_s: float
    montage: str
    fingerprint: typing.Optional[str] = None
    start: typing.Optional[str] = None


class ModelInputCoder(beam.coders.Coder):
    """Pickles a :class:`ModelInput`, and sizes it from its array without encoding it.

    Beam samples the byte size of elements for its progress metrics; for a generic pickled
    object that means pickling it (tens of MB for a recording) once more per PCollection.
    """

    def encode(self, value: ModelInput) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> ModelInput:
        return pickle.loads(encoded)

    def estimate_size(self, value: ModelInput) -> int:
        return int(value.features.nbytes) + 512

    def is_deterministic(self) -> bool:
        return False


beam.coders.registry.register_coder(ModelInput, ModelInputCoder)


class _PrepareOne:
    """(Source, fingerprint) -> ModelInput chunks, streamed (a long recording is never whole)."""

    def __init__(self, spec, config, chunk_s, whole_max_s):
        self._spec, self._config = spec, config
        self._chunk_s, self._whole_max_s = chunk_s, whole_max_s
        self._read = counter("recordings_read")
        self._chunks = counter("chunks")
        self._eeg_ms = distribution("recording_duration_ms")

    def __call__(self, element):
        source, fingerprint = element
        with open_recording(source.url, self._spec) as src:
            self._read.inc()
            self._eeg_ms.update(int(src.duration_s * 1000))
            for model_input in iter_model_inputs(src, self._spec, self._config, self._chunk_s,
                                                 self._whole_max_s, fingerprint, source.name):
                self._chunks.inc()
                yield model_input


class PrepareModelInputs(beam.PTransform):
    """``(Source, fingerprint)`` -> :class:`ModelInput` (one per recording, or per chunk of
    a long one), named by the source's name and carrying the fingerprint.

    Example Usage::

        inputs = todo | PrepareModelInputs(bundle.feature_spec, bundle.config, 1200, 3600)
    """

    def __init__(self, spec: "FeatureSpec", config: "ModelConfig", chunk_s: float,
                 whole_max_s: float | None = None) -> None:
        super().__init__()
        if not (chunk_s >= 60):
            raise ValueError(f"chunk_s must be at least 60 s, got {chunk_s}")
        whole_max_s = chunk_s if whole_max_s is None else whole_max_s
        if not (whole_max_s >= chunk_s):
            raise ValueError(f"whole_max_s ({whole_max_s}) must be at least chunk_s ({chunk_s})")
        self._fn = _PrepareOne(spec, config, float(chunk_s), float(whole_max_s))

    def expand(self, todo):
        return todo | "ReadAndFeaturize" >> Stage("features", self._fn, output_type=ModelInput)


def unwrap_inference(result: PredictionResult) -> Iterator[tuple[str, ChunkPosteriors]]:
    """A RunInference result -> ``(path, ChunkPosteriors)``; a failed element raises."""
    inference = result.inference
    if isinstance(inference, InferenceFailure):
        raise InferenceError(inference.reason)
    yield inference.path, inference


class InferenceError(RuntimeError):
    """Inference failed on one element; the message is the handler's full reason."""

    stage = "inference"
    full_reason = True


def _failed_batch_letters(failure):
    batch, exc = failure
    for element in batch:
        yield dead_letter(element, "inference", exc)


class _AssembleOne:
    """(path, [ChunkPosteriors]) -> Detection, with the P3 fusion and heuristics.

    A recording with a missing chunk (one that failed earlier and has its dead letter)
    yields nothing here.
    """

    def __init__(self, p3, step_s):
        self._p3, self._step_s = p3, step_s
        self._events = counter("events")
        self._detected = counter("recordings_labelled")

    def __call__(self, element):
        path, chunks = element
        chunks = _unique_chunks(chunks)
        if [c.chunk for c in chunks] != list(range(chunks[0].n_chunks)):
            return
        p1, p2, fused, events = assemble(chunks, self._p3, self._step_s)
        first = chunks[0]
        self._events.inc(len(events))
        self._detected.inc()
        yield Detection(path=path, events=events, fused=fused.astype(np.float32),
                        p1=p1.astype(np.float32), p2=p2.astype(np.float32),
                        mask=np.asarray(first.mask, bool), duration_s=first.duration_s,
                        montage=first.montage, fingerprint=first.fingerprint,
                        start=first.start)


def _unique_chunks(chunks):
    """Chunks sorted by index, one per index (a retried stage may deliver one twice)."""
    return list({c.chunk: c for c in sorted(chunks, key=lambda c: c.chunk)}.values())


WHOLE, CHUNKED = "whole", "chunked"


def detections(found: dict[str, beam.PCollection], label: str,
               transform: beam.PTransform) -> list[dict[str, beam.PCollection]]:
    """``transform`` applied to each detection output of :class:`DetectSeizures`."""
    return [found[part] | f"{label}{part.capitalize()}" >> transform
            for part in (WHOLE, CHUNKED)]


class DetectSeizures(beam.PTransform):
    """:class:`ModelInput` -> :class:`Detection` through RunInference and P3.

    Returns ``{WHOLE: detections of recordings processed whole, CHUNKED: detections of
    recordings processed in chunks, DEAD_LETTER: inference and post-processing failures}``.
    Consume the two detection outputs apart (:func:`detections`): Beam's local runner
    runs whatever follows a Flatten only once every input of it is complete, which would
    hold every result back until the last chunk of the job.

    Example Usage::

        found = inputs | DetectSeizures(DetectorModelHandler(bundle_dir), bundle.p3)
    """

    def __init__(self, handler: "DetectorModelHandler", p3: "P3Params",
                 step_s: float = 1.0) -> None:
        super().__init__()
        self._handler, self._p3, self._step_s = handler, p3, step_s

    def expand(self, inputs):
        results, failed = (inputs
                           | "RunInference" >> RunInference(self._handler)
                           .with_exception_handling())
        split = results | "SplitFailures" >> Stage(
            "inference", unwrap_inference, output_type=typing.Tuple[str, ChunkPosteriors])
        batch_letters = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
            _failed_batch_letters)
        # A recording processed whole (most are) goes straight on, so its result can be
        # written as soon as its inference is done; only chunked ones wait for a grouping,
        # which batch runners complete after every chunk of the job.
        whole, chunked = split[MAIN] | "WholeOrChunked" >> beam.Partition(
            lambda element, _: 0 if element[1].n_chunks == 1 else 1, 2)
        detect = Stage("postprocess", _AssembleOne(self._p3, self._step_s),
                       output_type=Detection)
        from_whole = (whole | "AsOneChunk" >> beam.MapTuple(lambda path, chunk: (path, [chunk]))
                      | "FuseAndDetect" >> detect)
        from_chunks = (chunked | "GroupChunks" >> beam.GroupByKey()
                       | "FuseAndDetectChunked" >> detect)
        dead = flatten_dead_letters("FlattenDeadLetters", split, batch_letters, from_whole,
                                    from_chunks)
        return {WHOLE: from_whole[MAIN], CHUNKED: from_chunks[MAIN], DEAD_LETTER: dead}


__all__ = ["CHUNKED", "WHOLE", "ChunkPosteriors", "Detection", "DetectSeizures", "ModelInput",
           "PrepareModelInputs", "detections"]
