"""Model inputs: normalisation (energy reference, standardisation, clip), steps, windows,
hypothesis features."""
import numpy as np
import pytest

from neurokube.core.model_inputs import (
    feature_moments, hypothesis_features, normalise, p1_window_batches, p2_maps,
    p2_window_batches, apply_reference, step_labels, step_summaries, to_steps, window_index)
from neurokube.models.config import ModelConfig

CFG = ModelConfig()


def test_energy_reference_makes_inputs_gain_invariant():
    rng = np.random.default_rng(0)
    feats = rng.normal(5, 2, (22, 40, 26)).astype(np.float32)
    mask = np.ones(22, bool)
    ref = np.median(feats[..., :8], axis=1)
    # A gain g shifts E_f by 2 ln g, a system's spectral tilt shifts the cepstra by a
    # constant (and the recording's reference with them).
    shift = np.zeros(26, np.float32)
    shift[0], shift[1:8] = 2 * np.log(10.0), np.linspace(-2, 2, 7)
    a = normalise(feats, mask, ref, CFG)
    b = normalise(feats + shift, mask, ref + shift[:8], CFG)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # Only the energy when so configured.
    energy_only = CFG.replace(recording_reference="energy_median")
    c = normalise(feats + shift, mask, ref + shift[:8], energy_only)
    np.testing.assert_allclose(c[..., 0], a[..., 0], atol=1e-5)
    assert not np.allclose(c[..., 1:8], a[..., 1:8])


def test_standardise_clip_and_masked_channels_stay_zero():
    rng = np.random.default_rng(1)
    feats = rng.normal(3, 2, (22, 50, 26)).astype(np.float32)
    feats[2, 7, 5] = 1e6  # an artefact
    mask = np.ones(22, bool)
    mask[[8, 13]] = False
    ref = np.zeros((22, 8), np.float32)
    mean, scale = feature_moments([(apply_reference(feats, ref, CFG), mask)])
    cfg = CFG.replace(feature_mean=mean, feature_scale=scale, feature_clip=4.0)
    out = normalise(feats, mask, ref, cfg)
    assert np.abs(out).max() <= 4.0 and out[2, 7, 5] == 4.0
    assert not out[8].any() and not out[13].any()
    with pytest.raises(ValueError):
        CFG.replace(feature_mean=(0.0,) * 26, feature_scale=(1.0,) * 25)


def test_steps_flatten_ten_frames_and_drop_partial_seconds():
    feats = np.arange(22 * 35 * 26, dtype=np.float32).reshape(22, 35, 26)
    steps = to_steps(feats, CFG)
    assert steps.shape == (22, 3, 260)
    np.testing.assert_array_equal(steps[4, 1], feats[4, 10:20].reshape(-1))
    summ = step_summaries(feats, CFG)
    assert summ.shape == (22, 3, 52)
    np.testing.assert_allclose(summ[2, 2, :26], feats[2, 20:30].mean(axis=0))
    np.testing.assert_allclose(summ[2, 2, 26:], feats[2, 20:30].max(axis=0))


