"""The RunInference model handler: the whole detector (P1, P2) of one model bundle.

The bundle is loaded once per process (RunInference keeps it in a ``shared.Shared``
handle, or in one process for all workers with ``large_model``). Each element is a
recording or a long chunk (:class:`~neurokube.models.detector.ModelInput`), never a
window: the handler cuts windows itself and sends ``p1_batch_windows`` of them to P1 per
call. A failure on one element does not fail the others of its batch: a transient one
(:func:`~neurokube.core.errors.is_transient`) is retried for that element
under ``retry_policy``; what still fails comes back as an :class:`InferenceFailure`,
which the pipeline turns into a dead letter.

Example Usage::

    handler = DetectorModelHandler("models/reference", max_batch_size=4)
    results = chunks | RunInference(handler)
"""
import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any, Sequence

from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from neurokube.core.errors import (
    DEFAULT_RETRY_POLICY, METRICS_NAMESPACE, RetriesExhausted, RetryPolicy)
from neurokube.core.model_inputs import ModelInput

if TYPE_CHECKING:
    from neurokube.models.detector import Detector

_LOG = logging.getLogger(__name__)
DEVICES = ("CPU", "GPU")
# numpy: the models in NumPy (no TensorFlow in the worker); keras: Keras on its backend.
ENGINES = ("numpy", "keras")


@dataclasses.dataclass
class InferenceFailure:
    """Why inference failed on one element (its path and the exception's text)."""

    path: str
    reason: str


class DetectorModelHandler(ModelHandler):
    """Runs a :class:`~neurokube.models.bundle.ModelBundle`'s detector on model inputs.

    Parameters
    ----------
    bundle_dir : str
        Where the model bundle is (:func:`~neurokube.models.bundle.bundle_location`): a
        shipped bundle by name (``package:reference``), a local folder or a FileSystems URL.
    expected_version : str, optional
        The bundle version the job was built for: a worker that loads another (a different
        installation, or files replaced since launch) fails instead of labelling with it.
    p1_batch_windows, p2_batch_windows : int
        Windows per P1 / P2 model call.
    min_batch_size, max_batch_size : int
        Elements (recordings or chunks) per ``run_inference`` call.
    large_model : bool
        Share one loaded bundle across the worker processes of a machine.
    model_copies : int, optional
        Exact number of bundle copies per machine (e.g. one per GPU).
    device : {'CPU', 'GPU'}
        'CPU' hides GPUs from TensorFlow; 'GPU' lets it use them (memory growth on).
    engine : {'numpy', 'keras'}, optional
        How the models run: NumPy (default on CPU: the worker never imports TensorFlow)
        or Keras (default on GPU).
    retry_policy : RetryPolicy, optional
        Tries per element on transient errors (default: 3, with backoff).
    """

    def __init__(self, bundle_dir: str | os.PathLike[str], p1_batch_windows: int = 2048,
                 p2_batch_windows: int = 1024, min_batch_size: int = 1,
                 max_batch_size: int = 4, large_model: bool = False,
                 model_copies: int | None = None, device: str = "CPU",
                 retry_policy: RetryPolicy | None = None, engine: str | None = None,
                 expected_version: str | None = None) -> None:
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        engine = engine or ("keras" if device == "GPU" else "numpy")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if p1_batch_windows < 1 or p2_batch_windows < 1:
            raise ValueError("batch sizes must be positive")
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size,
                         large_model=large_model, model_copies=model_copies)
        self._bundle_dir = str(bundle_dir)
        self._expected_version = expected_version
        self._p1_batch, self._p2_batch = int(p1_batch_windows), int(p2_batch_windows)
        self._device, self._engine = device, engine
        self._retry_policy = retry_policy or DEFAULT_RETRY_POLICY

    def load_model(self) -> "Detector":
        if self._device == "CPU":
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        else:
            os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
            # Full float32 on GPUs: TF32 matmuls moved posteriors by ~1e-3 against the CPU
            # run on an H200 (benchmarks/gpu_check.py); with this they agree to ~1e-5.
            os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")
        from neurokube.models.bundle import load_expected
        # A mismatch fails the worker's setup (the job fails or retries): labels from
        # another model than the one recorded must not be written.
        bundle = load_expected(self._bundle_dir, self._engine, self._expected_version)
        _LOG.info("loaded model bundle %s from %s (%s engine)", bundle.version,
                  self._bundle_dir, self._engine)
        return bundle.detector(p1_batch_windows=self._p1_batch,
                               p2_batch_windows=self._p2_batch)

    def run_inference(self, batch: Sequence[ModelInput], model: "Detector",
                      inference_args: dict[str, Any] | None = None) -> list[PredictionResult]:
        results = []
        retries = Metrics.counter(METRICS_NAMESPACE, "transient_retries")
        for element in batch:
            try:
                inference = self._retry_policy.call(model.posteriors, element,
                                                    on_retry=lambda *_: retries.inc())
            except RetriesExhausted as exc:
                inference = InferenceFailure(element.path, str(exc))
            except Exception as exc:  # noqa: BLE001 - one bad element must not sink the batch
                inference = InferenceFailure(element.path, f"{type(exc).__name__}: {exc}")
            # The example is named by its path: the features stay out of the result, so
            # nothing downstream copies or measures them again.
            results.append(PredictionResult(example=element.path, inference=inference))
        return results

    def get_num_bytes(self, batch: Sequence[ModelInput]) -> int:
        return sum(int(element.features.nbytes) for element in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE
