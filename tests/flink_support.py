"""Pytest support for tests that run pipelines on the FlinkRunner.

The session fixture :func:`flink_job_server_jar` returns the path of a verified Beam
Flink job-server jar, fetched and cached by ``.ci/fetch_flink_job_server.sh`` (under
``${NEUROKUBE_CACHE:-~/.cache/neurokube}/flink/``). ``NEUROKUBE_FLINK_JOB_SERVER_JAR``
names a pre-downloaded jar instead.

Without Java the fixture skips with the reason, except under CI (``CI`` set), where it
fails: CI must run the Flink tests. A fetch or checksum failure always fails.

Use it from a test module with::

    from flink_support import flink_job_server_jar  # noqa: F401  (pytest fixture)
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = REPO_ROOT / ".ci" / "fetch_flink_job_server.sh"
JAR_ENV = "NEUROKUBE_FLINK_JOB_SERVER_JAR"
FETCH_TIMEOUT_S = 900


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def flink_job_server_jar() -> str:
    """Path of the Beam Flink job-server jar (``--flink_job_server_jar``)."""
    if shutil.which("java") is None:
        reason = ("Java is absent: the FlinkRunner needs a JRE (17) to run the Beam Flink "
                  "job server; install openjdk-17-jre-headless")
        if _in_ci():
            pytest.fail(reason + " (CI must run the Flink tests)", pytrace=False)
        pytest.skip(reason)
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
