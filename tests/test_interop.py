"""Outputs others open: MNE annotations, BIDS events (epilepsy2bids), per-channel .csv, the
notebook API."""
import datetime
import json

import numpy as np
import pytest

from neurokube.core.edf import write_edf
from neurokube.core.formats import read_annotation
from neurokube.core.scoring import pair_files, score_pairs
from neurokube.models.bundle import ModelBundle
from neurokube.models.config import P3Params
from neurokube.pipelines import cli
from tests.conftest import ELECTRODES_19

BIDS_NAME = "sub-01_ses-01_task-szMonitoring_run-00_eeg"
START = datetime.datetime(2021, 3, 4, 5, 6, 7)


@pytest.fixture(scope="module")
def eager_bundle(random_bundle, tmp_path_factory):
    """The random bundle with a P3 that fires, so that every format has events."""
    bundle = ModelBundle.load(random_bundle)
    bundle.p3 = P3Params(threshold=0.3, min_channels=0, min_duration_s=1.0, p2_weight=0.0)
    return bundle.save(tmp_path_factory.mktemp("eager") / "bundle")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, eager_bundle):
    root = tmp_path_factory.mktemp("bids")
    folder = root / "bids" / "sub-01" / "ses-01" / "eeg"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(4)
    labels = [f"{e.capitalize()}" for e in ELECTRODES_19] + ["A1", "A2"]
    path = folder / f"{BIDS_NAME}.edf"
    write_edf(path, rng.normal(0, 30, (len(labels), 250 * 60)), labels, 250, start=START)
    out = root / "results"
    assert cli.main(["label", "--input", str(root / "bids"), "--output", str(out), "--model",
                     str(eager_bundle), "--formats", "csv_bi,csv,mne,events_tsv",
                     "--direct_running_mode=in_memory"]) == 0
    return root, out / "sub-01" / "ses-01" / "eeg"


def test_bids_events_are_named_after_the_recording_and_read_by_epilepsy2bids(labelled):
    from epilepsy2bids.annotations import Annotations
    _, out = labelled
    tsv = out / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv"
    assert tsv.exists() and not (out / f"{BIDS_NAME}_events.tsv").exists()
    sidecar = json.loads(tsv.with_suffix(".json").read_text())
    assert sidecar["onset"]["Units"] == "s"
    events = Annotations.loadTsv(str(tsv)).events
    ours = [e for e in read_annotation(out / f"{BIDS_NAME}.csv_bi").events if e.label == "seiz"]
    assert len(events) == len(ours) > 0
    for theirs, mine in zip(events, ours):
        assert theirs["onset"] == pytest.approx(mine.start_s)
        assert theirs["dateTime"] == START  # the recording's start, as epilepsy2bids writes


def test_bids_events_pair_with_their_reference(labelled, tmp_path):
    _, out = labelled
    ref = tmp_path / "ref" / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv"
    ref.parent.mkdir()
    ref.write_text("onset\tduration\teventType\tconfidence\tchannels\tdateTime\t"
                   "recordingDuration\n10.0\t20.0\tsz\tn/a\tn/a\tn/a\t60.0\n")
    hyp = out / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv"
    pairs = pair_files(str(ref.parent), [str(hyp)])
    assert len(pairs) == 1 and score_pairs(pairs)["overlap"]["targets"] == 1
    # The .csv_bi keeps the recording's name (..._eeg) and pairs with the same reference,
    # and a folder holding both formats is one recording.
    csv_bi = out / f"{BIDS_NAME}.csv_bi"
    assert pair_files(str(ref.parent), [str(csv_bi)]) == [(ref, csv_bi)]
    assert [r for r, _ in pair_files(str(ref.parent), str(out), partial=True)] == [ref]


