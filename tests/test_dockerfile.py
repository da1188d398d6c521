"""The worker image's Dockerfile matches the installed Beam and Python (not built in CI)."""
import re
import sys
from pathlib import Path

import apache_beam
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def stages():
    """Stage name -> (base image, instructions); keeps the order of the file."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            current = m.group(2) or f"stage{len(result)}"
            result[current] = (m.group(1), [])
        elif current is not None:
            result[current][1].append(line)
    return result


def _resolve(stages, name):
    """Follow FROM <stage> chains to the external image; return (image, [stage lines])."""
    lines = []
    while name in stages:
        base, instructions = stages[name]
        lines = instructions + lines
        name = base
    return name, lines


def test_final_stage_is_the_pinned_beam_sdk_image(stages):
    final = list(stages)[-1]
    image, _ = _resolve(stages, final)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert image == f"apache/beam_python{py}_sdk:{apache_beam.__version__}"


def test_image_matches_setup_py_pins():
    setup_py = (REPO / "setup.py").read_text()
    beam_pin = re.search(r'"apache-beam\[gcp\]==([^"]+)"', setup_py).group(1)
    tf_pin = re.search(r'"tensorflow==([^"]+)"', setup_py).group(1)
    text = DOCKERFILE.read_text()
    assert f"apache/beam_python3.11_sdk:{beam_pin}" in text
    assert beam_pin == apache_beam.__version__
    assert re.search(r'python_requires=">=3\.11,<3\.12"', setup_py)
    # TensorFlow's CUDA wheels at the pinned TF version, never an unpinned one.
    for spec in re.findall(r'tensorflow(?:\[[^\]]*\])?==([0-9.]+)', text):
        assert spec == tf_pin


def test_worker_installs_the_project_and_sets_gpu_env(stages):
    final = list(stages)[-1]
    _, lines = _resolve(stages, final)
    joined = "\n".join(lines)
    assert re.search(r"^RUN pip install --no-cache-dir \. ", joined, re.M), \
        "the project (with setup.py's pins) must be installed"
    for folder in ("neurokube/", "pipelines/", "transforms/", "models/", "runner_configs/"):
        assert re.search(rf"^COPY {folder} ", joined, re.M), folder
    assert "TF_FORCE_GPU_ALLOW_GROWTH=true" in joined
    # Runner configurations are package data now: no environment variable points at them.
    assert "NEUROKUBE_RUNNER_CONFIG_DIR" not in joined
    assert re.search(r"^COPY pyproject.toml ", joined, re.M), "the build backend is declared there"
    assert lines[-1] == 'ENTRYPOINT ["/opt/apache/beam/boot"]'


def test_copied_paths_exist(stages):
    for _, (_, lines) in stages.items():
        for line in lines:
            m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line)
            if m:
                for src in m.group(1).split():
                    assert (REPO / src).exists(), f"Dockerfile copies missing {src}"


def test_dataflow_gpu_config_uses_a_custom_container():
    import yaml
    cfg = yaml.safe_load((REPO / "runner_configs" / "dataflow_gpu.yaml").read_text())
    assert "sdk_container_image" in cfg["options"]
    assert cfg["options"]["sdk_location"] == "container"
