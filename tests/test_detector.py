"""The detector on model inputs: shapes, masks, chunked processing equals whole."""
import numpy as np
import pytest

from neurokube.models.bundle import ModelBundle
from neurokube.models.postprocess import detect_events, fuse
from neurokube.core.edf import open_recording
from neurokube.core.model_inputs import iter_model_inputs


@pytest.fixture(scope="module")
def bundle(random_bundle):
    return ModelBundle.load(random_bundle)


@pytest.fixture(scope="module")
def causal(random_causal_bundle):
    return ModelBundle.load(random_causal_bundle)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A random bundle whose P1 also reads 5 s and 15 s of context (``p1_context_steps``)."""
    import keras

    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.models.config import ModelConfig, P3Params
    from neurokube.models.networks import build_p1, build_p2
    keras.utils.set_random_seed(7)
    config = ModelConfig(p1_context_steps=(5, 15))
    saved = ModelBundle(build_p1(config), build_p2(config), FeatureSpec(), config,
                        P3Params(threshold=0.5, min_channels=0, min_duration_s=1.0)).save(
        tmp_path_factory.mktemp("context") / "bundle")
    return ModelBundle.load(saved)


def _posteriors(bundle, path, chunk_s):
    det = bundle.detector(p1_batch_windows=500, p2_batch_windows=64)
    with open_recording(str(path), bundle.feature_spec) as src:
        chunks = [det.posteriors(c) for c in
                  iter_model_inputs(src, bundle.feature_spec, bundle.config, chunk_s)]
    return chunks


def test_shapes_and_absent_channels(bundle, make_edf):
    path, _ = make_edf(duration_s=30.0, ears=False, reference="LE")
    (chunk,) = _posteriors(bundle, path, 3600)
    assert chunk.p1.shape == (22, 30) and chunk.p2.shape == (30,)
    assert not chunk.p1[8].any() and not chunk.p1[13].any()  # A1-T3, T4-A2 absent
    assert chunk.mask.sum() == 20
    assert np.all((chunk.p1[chunk.mask] > 0) & (chunk.p1[chunk.mask] < 1))


@pytest.mark.parametrize("which", ["centred", "causal", "context"])
def test_chunked_inference_equals_whole_recording(bundle, causal, context, make_edf, which):
    bundle = {"centred": bundle, "causal": causal, "context": context}[which]
    path, _ = make_edf(duration_s=400.0, fs_hz=256, seed=3)
    whole = _posteriors(bundle, path, 3600)
    parts = _posteriors(bundle, path, 90)
    assert len(whole) == 1 and len(parts) == 5
    assert [(c.lo_step, c.hi_step) for c in parts] == [
        (0, 90), (90, 180), (180, 270), (270, 360), (360, 400)]
    p1 = np.concatenate([c.p1 for c in parts], axis=1)
    p2 = np.concatenate([c.p2 for c in parts])
    np.testing.assert_allclose(p1, whole[0].p1, atol=2e-6)
    np.testing.assert_allclose(p2, whole[0].p2, atol=2e-6)
    # The fused stream and the events are those of the whole recording.
    mask = whole[0].mask
    fused_whole = fuse(whole[0].p1, whole[0].p2, mask, bundle.p3)
    fused_parts = fuse(p1, p2, mask, bundle.p3)
    threshold = float(np.median(fused_whole))
    params = bundle.p3.__class__(threshold=threshold, min_channels=0, min_duration_s=1.0)
    ev_whole = detect_events(fused_whole, whole[0].p1, mask, params, 1.0)
    ev_parts = detect_events(fused_parts, p1, mask, params, 1.0)
    assert ev_whole and [e[:2] for e in ev_parts] == [e[:2] for e in ev_whole]


def test_split_models_equal_the_whole_models(bundle):
    from neurokube.models.networks import split_per_step
    rng = np.random.default_rng(0)
    cfg = bundle.config
    x1 = rng.normal(size=(50, 7, cfg.p1_input_values)).astype(np.float32)
    step, head = split_per_step(bundle.p1, (cfg.p1_input_values,))
    projected = step.predict_on_batch(x1.reshape(-1, cfg.p1_input_values)).reshape(50, 7, -1)
    np.testing.assert_allclose(head.predict_on_batch(projected),
                               bundle.p1.predict_on_batch(x1), atol=1e-5)
    x2 = rng.normal(size=(20, 7, 22, cfg.map_values + 1)).astype(np.float32)
    step, head = split_per_step(bundle.p2, (22, cfg.map_values + 1, 1))
    feats = step.predict_on_batch(x2.reshape(-1, 22, cfg.map_values + 1, 1)).reshape(20, 7, -1)
    np.testing.assert_allclose(head.predict_on_batch(feats), bundle.p2.predict_on_batch(x2),
                               atol=1e-5)
