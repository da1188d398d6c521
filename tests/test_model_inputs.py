"""Model inputs: zero-fill and mask, max-abs normalisation, steps, windows, hyp features."""
import numpy as np
import pytest

from neurokube.models.config import ModelConfig
from neurokube.models.inputs import (
    hypothesis_features, max_abs_scale, p1_window_batches, p2_maps, p2_window_batches,
    step_labels, step_summaries, to_steps, window_index, zero_fill)

CFG = ModelConfig()


def test_zero_fill_places_channels_by_mask():
    mask = np.ones(22, bool)
    mask[[8, 13]] = False
    feats = np.arange(20 * 3 * 26, dtype=np.float32).reshape(20, 3, 26)
    full = zero_fill(feats, mask, CFG)
    assert full.shape == (22, 3, 26)
    assert not full[8].any() and not full[13].any()
    np.testing.assert_array_equal(full[mask], feats)
    with pytest.raises(ValueError):
        zero_fill(feats[:19], mask, CFG)


def test_max_abs_normalisation_per_channel_and_feature():
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 5, (22, 40, 26)).astype(np.float32)
    scale = max_abs_scale(feats, CFG)
    assert scale.shape == (22, 26)
    normed = feats / scale[:, None, :]
    np.testing.assert_allclose(np.abs(normed).max(axis=1), 1.0, rtol=1e-5)
    # Zero channels stay zero (epsilon, no division by zero).
    assert np.all(max_abs_scale(np.zeros((22, 5, 26), np.float32), CFG) == np.float32(1e-6))


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
