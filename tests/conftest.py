"""Shared fixtures: paths to ../shared data, EDF factories, a GCS emulator."""
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from neurokube.core.edf import write_edf

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TUH_HEADERS = SHARED_DATA / "tuh_headers"
NEDC_EXAMPLE = SHARED_DATA / "nedc_example"
BONN = SHARED_DATA / "bonn"
SHARED_TOOLS = REPO.parent / "shared" / "tools"

ELECTRODES_19 = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
                 "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ")


def require_shared(path):
    """Skip (with the reason) when a ../shared data folder is absent."""
    if not pathlib.Path(path).exists():
        pytest.skip(f"shared data not found at {path} (expected beside the repository)")
    return pathlib.Path(path)


@pytest.fixture
def make_edf(tmp_path):
    """Factory: write an EDF with TUH-style labels; returns (path, {electrode: µV signal})."""

    def factory(name="rec.edf", fs_hz=250, duration_s=10.0, reference="REF", ears=True,
                extra=("EEG EKG1-REF", "PHOTIC-REF", "IBI"), label_style="tuh",
                seed=0, drop=(), folder=None, gain=1.0):
        rng = np.random.default_rng(seed)
        electrodes = [e for e in ELECTRODES_19 + (("A1", "A2") if ears else ()) if e not in drop]
        n = int(round(duration_s * fs_hz))
        t = np.arange(n) / fs_hz
        signals = {e: gain * (40 * np.sin(2 * np.pi * (3 + i) * t) + rng.normal(0, 10, n))
                   for i, e in enumerate(electrodes)}
        if label_style == "tuh":
            labels = [f"EEG {e}-{reference}" for e in electrodes]
        elif label_style == "bare":
            new_names = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
            labels = [new_names.get(e, e).capitalize() for e in electrodes]
        else:
            raise ValueError(label_style)
        data = [signals[e] for e in electrodes] + [rng.normal(0, 5, n) for _ in extra]
        target = tmp_path / (folder or "") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_edf(target, np.stack(data), labels + list(extra), fs_hz)
        return target, signals

    return factory


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator():
    """A local GCS emulator (gcp-storage-emulator) for gs:// tests; yields a client factory."""
    port = _free_port()
    exe = pathlib.Path(sys.executable).with_name("gcp-storage-emulator")
    proc = subprocess.Popen([str(exe), "start", "--host", "127.0.0.1", "--port", str(port),
                             "--in-memory"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"http://127.0.0.1:{port}"
    old = {"STORAGE_EMULATOR_HOST": os.environ.get("STORAGE_EMULATOR_HOST")}
    os.environ["STORAGE_EMULATOR_HOST"] = host
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("GCS emulator did not start within 30 s")

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="neurokube-test", credentials=AnonymousCredentials())
    yield client
    proc.terminate()
    proc.wait(timeout=10)
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory):
    """A tiny, randomly initialised model bundle (seeded) for pipeline mechanics tests."""
    import keras

    from neurokube.models.networks import build_p1, build_p2
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.config import ModelConfig, P3Params
    from neurokube.core.feature_spec import FeatureSpec

    keras.utils.set_random_seed(7)
    config = ModelConfig()
    bundle = ModelBundle(build_p1(config), build_p2(config), FeatureSpec(), config,
                         P3Params(threshold=0.5, min_channels=0, min_duration_s=1.0))
    folder = tmp_path_factory.mktemp("bundle") / "random"
    bundle.save(folder)
    return folder


@pytest.fixture(scope="session")
def random_causal_bundle(tmp_path_factory):
    """A tiny, randomly initialised causal bundle (seeded) whose events are frequent."""
    import keras

    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.config import ModelConfig, P3Params
    from neurokube.models.networks import build_p1, build_p2
    keras.utils.set_random_seed(7)
    config = ModelConfig(causal=True, recording_reference="causal_median")
    # The threshold sits inside this random model's posteriors (about 0.36-0.39): events
    # come and go often, so stream and batch have many decisions to agree on.
    bundle = ModelBundle(build_p1(config), build_p2(config), FeatureSpec(mask_decision_s=10.0),
                         config, P3Params(threshold=0.375, min_channels=0, min_duration_s=1.0))
    return bundle.save(tmp_path_factory.mktemp("causal") / "bundle")


@pytest.fixture
def anonymous_gcs(monkeypatch):
    """No Google credentials exist here: without this Beam spends ~25 s retrying its
    credential lookup (once per process) before falling back to an anonymous client."""
    from apache_beam.internal.gcp import auth
    monkeypatch.setattr(auth._Credentials, "_credentials_init", True)
    monkeypatch.setattr(auth._Credentials, "_credentials", None)
