"""The shipped reference model on real Bonn EEG it was never trained on (segments 61-80).

A 100 Hz scalp-layout recording without A1/A2 (19 electrodes labelled ``EEG FP1-REF``...,
plus non-EEG channels), background from the Bonn Z/O sets and one seizure from the S set
on a left-temporal group of electrodes, is labelled end to end with the default model.
"""
import numpy as np
from scipy.signal import resample

from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
from neurokube.pipelines.cli import main
from neurokube.core.formats import read_annotation
from neurokube.core.edf import write_edf
from tests.conftest import BONN, require_shared

ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ")
SEIZURE_ELECTRODES = ("F7", "T3", "T5", "FP1", "C3")
FS_HZ = 100
SEG_S = 4097 / 173.61


def _segment(root, name, number, rng):
    x = np.loadtxt(root / name / f"{name}{number:03d}.txt")
    x = resample(x - x.mean(), int(round(len(x) * FS_HZ / 173.61)))
    x = np.roll(x, int(rng.integers(len(x))))
    return x / x.std() * rng.lognormal(np.log(40.0), 0.2)


def make_recording(path, seed=0, n_segments=12, seizure_segments=(5, 6)):
    root = require_shared(BONN)
    rng = np.random.default_rng(seed)
    numbers = range(61, 81)
    shared = np.concatenate([_segment(root, rng.choice(["Z", "O"]), rng.choice(numbers), rng)
                             for _ in range(n_segments)])
    signals = []
    for e in ELECTRODES:
        own = [_segment(root, "S" if (k in seizure_segments and e in SEIZURE_ELECTRODES)
                        else rng.choice(["Z", "O"]), rng.choice(numbers), rng)
               for k in range(n_segments)]
        signals.append(0.7 * np.concatenate(own) + 0.3 * shared + rng.normal(0, 1.5, len(shared)))
    extra = [rng.normal(0, 5, len(shared)) for _ in range(2)]
    duration = write_edf(path, np.stack(signals + extra),
                         [f"EEG {e}-REF" for e in ELECTRODES] + ["EEG EKG1-REF", "PHOTIC-REF"],
                         FS_HZ)
    seg_len = len(shared) / n_segments / FS_HZ
    return duration, (seizure_segments[0] * seg_len, (seizure_segments[-1] + 1) * seg_len)


def test_reference_bundle_is_intact_and_documented():
    bundle = ModelBundle.load(REFERENCE_BUNDLE)
    assert (REFERENCE_BUNDLE / "VERSION").read_text().strip() == bundle.version
    card = (REFERENCE_BUNDLE / "MODEL_CARD.md").read_text()
    assert "never seen TUSZ" in card and "Dev-set results" in card
    assert bundle.training["dev_metrics"]["overlap"]["sensitivity_pct"] > 50


def test_100hz_recording_without_ears_seizure_is_detected(tmp_path):
    folder = tmp_path / "corpus" / "03_tcp_ar_a"
    folder.mkdir(parents=True)
    duration, (start, stop) = make_recording(folder / "bonn100_s001_t000.edf")
    out = tmp_path / "out"
    assert main(["label", "--input", str(tmp_path / "corpus"), "--output", str(out),
                 "--direct_num_workers=1"]) == 0
    events = read_annotation(out / "03_tcp_ar_a" / "bonn100_s001_t000.csv_bi").events
    assert read_annotation(out / "03_tcp_ar_a" / "bonn100_s001_t000.csv_bi").duration_s == duration
    hits = [e for e in events if e.stop_s > start and e.start_s < stop]
    assert hits, f"seizure [{start:.1f}, {stop:.1f}] s not detected; events {events}"
    false_alarms = [e for e in events if not (e.stop_s > start and e.start_s < stop)]
    assert len(false_alarms) <= 1