def test_windows_are_centred_with_replicated_edges():
    idx = window_index(10, CFG)
    assert idx.shape == (10, 7)
    np.testing.assert_array_equal(idx[0], [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(idx[5], [2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(idx[9], [6, 7, 8, 9, 9, 9, 9])


def test_p1_batches_cover_every_present_channel_step_once():
    steps = np.random.default_rng(1).normal(size=(22, 9, 260)).astype(np.float32)
    seen = []
    for c, s, windows in p1_window_batches(steps, [0, 5, 21], CFG, batch_windows=10):
        assert windows.shape == (len(c), 7, 260) and len(c) <= 10
        for ci, si, w in zip(c, s, windows):
            np.testing.assert_array_equal(w[3], steps[ci, si])
            seen.append((ci, si))
    assert sorted(seen) == [(c, s) for c in (0, 5, 21) for s in range(9)]


def test_hypothesis_features():
    p = np.array([[0.1, 0.9, 0.8, 0.7, 0.2, 0.6]], np.float32)
    hyp = hypothesis_features(p, CFG)
    assert hyp.shape == (1, 6, 4)
    np.testing.assert_allclose(hyp[0, :, 0], p[0])
    np.testing.assert_array_equal(hyp[0, :, 1], [0, 1, 1, 1, 0, 1])
    np.testing.assert_allclose(hyp[0, :, 2], np.array([0, 0, 1, 2, 0, 0]) / 60.0)
    np.testing.assert_allclose(hyp[0, :, 3], [0, 0.9, 0.85, 0.8, 0, 0.6], rtol=1e-6)


def test_hypothesis_features_cap_at_sixty_seconds():
    p = np.full((1, 100), 0.9, np.float32)
    p[0, 30] = 0.95
    hyp = hypothesis_features(p, CFG)
    assert hyp[0, 99, 2] == 1.0 and hyp[0, 60, 2] == 1.0 and hyp[0, 59, 2] == pytest.approx(59 / 60)
    # The event mean only looks at the last 60 s.
    np.testing.assert_allclose(hyp[0, 99, 3], 0.9, rtol=1e-6)
    np.testing.assert_allclose(hyp[0, 60, 3], (0.9 * 59 + 0.95) / 60, rtol=1e-6)


def test_p2_maps_mask_absent_channels_and_windows():
    rng = np.random.default_rng(2)
    summ = rng.normal(size=(22, 5, 52)).astype(np.float32)
    hyp = rng.normal(size=(22, 5, 4)).astype(np.float32)
    mask = np.ones(22, bool)
    mask[13] = False
    maps = p2_maps(summ, hyp, mask)
    assert maps.shape == (5, 22, 56) and not maps[:, 13].any()
    got = list(p2_window_batches(maps, CFG, batch_windows=3, lo=1, hi=5))
    assert [len(s) for s, _ in got] == [3, 1]
    np.testing.assert_array_equal(got[0][1][0, 3], maps[1])


def test_step_labels_need_half_a_step():
    labels = step_labels([(1.5, 3.2), (5.0, 5.4)], 7, 1.0)
    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 0, 0, 0])


def test_step_context_is_the_mean_and_spread_over_the_steps_that_exist():
    from neurokube.core.model_inputs import step_context
    rng = np.random.default_rng(4)
    moments = rng.normal(size=(3, 12, 52)).astype(np.float32)
    out = step_context(moments, 5, 9)
    assert out.shape == (3, 12, 52 + 9)
    for s in range(12):
        near = moments[:, max(0, s - 2):s + 3]  # 3 steps at the first step, 5 inside
        np.testing.assert_allclose(out[:, s, :52], near.mean(axis=1), atol=1e-5)
        np.testing.assert_allclose(out[:, s, 52:], near[..., :9].std(axis=1), atol=1e-5)
    # A constant input has its own value as mean and no spread, edges included.
    flat = step_context(np.ones((1, 4, 52), np.float32), 15, 9)
    np.testing.assert_allclose(flat[..., :52], 1.0)
    np.testing.assert_allclose(flat[..., 52:], 0.0, atol=1e-6)


def test_p1_inputs_carry_each_context_width():
    from neurokube.core.model_inputs import p1_inputs, step_context
    config = ModelConfig(p1_context_steps=(5, 15))
    steps = np.random.default_rng(5).normal(size=(22, 30, config.step_values)).astype(np.float32)
    plain = p1_inputs(steps, ModelConfig())
    out = p1_inputs(steps, config)
    assert out.shape == (22, 30, config.p1_input_values) == (22, 30, 52 + 2 * 61)
    np.testing.assert_array_equal(out[..., :52], plain)
    np.testing.assert_allclose(out[..., 52 + 61:], step_context(plain, 15, 9), atol=1e-6)


def test_p1_inputs_are_standardised_with_the_recorded_statistics():
    from neurokube.core.model_inputs import p1_inputs
    steps = np.random.default_rng(6).normal(size=(22, 20, 260)).astype(np.float32)
    mean, scale = np.linspace(-1, 1, 52), np.linspace(0.01, 2, 52)
    config = ModelConfig(p1_input_mean=tuple(mean), p1_input_scale=tuple(scale))
    plain = p1_inputs(steps, ModelConfig())
    np.testing.assert_allclose(p1_inputs(steps, config),
                               np.clip((plain - mean) / scale, -6, 6), rtol=1e-5, atol=1e-5)
    assert np.abs(p1_inputs(steps, config)).max() == 6.0  # the small scales clip


@pytest.mark.parametrize("fields", [
    {"p1_input_mean": (0.0,) * 52, "p1_input_scale": (1.0,) * 51},
    {"p1_input_mean": (0.0,) * 260, "p1_input_scale": (1.0,) * 260, "p1_step_input": "frames"},
    {"p1_input_mean": (0.0,) * 52, "p1_input_scale": (0.0,) * 52},
])
def test_p1_statistics_that_do_not_fit_are_refused(fields):
    with pytest.raises(ValueError, match="p1_input"):
        ModelConfig(**fields)


@pytest.mark.parametrize("fields", [
    {"p1_context_steps": (5,), "p1_step_input": "frames"},
    {"p1_context_steps": (5,), "causal": True, "recording_reference": "causal_median"},
    {"p1_context_steps": (4,)},
    {"p1_context_steps": (1,)},
    {"p1_context_steps": (5.0,)},
    {"p1_context_steps": ("abc",)},
    {"p1_context_steps": (True,)},
])
def test_context_settings_that_cannot_work_are_refused(fields):
    with pytest.raises(ValueError, match="p1_context_steps"):
        ModelConfig(**fields)


@pytest.mark.parametrize("widths", [(), (5, 15)])
def test_p1_window_reaches_exactly_the_steps_the_overlap_allows_for(widths):
    """A P1 window depends on the steps within half_window + p1_context_reach of its
    step, on both sides, and on none further: the reach the chunk overlap
    (``context_steps``) must allow for, past and future."""
    from neurokube.core.model_inputs import p1_inputs
    config = ModelConfig(p1_context_steps=widths)
    reach = config.half_window + config.p1_context_reach
    steps = np.random.default_rng(8).normal(size=(1, 80, config.step_values)).astype(np.float32)
    t = 40

    def window(changed_step):
        changed = steps.copy()
        if changed_step is not None:
            changed[:, changed_step] += 3.0
        return p1_inputs(changed, config)[0, window_index(80, config)[t]]

    base = window(None)
    for step in (t - reach, t + reach):
        assert not np.allclose(window(step), base), step
    for step in (t - reach - 1, t + reach + 1):
        np.testing.assert_array_equal(window(step), base)
    # P2's centred window of P1 outputs comes on top of that reach.
    assert config.context_steps[1] == config.half_window + reach
    assert config.context_steps[0] >= config.half_window + reach


def test_context_widens_the_chunk_overlap():
    assert ModelConfig(p1_context_steps=(5, 15)).context_steps == (
        ModelConfig().context_steps[0] + 7, ModelConfig().context_steps[1] + 7)
