"""``label --incremental``: fingerprints, skipping what is current, overlapping runs."""
import hashlib
import json
import os
import subprocess
import sys
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.models.bundle import ModelBundle
from neurokube.models.config import P3Params
from neurokube.models.handler import DetectorModelHandler
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import finish_run
from neurokube.core.formats import read_annotation
from neurokube.transforms.fingerprint import fingerprint
from neurokube.core.sources import list_recordings

FORMATS = ("csv_bi", "tse", "hyp", "events_tsv")


class CountingHandler(DetectorModelHandler):
    """Leaves one marker file per inference call in ``calls_dir`` (works across processes)."""

    def __init__(self, bundle_dir, calls_dir, **kwargs):
        super().__init__(bundle_dir, **kwargs)
        self.calls_dir = str(calls_dir)

    def load_model(self):
        detector = super().load_model()
        real, calls_dir = detector.posteriors, self.calls_dir

        def posteriors(chunk):
            name = os.path.basename(chunk.path)
            with open(os.path.join(calls_dir, f"{name}.{uuid.uuid4().hex}"), "w"):
                pass
            return real(chunk)

        detector.posteriors = posteriors
        return detector


def run_label(inputs, out, bundle_dir, calls_dir, incremental=True):
    calls_dir.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(calls_dir))
    p = beam.Pipeline(options=PipelineOptions([]))
    build_label_pipeline(p, inputs, str(out), ModelBundle.load(bundle_dir),
                         CountingHandler(str(bundle_dir), calls_dir, p1_batch_windows=2000),
                         formats=FORMATS, incremental=incremental, run_id="test")
    result = p.run()
    result.wait_until_finish()
    finish_run(str(out), "test", 0.0)
    skipped = result.metrics().query(beam.metrics.MetricsFilter().with_name(
        "recordings_skipped_unchanged"))["counters"]
    new = sorted(set(os.listdir(calls_dir)) - before)
    run = json.loads((out / "run.json").read_text())
    run["_skipped_counter"] = sum(c.committed for c in skipped)
    return run, sorted({name.rsplit(".", 1)[0] for name in new})


@pytest.fixture
def corpus(make_edf, tmp_path):
    for i in range(3):
        make_edf(f"r{i}.edf", folder=f"corpus/s{i}/01_tcp_ar", seed=i, duration_s=20.0)
    bad = make_edf("broken.edf", folder="corpus/bad/01_tcp_ar")[0]
    bad.write_bytes(bad.read_bytes()[:-300])
    return tmp_path / "corpus"


def _other_version(bundle_dir, tmp_path):
    bundle = ModelBundle.load(bundle_dir)
    bundle.p3 = P3Params(threshold=0.6, min_channels=0, min_duration_s=1.0)
    return bundle.save(tmp_path / "bundle_v2"), bundle.version


