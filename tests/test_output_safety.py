"""Nothing lost, nothing overwritten: output paths, collisions, stale results, temporary
files, privacy."""
import json
import os
import time

import pyedflib
import pytest

from neurokube.pipelines import cli


def _label(inputs, out, bundle, *extra):
    return cli.main(["label", "--input", *map(str, inputs), "--output", str(out), "--model",
                     str(bundle), "--direct_running_mode=in_memory", "--allow_dead_letters",
                     *extra])


def test_list_entries_with_dotdot_stay_under_the_output(make_edf, tmp_path, random_bundle):
    make_edf("x.edf", folder="top")
    (tmp_path / "top/a/b").mkdir(parents=True)
    listing = tmp_path / "in.list"
    listing.write_text(f"{tmp_path}/top/a/b/../../x.edf\n")
    out = tmp_path / "out"
    assert _label([listing], out, random_bundle) == 0
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv_bi")]
    assert written == ["out/top/x.csv_bi"]  # named from the list's folder, normalised


def test_colliding_names_get_distinct_outputs(make_edf, tmp_path, random_bundle, monkeypatch):
    make_edf("dup.edf", folder="c1", seed=1)
    make_edf("dup.edf", folder="c2", seed=2)
    make_edf("x.edf", folder="same", seed=3)
    make_edf("x.EDF", folder="same", seed=4)
    make_edf("y.edf", folder="same", seed=5)
    make_edf("y_eeg.edf", folder="same", seed=6)  # BIDS: its events go to y_events.tsv
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "in.list"
    listing.write_text("c1/dup.edf\nc2/dup.edf\n")
    assert _label([listing], tmp_path / "o1", random_bundle) == 0
    assert sorted(p.relative_to(tmp_path / "o1").as_posix()
                  for p in (tmp_path / "o1").rglob("*.csv_bi")) == ["c1/dup.csv_bi",
                                                                    "c2/dup.csv_bi"]
    assert _label([tmp_path / "same"], tmp_path / "o2", random_bundle,
                  "--formats", "csv_bi,events_tsv") == 0
    sources = {p.name: json.loads(p.read_text())["source"]
               for p in (tmp_path / "o2").rglob("*.result.json")}
    # The BIDS recording keeps its name beside its plain twin, in either order of arrival.
    assert sources == {"x.result.json": "x.edf", "x~2.result.json": "x~2.EDF",
                       "y_eeg.result.json": "y_eeg.edf", "y~2.result.json": "y~2.edf"}
    assert sorted(p.name for p in (tmp_path / "o2").glob("*_events.tsv")) == [
        "x_events.tsv", "x~2_events.tsv", "y_events.tsv", "y~2_events.tsv"]
    run = json.loads((tmp_path / "o2/run.json").read_text())
    assert run["inputs"] == run["results"] == 4


def _result_files(out):
    return sorted(p.name for p in out.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.name not in ("run.json", "dead_letters.jsonl"))


EVERY_FORMAT = "csv_bi,csv,tse,hyp,events_tsv,mne,posteriors"


def test_results_of_a_recording_that_now_fails_are_removed(make_edf, tmp_path, random_bundle):
    path = make_edf("r.edf", folder="corpus")[0]
    out = tmp_path / "out"
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", EVERY_FORMAT) == 0
    assert len(_result_files(out)) == 9
    path.write_bytes(path.read_bytes()[:-400])
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", "csv_bi,tse") == 0
    assert _result_files(out) == []  # every format, the events.json sidecar too
    letters = (out / "dead_letters.jsonl").read_text().splitlines()
    assert [json.loads(x)["path"] for x in letters] == ["r.edf"]


def test_a_new_result_removes_the_formats_it_was_not_asked_for(make_edf, tmp_path,
                                                               random_bundle):
    """Files of an earlier run in other formats would contradict the new result."""
    make_edf("r.edf", folder="corpus")
    out = tmp_path / "out"
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", EVERY_FORMAT) == 0
    import numpy as np
    from neurokube.core.feature_spec import TCP_CHANNELS
    with np.load(out / "r.posteriors.npz") as post:  # no pickles needed
        assert list(post["channels"]) == list(TCP_CHANNELS) and len(post["p1"]) == 22
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", "tse") == 0
    assert _result_files(out) == ["r.csv_bi", "r.result.json", "r.tse"]


