"""``neurokube label`` on the FlinkRunner (job server's embedded cluster, LOOPBACK) writes
byte-identical results to the DirectRunner's, and Flink's restarts recover a failed job."""
import hashlib
import json
import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.models.bundle import ModelBundle
from neurokube.models.handler import DetectorModelHandler
from neurokube.pipelines import cli
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import RUN_FILE, RUNS_FOLDER, finish_run, prepare_output
from neurokube.pipelines.runner_config import resolve_beam_args
from neurokube.core.sources import list_recordings

try:
    from flink_support import flink_corpus, flink_job_server_jar  # noqa: F401  (fixtures)
except ImportError:  # tests/ imported as a package
    from tests.flink_support import flink_corpus, flink_job_server_jar  # noqa: F401

pytestmark = pytest.mark.flink
FORMATS = "csv_bi,tse,hyp,events_tsv"
FLINK_CONF_DIR = Path(__file__).resolve().parents[1] / "runner_configs" / "flink"


@pytest.fixture
def corpus(flink_corpus):
    return flink_corpus


def _outputs(root):
    """Every output but the run records (run.json, runs/: wall times and runner flags)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != RUN_FILE
            and not p.relative_to(root).as_posix().startswith(RUNS_FOLDER + "/")}


def _label(corpus, out, bundle, *beam_args):
    argv = ["label", "--input", str(corpus), "--output", str(out), "--model", str(bundle),
            "--formats", FORMATS, "--p1_batch_windows", "2000", "--allow_dead_letters",
            *beam_args]
    assert cli.main(argv) == 0
    return json.loads((out / RUN_FILE).read_text())


def _expected_names():
    names = {"dead_letters.jsonl", ".neurokube-output"}
    for i in range(3):
        names |= {f"s{i}/01_tcp_ar/r{i}{suffix}" for suffix in
                  (".csv_bi", ".tse", ".hyp", "_events.tsv", "_events.json",
                   ".result.json")}
    return names


def test_label_on_flink_matches_direct(corpus, tmp_path, random_bundle, flink_job_server_jar):
    direct = _label(corpus, tmp_path / "direct", random_bundle, "--runner_config", "direct",
                    "--direct_running_mode=in_memory")
    flink = _label(corpus, tmp_path / "flink", random_bundle, "--runner_config", "flink_local",
                   f"--flink_job_server_jar={flink_job_server_jar}", "--parallelism=2")
    assert flink["options"]["beam_args"][0] == "--runner=FlinkRunner"
    for run in (direct, flink):
        assert (run["inputs"], run["results"], run["dead_letters"]) == (4, 3, 1)
    want, got = _outputs(tmp_path / "direct"), _outputs(tmp_path / "flink")
    assert set(want) == _expected_names(), "no temporary files may be left behind"
    assert got == want
    letters = (tmp_path / "flink" / "dead_letters.jsonl").read_text().splitlines()
    assert [json.loads(x)["stage"] for x in letters] == ["read"]


class FlakyLoadHandler(DetectorModelHandler):
    """Fails to load the model the first time in a test run (marker file in ``state_dir``):
    a worker-level fault that no DoFn catches, so only the runner can recover from it."""

    def __init__(self, bundle_dir, state_dir, **kwargs):
        super().__init__(bundle_dir, **kwargs)
        self.state_dir = str(state_dir)

    def load_model(self):
        marker = os.path.join(self.state_dir, "load_attempts")
        attempts = (int(Path(marker).read_text()) if os.path.exists(marker) else 0) + 1
        Path(marker).write_text(str(attempts))
        if attempts == 1:
            raise ConnectionError("simulated: model bucket unreachable on first load")
        return super().load_model()


def test_flink_restart_recovers_a_failed_job(corpus, tmp_path, random_bundle,
                                             flink_job_server_jar):
    reference = tmp_path / "direct"
    _label(corpus, reference, random_bundle, "--runner_config", "direct",
           "--direct_running_mode=in_memory")
    state, out = tmp_path / "state", tmp_path / "flink"
    state.mkdir()
    argv = resolve_beam_args("flink_local", [f"--flink_job_server_jar={flink_job_server_jar}",
                                             f"--flink_conf_dir={FLINK_CONF_DIR}",
                                             "--parallelism=1"])
    p = beam.Pipeline(options=PipelineOptions(argv))
    inputs = list_recordings(str(corpus))
    run_id = prepare_output(str(out), inputs)
    build_label_pipeline(p, inputs, str(out), ModelBundle.load(random_bundle),
                         FlakyLoadHandler(str(random_bundle), state, p1_batch_windows=2000),
                         formats=FORMATS.split(","), run_id=run_id)
    p.run().wait_until_finish()
    assert int((state / "load_attempts").read_text()) >= 2, "the job was not restarted"
    run = finish_run(str(out), run_id, 0.0)
    assert (run["inputs"], run["results"], run["dead_letters"]) == (4, 3, 1)
    assert _outputs(out) == _outputs(reference)
    assert len((out / "dead_letters.jsonl").read_text().splitlines()) == 1
