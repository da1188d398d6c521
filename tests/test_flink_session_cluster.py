"""``neurokube label`` on a real multi-process Flink session cluster (a JobManager and two
TaskManagers, three JVMs, started by ``.ci/flink_session_cluster.sh``) with the Python SDK
harness in a Beam worker pool (EXTERNAL environment), as on the Kubernetes deployment,
writes byte-identical results to the DirectRunner's.

Only the command line is used (``neurokube.pipelines.cli``), so this test does not depend
on where the pipeline modules live.
"""
import hashlib
import json
import time

import pytest

from neurokube.pipelines import cli

try:
    from flink_support import (beam_worker_pool, flink_corpus, flink_job_server_jar,  # noqa: F401
                               flink_session_cluster, rest_get)
except ImportError:  # tests/ imported as a package
    from tests.flink_support import (beam_worker_pool, flink_corpus,  # noqa: F401
                                     flink_job_server_jar,
                                     flink_session_cluster, rest_get)

pytestmark = [pytest.mark.flink, pytest.mark.slow]
FORMATS = "csv_bi,tse,hyp,events_tsv"
# Run bookkeeping, which differs between runs: run.json (wall times, runner flags) and,
# where the CLI keeps one, the runs/<run id>/ folder.
RUN_FILE = "run.json"
RUNS_FOLDER = "runs"
TMP_MARKER = ".tmp-"    # atomic writes: temporary name, then rename
# Exit statuses of `neurokube label` on this corpus, which holds one broken recording:
# 0, or 3 where the command reports dead letters in its exit status.
LABEL_OK = (0, 3)


@pytest.fixture
def corpus(flink_corpus):
    return flink_corpus


def _outputs(root):
    """SHA-256 of every output but the run bookkeeping."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != RUN_FILE
            and p.relative_to(root).parts[0] != RUNS_FOLDER}


def _label(corpus, out, bundle, *beam_args):
    """Run ``neurokube label``; returns (exit status, wall seconds)."""
    argv = ["label", "--input", str(corpus), "--output", str(out), "--model", str(bundle),
            "--formats", FORMATS, "--p1_batch_windows", "2000", *beam_args]
    start = time.perf_counter()
    status = cli.main(argv)
    assert status in LABEL_OK
    assert (out / RUN_FILE).is_file()
    return status, time.perf_counter() - start


def _expected_names():
    names = {"dead_letters.jsonl"}
    for i in range(3):
        names |= {f"s{i}/01_tcp_ar/r{i}{suffix}" for suffix in
                  (".csv_bi", ".tse", ".hyp", "_events.tsv", ".result.json")}
    return names


def test_label_on_session_cluster_matches_direct(corpus, tmp_path, random_bundle,
                                                 flink_job_server_jar, flink_session_cluster,
                                                 beam_worker_pool, record_property):
    cluster, pool = flink_session_cluster, beam_worker_pool
    overview = rest_get(cluster.address, "/overview")
    assert overview["taskmanagers"] == cluster.taskmanagers == 2, overview
    jobs_before = {j["jid"] for j in rest_get(cluster.address, "/jobs/overview")["jobs"]}

    direct_status, direct_s = _label(corpus, tmp_path / "direct", random_bundle,
                                     "--runner_config", "direct",
                                     "--direct_running_mode=in_memory")
    flink_status, flink_s = _label(corpus, tmp_path / "flink", random_bundle,
                                   "--runner_config", "flink_local",
                                   f"--flink_master={cluster.address}", "--parallelism=2",
                                   "--environment_type=EXTERNAL",
                                   f"--environment_config={pool.address}",
                                   f"--flink_job_server_jar={flink_job_server_jar}")
    record_property("session_cluster_label_s", round(flink_s, 1))
    record_property("direct_label_s", round(direct_s, 1))
    print(f"\nlabel on the Flink session cluster (job server + submit + run): {flink_s:.1f} s; "
          f"DirectRunner: {direct_s:.1f} s; cluster logs: {cluster.log_dir}; "
          f"worker pool log: {pool.log}")

    assert flink_status == direct_status
    want, got = _outputs(tmp_path / "direct"), _outputs(tmp_path / "flink")
    assert _expected_names() <= set(want), sorted(want)
    assert not [name for name in set(want) | set(got) if TMP_MARKER in name], \
        "no temporary files may be left behind"
    assert got == want
    letters = [json.loads(x) for x in
               (tmp_path / "flink" / "dead_letters.jsonl").read_text().splitlines()]
    assert [x["path"].rsplit("/", 1)[-1] for x in letters] == ["broken.edf"]

    # The job ran on the session cluster, across both TaskManagers.
    jobs = [j for j in rest_get(cluster.address, "/jobs/overview")["jobs"]
            if j["jid"] not in jobs_before]
    assert len(jobs) == 1, jobs
    assert jobs[0]["state"] == "FINISHED", jobs[0]
    vertices = rest_get(cluster.address, f"/jobs/{jobs[0]['jid']}")["vertices"]
    used = set()
    for vertex in vertices:
        detail = rest_get(cluster.address, f"/jobs/{jobs[0]['jid']}/vertices/{vertex['id']}"
                                            "/taskmanagers")
        used |= {tm["taskmanager-id"] for tm in detail["taskmanagers"]}
    registered = {tm["id"] for tm in rest_get(cluster.address, "/taskmanagers")["taskmanagers"]}
    assert len(registered) == 2 and used == registered, (used, registered)

    # Every SDK worker exited with the job (the pool ignores StopWorker: see its docstring).
    deadline = time.monotonic() + 30
    while pool.workers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pool.workers() == [], f"SDK workers left running (log: {pool.log})"