def test_incremental_redoes_a_recording_whose_outputs_are_gone(make_edf, tmp_path,
                                                                random_bundle):
    make_edf("r.edf", folder="corpus")
    out = tmp_path / "out"
    assert _label([tmp_path / "corpus"], out, random_bundle, "--incremental") == 0
    (out / "r.csv_bi").unlink()  # the record remains
    assert _label([tmp_path / "corpus"], out, random_bundle, "--incremental") == 0
    run = json.loads((out / "run.json").read_text())
    assert run["results"] == 1 and run["skipped_unchanged"] == 0
    assert (out / "r.csv_bi").exists()


def test_orphaned_temporary_files_are_cleaned_at_start(make_edf, tmp_path, random_bundle):
    make_edf("r.edf", folder="corpus")
    out = tmp_path / "out"
    assert _label([tmp_path / "corpus"], out, random_bundle) == 0
    old, fresh = out / ".tmp-0123456789ab-r.csv_bi", out / ".tmp-ba9876543210-r.tse"
    old.write_text("left by a killed run")
    fresh.write_text("a write in progress elsewhere")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert _label([tmp_path / "corpus"], out, random_bundle) == 0
    assert not old.exists() and fresh.exists()


def test_no_patient_field_and_no_absolute_path_reaches_any_output(tmp_path, random_bundle):
    import numpy as np
    folder = tmp_path / "Ward-7_Jane-Roe-records" / "eeg"
    folder.mkdir(parents=True)
    path = folder / "r.edf"
    labels = [f"EEG {e}-REF" for e in ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4",
                                        "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6", "FZ",
                                        "CZ", "PZ", "A1", "A2")]
    writer = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setPatientName("Jane_Roe")
    writer.setPatientCode("MRN-998877")
    writer.setEquipment("Hospital-ABC-amp")
    writer.setSignalHeaders([{"label": lab, "dimension": "uV", "sample_frequency": 250,
                              "physical_max": 500.0, "physical_min": -500.0,
                              "digital_max": 32767, "digital_min": -32768,
                              "transducer": "", "prefilter": ""} for lab in labels])
    writer.writeSamples(list(np.random.default_rng(0).normal(0, 20, (len(labels), 250 * 20))))
    writer.close()
    out, features = tmp_path / "out", tmp_path / "features"
    assert _label([folder], out, random_bundle, "--formats",
                  "csv_bi,csv,tse,hyp,events_tsv,mne,posteriors", "--report") == 0
    assert cli.main(["featurize", "--input", str(folder), "--output", str(features)]) == 0
    secrets = [b"Jane_Roe", b"MRN-998877", b"Hospital-ABC", b"Jane-Roe", str(tmp_path).encode()]
    for root in (out, features):
        for file in root.rglob("*"):
            if file.is_file() and file.suffix != ".png":
                data = file.read_bytes()
                leaked = [s for s in secrets if s in data]
                assert not leaked, f"{file.relative_to(root)} holds {leaked}"


