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
    assert written == ["out/x.csv_bi"]


def test_colliding_names_get_distinct_outputs(make_edf, tmp_path, random_bundle, monkeypatch):
    make_edf("dup.edf", folder="c1", seed=1)
    make_edf("dup.edf", folder="c2", seed=2)
    make_edf("x.edf", folder="same", seed=3)
    make_edf("x.EDF", folder="same", seed=4)
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "in.list"
    listing.write_text("c1/dup.edf\nc2/dup.edf\n")
    assert _label([listing], tmp_path / "o1", random_bundle) == 0
    assert sorted(p.relative_to(tmp_path / "o1").as_posix()
                  for p in (tmp_path / "o1").rglob("*.csv_bi")) == ["c1/dup.csv_bi",
                                                                    "c2/dup.csv_bi"]
    assert _label([tmp_path / "same"], tmp_path / "o2", random_bundle) == 0
    outputs = sorted(p.name for p in (tmp_path / "o2").rglob("*.csv_bi"))
    assert outputs == ["x.csv_bi", "x~2.csv_bi"]
    run = json.loads((tmp_path / "o2/run.json").read_text())
    assert run["inputs"] == run["results"] == 2


def test_results_of_a_recording_that_now_fails_are_removed(make_edf, tmp_path, random_bundle):
    path = make_edf("r.edf", folder="corpus")[0]
    out = tmp_path / "out"
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", "csv_bi,tse") == 0
    assert (out / "r.csv_bi").exists() and (out / "r.tse").exists()
    path.write_bytes(path.read_bytes()[:-400])
    assert _label([tmp_path / "corpus"], out, random_bundle, "--formats", "csv_bi,tse") == 0
    assert not (out / "r.csv_bi").exists() and not (out / "r.tse").exists()
    assert not (out / "r.result.json").exists()
    letters = (out / "dead_letters.jsonl").read_text().splitlines()
    assert [json.loads(x)["path"] for x in letters] == ["r.edf"]


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
