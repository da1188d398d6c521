"""The layers point down only: core <- models <- transforms <- pipelines.

Walks every module's imports (``ast``, top level and inside functions alike) and fails on
an edge that points up or sideways. The core (``neurokube.core``) imports neither Beam nor
Keras/TensorFlow, except Beam's ``FileSystems`` in ``neurokube.core.paths``, the one storage
door of the core.
"""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"neurokube/core": "neurokube.core", "models": "neurokube.models",
            "transforms": "neurokube.transforms", "pipelines": "neurokube.pipelines"}
# A layer may import its own package and the layers listed for it.
ALLOWED = {
    "neurokube.core": {"neurokube.core"},
    "neurokube.models": {"neurokube.core", "neurokube.models"},
    "neurokube.transforms": {"neurokube.core", "neurokube.models", "neurokube.transforms"},
    "neurokube.pipelines": {"neurokube.core", "neurokube.models", "neurokube.transforms",
                            "neurokube.pipelines", "neurokube.runner_configs"},
}
FRAMEWORKS = ("apache_beam", "keras", "tensorflow", "tfx_bsl")
# Beam's FileSystems is the core's storage door (local paths and gs:// alike).
CORE_STORAGE = {"neurokube.core.paths": {"apache_beam.io.filesystems",
                                         "apache_beam.io.gcp.gcsio"}}


def _modules():
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield ".".join([package, *parts]), package, path


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _layer(name):
    for package in sorted(ALLOWED, key=len, reverse=True):
        if name == package or name.startswith(package + "."):
            return package
    if name.startswith("neurokube.runner_configs"):
        return "neurokube.runner_configs"
    return None


@pytest.mark.parametrize("module, package, path", list(_modules()),
                         ids=[m for m, _, _ in _modules()])
def test_imports_point_down_only(module, package, path):
    wrong = []
    for name in _imports(path):
        if name.startswith("neurokube.") and _layer(name) not in ALLOWED[package]:
            wrong.append(name)
        if package == "neurokube.core" and name.split(".")[0] in FRAMEWORKS \
                and name not in CORE_STORAGE.get(module, set()):
            wrong.append(name)
    assert not wrong, f"{module} imports {wrong} (layers: core <- models <- transforms <- " \
                      "pipelines; the core imports no Beam or Keras)"


def test_the_walk_sees_every_layer():
    found = {package for _, package, _ in _modules()}
    assert found == set(ALLOWED)
    assert sum(1 for _ in _modules()) > 40
