"""The RunInference model handler: knobs, batching of windows, failure isolation."""
import numpy as np
import pytest

from neurokube.core.model_inputs import ModelInput
from neurokube.models.handler import DetectorModelHandler, InferenceFailure


def _input(path, seconds, seed):
    rng = np.random.default_rng(seed)
    feats = rng.uniform(-1, 1, (22, seconds * 10, 26)).astype(np.float32)
    mask = np.ones(22, bool)
    mask[[8, 13]] = False
    feats[~mask] = 0.0
    return ModelInput(path, feats, mask, 0, 0, seconds, 0, 1, float(seconds), "AR_A")


def _counting(head, calls):
    """Wraps an engine's head and records the number of windows of every call."""
    def counted(windows):
        calls.append(len(windows))
        return head(windows)
    return counted


def test_knobs_reach_beam(random_bundle):
    handler = DetectorModelHandler(random_bundle, max_batch_size=3, large_model=True,
                                   model_copies=2)
    assert handler.share_model_across_processes() and handler.model_copies() == 2
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 3}
    with pytest.raises(ValueError, match="device"):
        DetectorModelHandler(random_bundle, device="TPU")
    with pytest.raises(ValueError, match="positive"):
        DetectorModelHandler(random_bundle, p1_batch_windows=0)


def test_many_windows_per_call_and_isolated_failures(random_bundle):
    handler = DetectorModelHandler(random_bundle, p1_batch_windows=1000, p2_batch_windows=64)
    detector = handler.load_model()
    calls = []
    detector.engine.p1_head = _counting(detector.engine.p1_head, calls)
    good_a, good_b = _input("a.edf", 120, 1), _input("b.edf", 60, 2)
    broken = _input("c.edf", 30, 3)
    broken.hi_step = 99  # asks for steps beyond its features
    results = handler.run_inference([good_a, broken, good_b], detector)
    assert [r.example for r in results] == ["a.edf", "c.edf", "b.edf"]
    assert isinstance(results[1].inference, InferenceFailure)
    assert "exceed its features" in results[1].inference.reason
    a, b = results[0].inference, results[2].inference
    assert a.p1.shape == (22, 120) and b.p2.shape == (60,)
    assert not a.p1[~good_a.mask].any()
    # P1 windows: 20 channels x 120 s = 2,400 windows in calls of at most 1,000 windows,
    # then 20 x 60 = 1,200 (the broken element fails before or after its own calls).
    assert calls[:3] == [1000, 1000, 400] and max(calls) == 1000
    assert handler.get_num_bytes([good_a, good_b]) == good_a.features.nbytes + good_b.features.nbytes
