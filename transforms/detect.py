"""Beam composites of the detector: model inputs, batched inference, P3 per recording.

Example Usage::

    inputs = paths | PrepareModelInputs(spec, config, chunk_s=1200, whole_max_s=3600)
    found = inputs[MAIN] | DetectSeizures(handler, p3_params)
"""
import dataclasses
import logging
import pickle
import time
import typing

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import RunInference

from neurokube.models.detector import ChunkPosteriors, ModelInput
from neurokube.models.handler import InferenceFailure
from neurokube.models.postprocess import detect_events, fuse
from neurokube.transforms.dead_letters import (
    DEAD_LETTER, MAIN, DeadLetter, RetriesExhausted, StageDoFn, counter, distribution,
    is_transient)
from neurokube.transforms.edf_io import open_recording
from neurokube.transforms.model_inputs import iter_model_inputs

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Detection:
    """The detector's result for one recording.

    Attributes
    ----------
    path : str
    events : list of (start_s, stop_s, confidence)
        Seizure events, sorted and non-overlapping.
    fused : np.ndarray
        (S,) fused posterior per 1 s step.
    duration_s : float
    montage : str
    fingerprint : str, optional
        Content hash of the input file.
    """

    path: str
    events: list
    fused: np.ndarray
    duration_s: float
    montage: str
    fingerprint: typing.Optional[str] = None


class ModelInputCoder(beam.coders.Coder):
    """Pickles a :class:`ModelInput`, and sizes it from its array without encoding it.

    Beam samples the byte size of elements for its progress metrics; for a generic pickled
    object that means pickling it (tens of MB for a recording) once more per PCollection.
    """

    def encode(self, value):
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded):
        return pickle.loads(encoded)

    def estimate_size(self, value):
        return int(value.features.nbytes) + 512

    def is_deterministic(self):
        return False


beam.coders.registry.register_coder(ModelInput, ModelInputCoder)


class _PrepareFn(StageDoFn):
    """(path, fingerprint) -> ModelInput chunks, streamed (a long recording is not held whole).

    A transient error retries the recording under the retry policy; chunks emitted by
    an earlier attempt are not emitted again (the chunking is deterministic).
    """

    stage = "features"

    def __init__(self, spec, config, chunk_s, whole_max_s):
        super().__init__()
        self._spec, self._config, self._chunk_s = spec, config, chunk_s
        self._whole_max_s = whole_max_s
        self._read = counter("recordings_read")
        self._chunks = counter("chunks")
        self._eeg_ms = distribution("recording_duration_ms")

    def process(self, element):
        path, fp = element if isinstance(element, tuple) else (element, None)
        emitted, policy = set(), self.retry_policy
        for attempt in range(1, policy.max_attempts + 1):
            try:
                with open_recording(path, self._spec) as src:
                    if attempt == 1:
                        self._read.inc()
                        self._eeg_ms.update(int(src.duration_s * 1000))
                    for chunk in iter_model_inputs(src, self._spec, self._config,
                                                   self._chunk_s, self._whole_max_s):
                        if chunk.chunk in emitted:
                            continue
                        emitted.add(chunk.chunk)
                        self._chunks.inc()
                        yield dataclasses.replace(chunk, fingerprint=fp)
                return
            except Exception as exc:  # noqa: BLE001 - every failure must become a dead letter
                if is_transient(exc) and attempt < policy.max_attempts:
                    self._on_retry(exc, attempt)
                    time.sleep(policy.backoff_s(attempt))
                    continue
                if is_transient(exc):
                    exc = RetriesExhausted(exc, attempt)
                # Chunks already emitted are dropped when their recording is assembled.
                self._failed.inc()
                letter = DeadLetter.from_exception(path, self.stage, exc)
                _LOG.warning("dead letter: %s [%s] %s", letter.path, letter.stage,
                             letter.reason)
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
                return


