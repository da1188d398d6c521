"""P3: fusion and the event heuristics (threshold, merge, minimum duration, channels)."""
import numpy as np

from neurokube.models.config import P3Params
from neurokube.models.postprocess import detect_events, fuse, top_k_mean

MASK = np.ones(22, bool)


def test_fusion_weights_p2_and_top_k_p1():
    p1 = np.zeros((22, 2))
    p1[:4, 0] = [0.9, 0.6, 0.3, 0.8]
    p2 = np.array([0.2, 0.4])
    np.testing.assert_allclose(top_k_mean(p1, MASK, 3), [(0.9 + 0.8 + 0.6) / 3, 0])
    np.testing.assert_allclose(fuse(p1, p2, MASK, P3Params(p2_weight=0.5)),
                               [0.5 * 0.2 + 0.5 * (2.3 / 3), 0.2])
    masked = MASK.copy()
    masked[0] = False  # an absent channel never counts
    np.testing.assert_allclose(top_k_mean(p1, masked, 3)[0], (0.8 + 0.6 + 0.3) / 3)


def _p1(active_channels, start, stop, n=40):
    p1 = np.zeros((22, n))
    p1[active_channels, start:stop] = 0.9
    return p1


def test_events_merge_across_short_gaps_and_drop_short_ones():
    fused = np.zeros(40)
    fused[5:10] = 0.8
    fused[12:15] = 0.8      # gap of 2 steps: merged with the first
    fused[30:32] = 0.9      # 2 s: shorter than the 3 s minimum
    p1 = _p1([0, 1], 0, 40)
    events = detect_events(fused, p1, MASK, P3Params(), 1.0)
    assert [(s, e) for s, e, _ in events] == [(5.0, 15.0)]
    assert events[0][2] == np.mean(fused[5:15])


def test_gap_longer_than_merge_keeps_events_apart():
    fused = np.zeros(40)
    fused[5:10] = 0.8
    fused[13:18] = 0.8      # gap of 3 steps > 2 s
    events = detect_events(fused, _p1([0, 1], 0, 40), MASK, P3Params(), 1.0)
    assert [(s, e) for s, e, _ in events] == [(5.0, 10.0), (13.0, 18.0)]


def test_channels_observed_rule():
    fused = np.zeros(40)
    fused[5:12] = 0.8
    one_channel = _p1([3], 5, 12)
    assert detect_events(fused, one_channel, MASK, P3Params(min_channels=2), 1.0) == []
    assert len(detect_events(fused, one_channel, MASK, P3Params(min_channels=1), 1.0)) == 1
    absent = MASK.copy()
    absent[[3, 4]] = False  # channels outside the mask do not count
    assert detect_events(fused, _p1([3, 4], 5, 12), absent, P3Params(min_channels=1), 1.0) == []


def test_events_clipped_to_duration_and_empty_input():
    fused = np.zeros(10)
    fused[6:] = 0.9
    events = detect_events(fused, _p1([0, 1], 0, 10, n=10), MASK, P3Params(), 1.0, 9.5)
    assert events == [(6.0, 9.5, events[0][2])]
    assert detect_events(np.zeros(0), np.zeros((22, 0)), MASK, P3Params(), 1.0) == []


def test_an_event_at_the_end_runs_over_the_partial_last_second():
    """A 10.44 s recording has 10 decision steps; its last 0.44 s follow the last step."""
    fused = np.zeros(10)
    fused[6:] = 0.9
    p1 = _p1([0, 1], 0, 10, n=10)
    events = detect_events(fused, p1, MASK, P3Params(), 1.0, 10.44)
    assert [e[:2] for e in events] == [(6.0, 10.44)]
    fused[9] = 0.0  # ends a step before the last: the tail is background
    events = detect_events(fused, p1, MASK, P3Params(merge_gap_s=0.0), 1.0, 10.44)
    assert [e[:2] for e in events] == [(6.0, 9.0)]


def test_channel_events_lie_within_their_term_event_up_to_its_end():
    from neurokube.core.feature_spec import TCP_CHANNELS
    from neurokube.models.postprocess import channel_events
    p1 = _p1([0], 6, 10, n=10)
    p1[1, 6:8] = 0.9
    runs = channel_events(p1, MASK, [(6.0, 10.44, 0.9)], P3Params(merge_gap_s=0.0), 1.0,
                          TCP_CHANNELS)
    assert [r[:3] for r in runs] == [(TCP_CHANNELS[0], 6.0, 10.44), (TCP_CHANNELS[1], 6.0, 8.0)]