def _write_bdf(path, edf_path):
    """The EEG of an EDF file, rewritten as a 24-bit BDF+ file."""
    with pyedflib.EdfReader(str(edf_path)) as reader:
        headers = reader.getSignalHeaders()
        data = [reader.readSignal(i) for i in range(reader.signals_in_file)]
    for header in headers:
        header.update(digital_min=-8388608, digital_max=8388607)
    writer = pyedflib.EdfWriter(str(path), len(headers), file_type=pyedflib.FILETYPE_BDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.writeSamples(data)
    finally:
        writer.close()


def test_a_folder_yields_its_bdf_recordings_too(make_edf, tmp_path, random_bundle):
    edf = make_edf("x.edf", folder="mixed", seed=1)[0]
    _write_bdf(tmp_path / "mixed/x.bdf", edf)
    _write_bdf(tmp_path / "mixed/y.BDF", edf)
    out = tmp_path / "out"
    assert _label([tmp_path / "mixed"], out, random_bundle) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["inputs"] == run["results"] == 3
    assert sorted(p.name for p in out.rglob("*.csv_bi")) == ["x.csv_bi", "x~2.csv_bi",
                                                             "y.csv_bi"]
    assert json.loads((out / "x.result.json").read_text())["source"] == "x.edf"
    assert not (out / "dead_letters.jsonl").exists() or not (
        out / "dead_letters.jsonl").read_text().strip()


def test_a_recording_shorter_than_one_decision_step_is_a_dead_letter(tmp_path, random_bundle):
    """Half a second cannot be scored: no result may call it background."""
    import numpy as np
    from neurokube.core.edf import write_edf
    labels = [f"EEG {e}-REF" for e in ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1",
                                       "O2", "F7", "F8", "T3", "T4", "T5", "T6", "CZ")]
    (tmp_path / "short").mkdir()
    signals = np.random.default_rng(0).normal(0, 20, (len(labels), 125))
    with pytest.warns(UserWarning, match="record_duration"):
        write_edf(tmp_path / "short/half.edf", signals, labels, 250, record_s=0.5)
    out = tmp_path / "out"
    assert _label([tmp_path / "short"], out, random_bundle) == 0
    assert not list(out.rglob("*.csv_bi"))
    (letter,) = [json.loads(x) for x in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert letter["path"] == "half.edf"
    assert "recording of 0.5 s is shorter than one 1 s decision step" in letter["reason"]


def test_the_result_record_names_the_masked_channels(make_edf, tmp_path, random_bundle):
    make_edf("ears.edf", folder="in", seed=1)
    make_edf("no_ears.edf", folder="in", seed=2, ears=False)
    out = tmp_path / "out"
    assert _label([tmp_path / "in"], out, random_bundle) == 0
    records = {p.name: json.loads(p.read_text()) for p in out.glob("*.result.json")}
    assert records["ears.result.json"]["masked_channels"] == []
    assert records["no_ears.result.json"]["masked_channels"] == ["A1-T3", "T4-A2"]


def test_adding_a_list_entry_renames_no_other_recording(tmp_path, monkeypatch):
    from neurokube.core.sources import list_recordings
    for rel in ("corpA/s1/a.edf", "corpA/s1/b.edf", "corpA/new/c.edf", "elsewhere/d.edf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"0")
    monkeypatch.chdir(tmp_path)

    def names(*entries, where=tmp_path / "l.list", spec=None):
        where.write_text("".join(f"{e}\n" for e in entries))
        return [s.name for s in list_recordings([spec or str(where)]).sources]

    first = names("corpA/s1/a.edf", "corpA/s1/b.edf", spec="l.list")
    assert first == ["corpA/s1/a.edf", "corpA/s1/b.edf"]
    for spec in ("l.list", "./l.list", str(tmp_path / "l.list")):  # however it is typed
        assert set(names("corpA/s1/a.edf", "./corpA/s1/b.edf", "corpA/new/c.edf",
                         spec=spec)) == {*first, "corpA/new/c.edf"}
    absolute = [str(tmp_path / e) for e in ("corpA/s1/a.edf", "corpA/new/c.edf")]
    assert names(*absolute) == ["corpA/new/c.edf", "corpA/s1/a.edf"]
    # Entries outside the list's folder are named from the folder they share.
    assert names(str(tmp_path / "elsewhere/d.edf"),
                 where=tmp_path / "corpA" / "l.list") == ["d.edf"]


def test_a_run_starting_beside_another_is_not_refused_for_its_temporary_files(make_edf,
                                                                             tmp_path):
    """Two runs into one new folder: the second may look while the first is still
    writing the folder's marker (a temporary file); that is NeuroKube's own file, not a
    user's, while any other file still stops the run."""
    from neurokube.core.sources import list_recordings
    from neurokube.pipelines.options import UsageError
    from neurokube.pipelines.run_files import MARKER_FILE, prepare_output
    make_edf("r.edf", folder="corpus")
    inputs = list_recordings(str(tmp_path / "corpus"))
    out = tmp_path / "out"
    out.mkdir()
    (out / f".tmp-92748740a1b8-{MARKER_FILE}").write_text("being written")
    prepare_output(str(out), inputs)
    assert (out / MARKER_FILE).exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("a user's file")
    with pytest.raises(UsageError, match="holds files NeuroKube did not write"):
        prepare_output(str(other), inputs)
