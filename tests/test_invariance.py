"""The shipped model on real scalp EEG does not key on the recording's gain or rate.

The recording: CHB-MIT chb03's 10 s clips (preictal, then ictal, of seizures 01-04, as
stored: 23 bipolar derivations at 256 Hz), joined into 80 s. The same EEG written at
×0.1 and ×10 gain must give the same posteriors (to float32 round-off and the EDF's
16-bit quantisation) and the same events; written at 512 Hz (resampled) its events must
lie within 1 s of those at 256 Hz. Events are compared at the bundle's operating point and
at a threshold set to the median fused posterior, where there are always some.
"""
import dataclasses

import numpy as np
import pyedflib
import pytest
from scipy.signal import resample_poly

from tests.conftest import SHARED_DATA, require_shared
from neurokube import api
from neurokube.core.edf import write_edf
from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
from neurokube.models.postprocess import detect_events

CHB = SHARED_DATA / "chbmit_chb03"


@pytest.fixture(scope="module")
def chb_eeg():
    require_shared(CHB)
    parts, labels = [], None
    for number in ("01", "02", "03", "04"):
        for kind in ("preictal", "ictal"):
            with pyedflib.EdfReader(str(CHB / f"chbmit_chb03_{number}_{kind}.edf")) as reader:
                labels = reader.getSignalLabels()
                parts.append(np.stack([reader.readSignal(i) for i in range(len(labels))]))
    return np.concatenate(parts, axis=1), labels


def _label(tmp_path, name, signals, labels, fs):
    path = tmp_path / f"{name}.edf"
    write_edf(path, signals, labels, fs)
    return api.label(str(path))


def _events(result, params):
    bundle = ModelBundle.load(REFERENCE_BUNDLE, with_models=False)
    mask = result.p1.any(axis=1)
    return [e[:2] for e in detect_events(result.fused, result.p1, mask, params,
                                         bundle.config.step_s)]


def _operating_points(reference):
    bundle = ModelBundle.load(REFERENCE_BUNDLE, with_models=False)
    low = dataclasses.replace(bundle.p3, threshold=float(np.median(reference.fused)),
                              min_duration_s=1.0, min_channels=0)
    return bundle.p3, low


def test_gain_does_not_change_posteriors_or_events(tmp_path, chb_eeg):
    signals, labels = chb_eeg
    results = {gain: _label(tmp_path, f"gain{gain}", signals * gain, labels, 256)
               for gain in (1.0, 0.1, 10.0)}
    reference = results[1.0]
    for gain in (0.1, 10.0):
        np.testing.assert_allclose(results[gain].fused, reference.fused, atol=2e-3)
        for params in _operating_points(reference):
            assert _events(results[gain], params) == _events(reference, params), gain
    assert _events(reference, _operating_points(reference)[1])  # something was compared


def test_rate_does_not_move_events_by_more_than_a_second(tmp_path, chb_eeg):
    signals, labels = chb_eeg
    at256 = _label(tmp_path, "fs256", signals, labels, 256)
    at512 = _label(tmp_path, "fs512", resample_poly(signals, 2, 1, axis=1), labels, 512)
    for params in _operating_points(at256):
        slow, fast = _events(at256, params), _events(at512, params)
        assert len(slow) == len(fast), (slow, fast)
        for (s1, e1), (s2, e2) in zip(slow, fast):
            assert abs(s1 - s2) <= 1.0 and abs(e1 - e2) <= 1.0
    assert _events(at256, _operating_points(at256)[1])


@pytest.mark.parametrize("fs", [256, 512])
def test_dc_offsets_do_not_change_posteriors(chb_eeg, fs):
    """DC-coupled amplifiers (BioSemi...) store each electrode with an offset of up to tens
    of mV; at rates that need resampling it must not reach the model (without
    ``resample_remove_offset`` P1 moves by 0.1-0.7 here)."""
    signals, labels = chb_eeg
    signals = signals if fs == 256 else resample_poly(signals, fs // 256, 1, axis=1)
    offsets = np.random.default_rng(3).uniform(-25_000.0, 25_000.0, (len(labels), 1))
    spec = ModelBundle.load(REFERENCE_BUNDLE, with_models=False).feature_spec
    if not spec.resample_remove_offset:
        pytest.skip("the shipped bundle was featurised without resample_remove_offset")
    plain = api.label(signals, fs_hz=fs, channel_labels=labels)
    shifted = api.label(signals + offsets, fs_hz=fs, channel_labels=labels)
    # float32 TCP samples of ±25 mV keep 0.002 µV: posteriors agree to about 3e-4.
    np.testing.assert_allclose(shifted.p1, plain.p1, atol=1e-3)
    np.testing.assert_allclose(shifted.fused, plain.fused, atol=1e-3)