def test_mne_reads_the_annotation_file_onto_the_recording(labelled):
    import mne
    root, out = labelled
    annotations = mne.read_annotations(out / f"{BIDS_NAME}_annotations.txt")
    ours = [e for e in read_annotation(out / f"{BIDS_NAME}.csv_bi").events if e.label == "seiz"]
    assert len(annotations) == len(ours) > 0
    np.testing.assert_allclose(annotations.onset, [e.start_s for e in ours], atol=1e-3)
    np.testing.assert_allclose(annotations.duration, [e.stop_s - e.start_s for e in ours],
                               atol=1e-3)
    assert set(annotations.description) == {"seizure"}
    np.testing.assert_allclose([x["confidence"] for x in annotations.extras],
                               [e.confidence for e in ours], atol=1e-4)
    raw = mne.io.read_raw_edf(root / "bids" / "sub-01" / "ses-01" / "eeg" / f"{BIDS_NAME}.edf",
                              verbose="error")
    raw.set_annotations(annotations)  # none falls outside the recording
    np.testing.assert_allclose(raw.annotations.onset, [e.start_s for e in ours], atol=1e-3)


@pytest.mark.parametrize("events", [[], [(44.0, 62.0, 0.97)],
                                    [(44.0, 62.0, 0.97), (134.0, 150.5, 0.91)]])
def test_mne_reads_any_number_of_events(tmp_path, events):
    import types
    import mne
    from neurokube.transforms.write import mne_txt
    path = tmp_path / "r_annotations.txt"
    path.write_text(mne_txt(types.SimpleNamespace(events=events)))
    annotations = mne.read_annotations(path)
    np.testing.assert_allclose(annotations.onset, [s for s, _, _ in events])
    np.testing.assert_allclose(annotations.duration, [e - s for s, e, _ in events])
    assert annotations.orig_time is None  # onsets count from the first sample


def test_per_channel_csv_covers_each_channel_as_tusz_does(labelled):
    from neurokube.core.feature_spec import TCP_CHANNELS
    _, out = labelled
    channel = read_annotation(out / f"{BIDS_NAME}.csv")
    term = [e for e in read_annotation(out / f"{BIDS_NAME}.csv_bi").events if e.label == "seiz"]
    assert not channel.is_term
    seizures = [e for e in channel.events if e.label == "seiz"]
    assert seizures
    for event in seizures:
        assert any(t.start_s - 1e-6 <= event.start_s and event.stop_s <= t.stop_s + 1e-6
                   for t in term)
    names = list(dict.fromkeys(e.channel for e in channel.events))
    assert names == [c for c in TCP_CHANNELS if c in names] and len(names) >= 18
    for name in names:  # every analysed channel: seiz and bckg from 0 to the end
        rows = [e for e in channel.events if e.channel == name]
        assert rows[0].start_s == 0 and rows[-1].stop_s == pytest.approx(channel.duration_s)
        assert all(a.stop_s == pytest.approx(b.start_s) for a, b in zip(rows, rows[1:]))
        assert {e.label for e in rows} <= {"seiz", "bckg"}


def test_api_labels_a_file_and_an_array_in_three_lines(labelled, eager_bundle):
    from neurokube import api
    root, out = labelled
    edf = root / "bids" / "sub-01" / "ses-01" / "eeg" / f"{BIDS_NAME}.edf"
    events = api.label(edf, model=str(eager_bundle))
    ours = [e for e in read_annotation(out / f"{BIDS_NAME}.csv_bi").events if e.label == "seiz"]
    np.testing.assert_allclose(events.onset, [e.start_s for e in ours])
    assert len(events.to_mne()) == len(ours)
    import pyedflib
    with pyedflib.EdfReader(str(edf)) as reader:
        x = np.stack([reader.readSignal(i) for i in range(reader.signals_in_file)])
        labels = reader.getSignalLabels()
    from_array = api.label(x, fs_hz=250, channel_labels=labels, model=str(eager_bundle))
    np.testing.assert_allclose(from_array.fused, events.fused, atol=1e-4)