def test_fingerprint_is_a_content_hash(make_edf, tmp_path):
    path, _ = make_edf("a.edf")
    assert fingerprint(str(path)) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    copy = tmp_path / "copy.edf"
    copy.write_bytes(path.read_bytes())
    assert fingerprint(str(copy)) == fingerprint(str(path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        fingerprint(str(tmp_path / "missing.edf"))


def test_incremental_redoes_only_what_changed(corpus, make_edf, tmp_path, random_bundle):
    inputs = list_recordings(str(corpus))
    out, calls = tmp_path / "out", tmp_path / "calls"
    names = ["r0.edf", "r1.edf", "r2.edf"]

    run, inferred = run_label(inputs, out, random_bundle, calls)
    assert inferred == names
    assert (run["results"], run["dead_letters"], run["skipped_unchanged"]) == (3, 1, 0)
    version = ModelBundle.load(random_bundle).version
    meta = json.loads((out / "s1/01_tcp_ar/r1.result.json").read_text())
    assert meta["model_version"] == version
    assert meta["input_fingerprint"] == fingerprint(str(corpus / "s1/01_tcp_ar/r1.edf"))
    first = {p: p.read_bytes() for p in _results(out)}

    # Unchanged corpus, same model: no inference at all; the broken file is tried again.
    run, inferred = run_label(inputs, out, random_bundle, calls)
    assert inferred == []
    assert (run["results"], run["dead_letters"], run["skipped_unchanged"]) == (0, 1, 3)
    assert run["_skipped_counter"] == 3
    assert run["results"] + run["dead_letters"] + run["skipped_unchanged"] == run["inputs"]
    assert {p: p.read_bytes() for p in first} == first

    # One recording's bytes change: exactly that one is redone.
    make_edf("r1.edf", folder="corpus/s1/01_tcp_ar", seed=11, duration_s=20.0)
    run, inferred = run_label(inputs, out, random_bundle, calls)
    assert inferred == ["r1.edf"]
    assert (run["results"], run["skipped_unchanged"]) == (1, 2)
    meta = json.loads((out / "s1/01_tcp_ar/r1.result.json").read_text())
    assert meta["input_fingerprint"] == fingerprint(str(corpus / "s1/01_tcp_ar/r1.edf"))

    # A new model version: everything is redone and records the new version.
    bundle_v2, version_v2 = _other_version(random_bundle, tmp_path)
    assert version_v2 != version
    run, inferred = run_label(inputs, out, bundle_v2, calls)
    assert inferred == names
    assert (run["results"], run["dead_letters"], run["skipped_unchanged"]) == (3, 1, 0)
    assert {json.loads(p.read_text())["model_version"]
            for p in out.rglob("*.result.json")} == {version_v2}


def test_missing_format_or_record_is_redone(corpus, tmp_path, random_bundle):
    inputs = list_recordings(str(corpus))
    out, calls = tmp_path / "out", tmp_path / "calls"
    run_label(inputs, out, random_bundle, calls)
    (out / "s0/01_tcp_ar/r0.result.json").unlink()  # an interrupted write of r0
    (out / "s2/01_tcp_ar/r2.result.json").write_text("{not json")
    run, inferred = run_label(inputs, out, random_bundle, calls)
    assert inferred == ["r0.edf", "r2.edf"] and run["skipped_unchanged"] == 1
    run, inferred = run_label(inputs, out, random_bundle, calls, incremental=False)
    assert inferred == ["r0.edf", "r1.edf", "r2.edf"] and run["skipped_unchanged"] == 0


def _results(root):
    """Result files: not the run records (runs/, run.json: wall times) or the marker."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"
            and not p.name.startswith(".neurokube")
            and not p.relative_to(root).as_posix().startswith("runs/")]


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in _results(root)}


@pytest.mark.slow
def test_overlapping_runs_never_corrupt_each_other(corpus, tmp_path, random_bundle):
    reference = tmp_path / "reference"
    run_label(list_recordings(str(corpus)), reference, random_bundle, tmp_path / "calls",
              incremental=False)
    out = tmp_path / "shared_out"
    cmd = [sys.executable, "-m", "neurokube.pipelines.cli", "label", "--input", str(corpus),
           "--output", str(out), "--model", str(random_bundle), "--formats", ",".join(FORMATS),
           "--p1_batch_windows", "2000", "--runner_config", "direct", "--allow_dead_letters",
           "--direct_running_mode=in_memory", "--direct_num_workers=1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        assert "labelled 3 of 4 recordings" in stdout
    got, want = _tree(out), _tree(reference)
    assert not [name for name in got if ".tmp-" in name], "temporary files left behind"
    assert sorted(got) == sorted(want)
    runs = sorted((out / "runs").glob("*/run.json"))
    assert len(runs) == 2  # each run keeps its own record; neither is lost
    for path in runs + [out / "run.json"]:
        run = json.loads(path.read_text())  # complete and valid; wall times differ
        assert (run["inputs"], run["results"], run["dead_letters"]) == (4, 3, 1)
    for name, data in want.items():
        assert got[name] == data, f"{name} differs from a single run's"
        if name.endswith(".csv_bi"):
            assert read_annotation(out / name).duration_s == 20.0


def test_results_of_recordings_gone_from_the_input_are_reported_not_removed(
        corpus, tmp_path, random_bundle, capsys):
    """A scheduled re-labelling after a recording left the corpus: its results stay (they
    are the user's), and the run says how many results have no recording in this input."""
    from neurokube.pipelines.cli import main
    out = tmp_path / "out"
    command = ["label", "--input", str(corpus), "--output", str(out), "--model",
               str(random_bundle), "--incremental", "--allow_dead_letters"]
    assert main(command) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["results_without_input"] == 0
    assert "not in this input" not in capsys.readouterr().out

    (corpus / "s2/01_tcp_ar/r2.edf").unlink()
    assert main(command) == 0
    gone = out / "s2/01_tcp_ar/r2.result.json"
    assert gone.exists() and (out / "s2/01_tcp_ar/r2.csv_bi").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["results_without_input"] == 1
    assert run["results_without_input_examples"] == ["s2/01_tcp_ar/r2"]
    assert (run["inputs"], run["skipped_unchanged"]) == (3, 2)
    printed = capsys.readouterr().out
    assert (f"results of 1 recording not in this input are under {out}, left as they "
            "are (e.g. s2/01_tcp_ar/r2;") in printed


def test_the_report_of_results_without_input_reads_remote_listings_alike(monkeypatch):
    """On gs:// the listing comes from the bucket: temporary files of writes in flight
    and the runs/ records are not results, and names come out relative to the output."""
    from neurokube.core.sources import Source
    from neurokube.pipelines import run_files
    listing = ["gs://b/out/s1/r1.result.json", "gs://b/out/s2/r2.result.json",
               "gs://b/out/s2/.tmp-1a2b-r3.result.json", "gs://b/out/runs/x/r4.result.json",
               "gs://b/out/top.result.json"]
    monkeypatch.setattr(run_files, "match_remote", lambda pattern: listing)
    sources = [Source(url="gs://b/in/s1/r1.edf", name="s1/r1.edf")]
    assert run_files.results_without_input("gs://b/out", sources) == ["s2/r2", "top"]
