"""Which channels a recording has, and the levels it is referenced to, when parts of it are
flat (electrodes off before or after the EEG)."""
import numpy as np
import pyedflib
import pytest

from neurokube.api import _ArraySource
from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import FeatureSpec
from neurokube.core.feature_stream import block_means, iter_feature_chunks
from tests.conftest import SHARED_DATA, require_shared

SPEC = FeatureSpec()
ELECTRODES = ["FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3",
              "T4", "T5", "T6", "FZ", "CZ", "PZ", "A1", "A2"]
FS = 250


def _source(live_s, flat_s):
    """``live_s`` seconds of EEG-like noise on every electrode, then ``flat_s`` of zeros."""
    rng = np.random.default_rng(0)
    t = np.arange(live_s * FS) / FS
    live = np.stack([20 * np.sin(2 * np.pi * (4 + k % 7) * t) + rng.normal(0, 15, len(t))
                     for k in range(len(ELECTRODES))])
    data = np.concatenate([live, np.zeros((len(ELECTRODES), flat_s * FS))], axis=1)
    return _ArraySource(data, FS, [f"EEG {e}-REF" for e in ELECTRODES], SPEC, "rec")


def _stats(src, chunk_s=3600.0):
    chunks = list(iter_feature_chunks(src, SPEC, chunk_s, chunk_s))
    return chunks[0].stats, np.concatenate([c.features[:, c.lo_frame - c.first_frame:
                                                       c.hi_frame - c.first_frame]
                                            for c in chunks], axis=1)


def test_a_recording_flat_for_most_of_its_length_is_referenced_to_its_live_part():
    stats, features = _stats(_source(live_s=40, flat_s=60))
    assert stats.mask.all() and stats.flat_channels == ()
    # Levels of the live 40 s (the filter's decay adds a block or two after them), far
    # from the median over every block, which lies in the flat part.
    energy = block_means(features, SPEC)[:, :, 0]
    np.testing.assert_allclose(stats.reference[:, 0], np.median(energy[:, :40], axis=1),
                               atol=0.2)
    assert (np.median(energy, axis=1) < stats.reference[:, 0] - 5.0).all()
    chunked, _ = _stats(_source(live_s=40, flat_s=60), chunk_s=30.0)
    np.testing.assert_array_equal(chunked.mask, stats.mask)
    np.testing.assert_allclose(chunked.reference, stats.reference, rtol=1e-5, atol=1e-5)


def test_a_recording_live_for_most_of_its_length_keeps_the_median_of_all_its_blocks():
    stats, features = _stats(_source(live_s=60, flat_s=40))
    assert stats.mask.all()
    np.testing.assert_allclose(stats.reference, np.median(block_means(features, SPEC), axis=1),
                               rtol=1e-5, atol=1e-5)


def test_an_all_flat_recording_is_still_refused():
    with pytest.raises(RecordingError, match="no EEG signal: all 22 TCP channels are flat"):
        _stats(_source(live_s=0, flat_s=30))


def test_a_decision_on_the_first_seconds_is_not_rejudged_as_a_stream_could_not():
    """With ``mask_decision_s`` (the causal model's, which a stream mirrors) a recording
    flat in those seconds is refused whatever follows, as ``stream`` refuses it."""
    spec = SPEC.replace(mask_decision_s=30.0)
    data = _source(live_s=60, flat_s=0)._data
    src = _ArraySource(np.concatenate([np.zeros((len(ELECTRODES), 40 * FS)), data], axis=1),
                       FS, [f"EEG {e}-REF" for e in ELECTRODES], spec, "rec")
    with pytest.raises(RecordingError, match="no EEG signal"):
        list(iter_feature_chunks(src, spec, 3600.0, 3600.0))


def test_a_dead_electrode_masks_the_channels_built_from_it():
    """T3 flat for the whole recording: F7-T3, T3-T5, A1-T3 and T3-C3 are masked as flat
    (each alone looks like live referential EEG), the other 18 channels kept."""
    src = _source(live_s=60, flat_s=0)
    src._data[ELECTRODES.index("T3")] = 12.0
    stats, features = _stats(src)
    assert stats.flat_channels == ("F7-T3", "T3-T5", "A1-T3", "T3-C3")
    assert stats.mask.sum() == 18 and not features[~stats.mask].any()


def test_a_real_recording_with_a_dead_electrode_loses_only_its_channels():
    """Real EEGMMIDB scalp EEG (10-10 labels, no ears: 20 TCP channels), T7 (= T3) set
    to a constant as a disconnected electrode reads: its three channels are masked."""
    path = require_shared(SHARED_DATA / "real_background/eegmmidb_S001R01.edf")
    with pyedflib.EdfReader(str(path)) as reader:
        labels = reader.getSignalLabels()
        fs = reader.getSampleFrequency(0)
        data = np.stack([reader.readSignal(i) for i in range(len(labels))])
    live = iter_feature_chunks(_ArraySource(data, fs, labels, SPEC, "rec"), SPEC, 3600.0)
    assert next(live).stats.flat_channels == ()
    data[[i for i, label in enumerate(labels) if label.strip(". ").upper() == "T7"]] = -4.0
    stats = next(iter_feature_chunks(_ArraySource(data, fs, labels, SPEC, "rec"), SPEC,
                                     3600.0)).stats
    assert stats.flat_channels == ("F7-T3", "T3-T5", "T3-C3")
    assert stats.mask.sum() == 17
