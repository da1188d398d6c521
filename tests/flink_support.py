"""Pytest support for tests that run pipelines on the FlinkRunner.

The session fixture :func:`flink_job_server_jar` returns the path of a verified Beam
Flink job-server jar, fetched and cached by ``.ci/fetch_flink_job_server.sh`` (under
``${NEUROKUBE_CACHE:-~/.cache/neurokube}/flink/``). ``NEUROKUBE_FLINK_JOB_SERVER_JAR``
names a pre-downloaded jar instead.

The session fixture :func:`flink_session_cluster` starts a standalone Flink session
cluster (a JobManager and two TaskManagers, three JVMs on localhost) with
``.ci/flink_session_cluster.sh`` and stops it at the end of the session;
:func:`beam_worker_pool` starts the Beam Python SDK worker pool its TaskManagers reach
with ``--environment_type=EXTERNAL --environment_config=<its address>``
(``.ci/beam_worker_pool.py``: why not Beam's own pool is explained there). Both pick
free ports and are stopped even when a test fails; if the session is killed, the cluster
stops itself once the session's process has gone (``--owner-pid``) and the pool
likewise (``--exit_with_pid``).

Without Java the fixtures skip with the reason, except under CI (``CI`` set), where they
fail: CI must run the Flink tests. A fetch or checksum failure always fails.

Use them from a test module with::

    from flink_support import flink_job_server_jar  # noqa: F401  (pytest fixture)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = REPO_ROOT / ".ci" / "fetch_flink_job_server.sh"
CLUSTER_SCRIPT = REPO_ROOT / ".ci" / "flink_session_cluster.sh"
WORKER_POOL_SCRIPT = REPO_ROOT / ".ci" / "beam_worker_pool.py"
JAR_ENV = "NEUROKUBE_FLINK_JOB_SERVER_JAR"
FETCH_TIMEOUT_S = 900
CLUSTER_TASKMANAGERS = 2
WORKER_POOL_START_S = 60


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _require_java() -> None:
    """Skip without Java (fail under CI)."""
    if shutil.which("java") is None:
        reason = ("Java is absent: the FlinkRunner needs a JRE (17) to run the Beam Flink "
                  "job server; install openjdk-17-jre-headless")
        if _in_ci():
            pytest.fail(reason + " (CI must run the Flink tests)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def flink_job_server_jar() -> str:
    """Path of the Beam Flink job-server jar (``--flink_job_server_jar``)."""
    _require_java()
    preset = os.environ.get(JAR_ENV)
    if preset:
        if not Path(preset).is_file():
            pytest.fail(f"{JAR_ENV}={preset} does not exist", pytrace=False)
        return preset
    try:
        proc = subprocess.run(["bash", str(FETCH_SCRIPT)], capture_output=True, text=True,
                              timeout=FETCH_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{FETCH_SCRIPT} took over {FETCH_TIMEOUT_S} s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{FETCH_SCRIPT} failed (exit {proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}", pytrace=False)
    jar = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if not jar or not Path(jar).is_file():
        pytest.fail(f"{FETCH_SCRIPT} printed no jar path: {proc.stdout!r}", pytrace=False)
    return jar


# --- a standalone session cluster and its SDK worker pool ------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest_get(address: str, path: str, timeout_s: float = 10.0):
    """GET ``http://<address><path>`` of a Flink REST API; the decoded JSON."""
    with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout_s) as response:
        return json.load(response)


@dataclass(frozen=True)
class FlinkSessionCluster:
    """A running session cluster: ``address`` (``localhost:PORT``) is ``--flink_master``."""
    address: str
    name: str
    log_dir: Path
    taskmanagers: int


@pytest.fixture(scope="session")
def flink_session_cluster(request):
    """A standalone Flink session cluster on localhost (JobManager + 2 TaskManagers, one
    slot each, Flink 1.19.0 as the job server), stopped at the end of the session (its
    logs are kept only when a test failed)."""
    _require_java()
    name = f"pytest-{os.getpid()}"
    cache = Path(os.environ.get("NEUROKUBE_CACHE") or Path.home() / ".cache" / "neurokube")
    log_dir = cache / "flink-cluster" / "instances" / name / "log"
    start = ["bash", str(CLUSTER_SCRIPT), "start", "--name", name,
             "--taskmanagers", str(CLUSTER_TASKMANAGERS), "--slots", "1",
             "--owner-pid", str(os.getpid())]
    stop = ["bash", str(CLUSTER_SCRIPT), "stop", "--name", name]
    try:
        try:
            proc = subprocess.run(start, capture_output=True, text=True,
                                  timeout=FETCH_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{CLUSTER_SCRIPT} start took over {FETCH_TIMEOUT_S} s", pytrace=False)
        if proc.returncode != 0:
            pytest.fail(f"{CLUSTER_SCRIPT} start failed (exit {proc.returncode}):\n"
                        f"{proc.stderr[-4000:]}", pytrace=False)
        lines = proc.stdout.strip().splitlines()
        address = lines[-1] if lines else ""
        if not address.startswith("localhost:"):
            pytest.fail(f"{CLUSTER_SCRIPT} start printed no address: {proc.stdout!r}",
                        pytrace=False)
        yield FlinkSessionCluster(address, name, log_dir, CLUSTER_TASKMANAGERS)
    finally:
        if not request.session.testsfailed:
            stop.append("--purge")
        subprocess.run(stop, capture_output=True, text=True, timeout=120, check=False)


@dataclass(frozen=True)
class BeamWorkerPool:
    """A running SDK worker pool: ``address`` is the EXTERNAL ``--environment_config``."""
    address: str
    log: Path
    pid: int

    def workers(self) -> list[int]:
        """PIDs of the SDK worker processes the pool has running now (Linux /proc)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return pids


@pytest.fixture(scope="session")
def beam_worker_pool(tmp_path_factory):
    """The Beam Python SDK worker pool (this Python, so the project's venv) that the
    session cluster's TaskManagers start their SDK harnesses from; stopped at the end."""
    _require_java()
    port = _free_port()
    log = tmp_path_factory.mktemp("beam-worker-pool") / "worker-pool.log"
    with open(log, "wb") as out:
        # Its own session: the pool and the SDK workers it starts are one process group.
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_POOL_SCRIPT), f"--service_port={port}",
             f"--exit_with_pid={os.getpid()}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=log.parent, start_new_session=True)
    try:
        deadline = time.monotonic() + WORKER_POOL_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Beam worker pool exited ({proc.returncode}):\n"
                            f"{log.read_text(errors='replace')[-4000:]}", pytrace=False)
            try:
                socket.create_connection(("localhost", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the Beam worker pool did not listen on port {port} "
                                f"within {WORKER_POOL_START_S} s (log: {log})", pytrace=False)
                time.sleep(0.2)
        yield BeamWorkerPool(f"localhost:{port}", log, proc.pid)
    finally:
        _stop_process_group(proc)


def _stop_process_group(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM the group led by ``proc`` (it stops its workers), SIGKILL what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture
def flink_corpus(make_edf, tmp_path):
    """Three small recordings and one broken file (the Flink tests' corpus)."""
    for i in range(3):
        make_edf(f"r{i}.edf", folder=f"corpus/s{i}/01_tcp_ar", seed=i, duration_s=12.0 + 4 * i)
    bad = make_edf("broken.edf", folder="corpus/bad/01_tcp_ar")[0]
    bad.write_bytes(bad.read_bytes()[:-300])
    return tmp_path / "corpus"
