"""Online P3 decides each event once and ends with batch P3's events."""
import numpy as np
import pytest

from neurokube.models.config import P3Params
from neurokube.models.postprocess import OnlineEvents, detect_events


@pytest.mark.parametrize("tail_s", [-0.5, 0.44])
@pytest.mark.parametrize("seed", range(12))
def test_online_events_equal_batch_events(seed, tail_s):
    rng = np.random.default_rng(seed)
    n = 600
    fused = np.clip(np.convolve(rng.normal(0.3, 0.4, n), np.ones(9) / 9, "same"), 0, 1)
    p1 = np.clip(fused[None, :] + rng.normal(0, 0.2, (22, n)), 0, 1)
    mask = np.ones(22, bool)
    mask[[8, 13]] = False
    params = P3Params(threshold=0.45, merge_gap_s=float(rng.integers(0, 6)),
                      min_duration_s=float(rng.integers(1, 8)),
                      min_channels=int(rng.integers(0, 4)))
    batch = detect_events(fused, p1, mask, params, 1.0, n + tail_s)
    online = OnlineEvents(params, 1.0, 22)
    decisions, lo = [], 0  # steps arrive in uneven batches
    while lo < n:
        hi = min(n, lo + int(rng.integers(1, 50)))
        decisions += online.update(fused[lo:hi], p1[:, lo:hi], mask)
        lo = hi
    decisions += online.finish(n + tail_s)
    assert [e[:2] for e in online.events] == [e[:2] for e in batch]
    np.testing.assert_allclose([e[2] for e in online.events], [e[2] for e in batch], rtol=1e-9)
    starts = [d for d in decisions if d[0] == "start"]
    assert [s[1] for s in starts] == [e[0] for e in batch]
    # A start is decided once enough evidence is in: never before the event's onset.
    assert all(at >= start for _, start, at in starts)