class PrepareModelInputs(beam.PTransform):
    """Paths or ``(path, fingerprint)`` -> :class:`ModelInput` (one per recording, or per
    chunk of a long one), carrying the fingerprint.

    Example Usage::

        inputs = paths | PrepareModelInputs(bundle.feature_spec, bundle.config, 3600)
    """

    def __init__(self, spec, config, chunk_s, whole_max_s=None):
        super().__init__()
        if chunk_s < 60:
            raise ValueError(f"chunk_s must be at least 60 s, got {chunk_s}")
        whole_max_s = chunk_s if whole_max_s is None else whole_max_s
        if whole_max_s < chunk_s:
            raise ValueError(f"whole_max_s ({whole_max_s}) must be at least chunk_s ({chunk_s})")
        self._fn = _PrepareFn(spec, config, float(chunk_s), float(whole_max_s))

    def expand(self, paths):
        out = paths | "ReadAndFeaturize" >> beam.ParDo(self._fn).with_output_types(
            ModelInput).with_outputs(DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], DEAD_LETTER: out[DEAD_LETTER]}


class _SplitResultsFn(beam.DoFn):
    def __init__(self):
        self._failed = counter("dead_letters_infer")

    def process(self, result):
        inference = result.inference
        if isinstance(inference, InferenceFailure):
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, DeadLetter(inference.path, "infer", inference.reason))
        else:
            yield inference.path, inference


def _failed_batch_letters(failure):
    batch, exc = failure
    for element in batch:
        yield DeadLetter(element.path, "infer", f"{type(exc).__name__}: {exc}")


class _AssembleFn(StageDoFn):
    """(path, [ChunkPosteriors]) -> Detection, with the P3 fusion and heuristics."""

    stage = "postprocess"

    def __init__(self, p3, step_s):
        super().__init__()
        self._p3, self._step_s = p3, step_s
        self._events = counter("events")
        self._detected = counter("recordings_labelled")

    @staticmethod
    def path_of(element):
        return element[0]

    def process(self, element):
        path, chunks = element
        chunks = _unique_chunks(chunks)
        if len(chunks) != chunks[0].n_chunks or [c.chunk for c in chunks] != list(
                range(chunks[0].n_chunks)):
            # A chunk of this recording failed earlier and was recorded as a dead letter.
            return
        yield from super().process(element)

    def run(self, element):
        path, chunks = element
        chunks = _unique_chunks(chunks)
        p1 = np.concatenate([c.p1 for c in chunks], axis=1)
        p2 = np.concatenate([c.p2 for c in chunks])
        first = chunks[0]
        fused = fuse(p1, p2, first.mask, self._p3)
        events = detect_events(fused, p1, first.mask, self._p3, self._step_s, first.duration_s)
        self._events.inc(len(events))
        self._detected.inc()
        yield Detection(path=path, events=events, fused=fused.astype(np.float32),
                        duration_s=first.duration_s, montage=first.montage,
                        fingerprint=first.fingerprint)


def _unique_chunks(chunks):
    """Chunks sorted by index, one per index (a retried stage may deliver one twice)."""
    return list({c.chunk: c for c in sorted(chunks, key=lambda c: c.chunk)}.values())


class DetectSeizures(beam.PTransform):
    """:class:`ModelInput` -> :class:`Detection` through RunInference and P3.

    Returns ``{MAIN: detections, DEAD_LETTER: inference and post-processing failures}``.

    Example Usage::

        found = inputs | DetectSeizures(DetectorModelHandler(bundle_dir), bundle.p3)
    """

    def __init__(self, handler, p3, step_s=1.0):
        super().__init__()
        self._handler, self._p3, self._step_s = handler, p3, step_s

    def expand(self, inputs):
        results, failed = (inputs
                           | "RunInference" >> RunInference(self._handler)
                           .with_exception_handling())
        split = results | "SplitFailures" >> beam.ParDo(_SplitResultsFn()).with_output_types(
            typing.Tuple[str, ChunkPosteriors]).with_outputs(DEAD_LETTER, main=MAIN)
        batch_letters = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
            _failed_batch_letters)
        assembled = (split[MAIN]
                     | "GroupChunks" >> beam.GroupByKey()
                     | "FuseAndDetect" >> beam.ParDo(_AssembleFn(self._p3, self._step_s))
                     .with_output_types(Detection).with_outputs(DEAD_LETTER, main=MAIN))
        dead = ((split[DEAD_LETTER], batch_letters, assembled[DEAD_LETTER])
                | "FlattenDeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
        return {MAIN: assembled[MAIN], DEAD_LETTER: dead}


__all__ = ["ChunkPosteriors", "Detection", "DetectSeizures", "ModelInput", "PrepareModelInputs"]
