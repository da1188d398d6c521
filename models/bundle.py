"""The model bundle: a folder holding everything that defines a model version.

Layout::

    p1.keras, p2.keras      Keras 3 models (P1 channel LSTM, P2 CNN+LSTM)
    bundle.json             feature spec, model config, P3 parameters, training record
                            (data, splits, seeds, dev metrics, library versions)
    MODEL_CARD.md           the same, for people
    VERSION                 content hash of the weights and bundle.json's model part

The version is a SHA-256 over the canonical JSON of the feature spec, model config and
P3 parameters plus every weight array's bytes: two bundles with the same version give
the same outputs. (The ``.keras`` zip itself carries a save date, so it is not hashed.)

Example::

    bundle = ModelBundle.load("models/reference")
    bundle.version, bundle.detector()
"""
import dataclasses
import hashlib
import importlib.resources
import json
import os
import pathlib
import platform
import threading
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from neurokube.models.config import ModelConfig, P3Params
from neurokube.models.numpy_engine import WEIGHTS_FILE, save_weights, weights_arrays
from neurokube.core import paths
from neurokube.core.feature_spec import FeatureSpec

if TYPE_CHECKING:
    from neurokube.models.detector import Detector

# The shipped model, installed as package data (a folder on disk in every pip install).
REFERENCE_BUNDLE = pathlib.Path(str(importlib.resources.files("neurokube.models.reference")))
# The shipped causal model (``neurokube stream``: it looks only at the past).
REFERENCE_CAUSAL_BUNDLE = pathlib.Path(str(importlib.resources.files(
    "neurokube.models.reference_causal")))
# A shipped bundle's location as jobs pass it to their workers: each machine resolves it
# to its own installation, whose path differs from the launcher's on remote workers.
PACKAGE_PREFIX = "package:"
SHIPPED_BUNDLES = {"reference": REFERENCE_BUNDLE, "reference_causal": REFERENCE_CAUSAL_BUNDLE}
# The files a bundle consists of (what is fetched of a remote bundle folder).
BUNDLE_FILES = ("bundle.json", "VERSION", WEIGHTS_FILE, "p1.keras", "p2.keras",
                "MODEL_CARD.md")
_DOWNLOADED: dict[str, pathlib.Path] = {}
_DOWNLOAD_LOCK = threading.Lock()


def _recorded_version(folder: str | os.PathLike[str]) -> str | None:
    try:
        return pathlib.Path(folder, "VERSION").read_text().strip()
    except OSError:
        return None


def bundle_location(folder: str | os.PathLike[str]) -> str:
    """Where workers find the bundle at ``folder``: ``package:NAME`` for a local folder
    that holds a shipped bundle's version (:data:`SHIPPED_BUNDLES`; any copy of it, such
    as the installed one or a source checkout's), else ``folder`` as given (a local folder
    or a FileSystems URL such as ``gs://bucket/models/mine``)."""
    folder = str(folder)
    if paths.is_local(folder) and os.path.isdir(paths.local_path(folder)):
        version = _recorded_version(paths.local_path(folder))
        for name, shipped in SHIPPED_BUNDLES.items():
            if version and version == _recorded_version(shipped):
                return PACKAGE_PREFIX + name
    return folder


def local_bundle_folder(location: str | os.PathLike[str]) -> pathlib.Path:
    """A local folder holding the bundle at ``location`` (see :func:`bundle_location`):
    this installation's copy of a shipped bundle, a local folder itself, or a copy of a
    remote folder's files in the temporary folder (fetched once per process; its contents
    are verified when the bundle loads).

    Raises ``ValueError`` for an unknown shipped name or a remote folder that cannot be
    read."""
    location = str(location)
    if location.startswith(PACKAGE_PREFIX):
        name = location[len(PACKAGE_PREFIX):]
        if name not in SHIPPED_BUNDLES:
            raise ValueError(f"no shipped model bundle of that name "
                             f"(there are {', '.join(sorted(SHIPPED_BUNDLES))})")
        return SHIPPED_BUNDLES[name]
    if paths.is_local(location):
        return pathlib.Path(paths.local_path(location))
    with _DOWNLOAD_LOCK:  # worker threads of one process share one copy
        if location not in _DOWNLOADED:
            import atexit
            import shutil
            import tempfile
            dest = tempfile.mkdtemp(prefix="neurokube-bundle-")
            atexit.register(shutil.rmtree, dest, True)
            try:
                if not paths.download_files(location, BUNDLE_FILES, dest):
                    raise FileNotFoundError("none of the bundle's files is there")
            except Exception as exc:  # noqa: BLE001 - storage errors come in many types
                shutil.rmtree(dest, True)
                raise ValueError(f"no model bundle could be read ({type(exc).__name__}: "
                                 f"{exc})") from None
            _DOWNLOADED[location] = pathlib.Path(dest)
        return _DOWNLOADED[location]


def load_expected(location: str, engine: str, expected_version: str | None
                  ) -> "ModelBundle":
    """Load the bundle at ``location`` on a worker; raises ``ValueError`` when it is not
    ``expected_version`` (the version the job was built for), saying why it may differ."""
    bundle = ModelBundle.load(location, engine=engine)
    if expected_version and bundle.version != expected_version:
        if str(location).startswith(PACKAGE_PREFIX):
            why = (f"this worker's NeuroKube ships {location[len(PACKAGE_PREFIX):]} "
                   f"{bundle.version} (at {local_bundle_folder(location)}): install the "
                   "same NeuroKube on the workers as on the machine that launched the job")
        else:
            why = f"the bundle at {location} is {bundle.version}: it changed after launch"
        raise ValueError(f"the job was built for model {expected_version}, but {why}")
    return bundle


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model's numbers depend on."""
    import apache_beam
    import keras
    import scipy
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "keras": keras.__version__,
                "keras_backend": keras.backend.backend(), "apache_beam": apache_beam.__version__}
    try:
        import tensorflow
        versions["tensorflow"] = tensorflow.__version__
    except ImportError:
        pass
    return versions


def weights_digest(weight_lists: Iterable[Sequence[np.ndarray]]) -> str:
    """SHA-256 over every weight array (dtype, shape, bytes) of the models, in order.

    ``weight_lists`` holds one list of arrays per model (``model.get_weights()``).
    """
    digest = hashlib.sha256()
    for weights in weight_lists:
        for w in weights:
            w = np.ascontiguousarray(w)
            digest.update(f"{w.dtype.str}{w.shape}".encode())
            digest.update(w.tobytes())
    return digest.hexdigest()


@dataclasses.dataclass
class ModelBundle:
    """P1 and P2 with every parameter needed to reproduce their outputs.

    The models are Keras models (``p1``, ``p2``: training, GPUs), or their weight arrays
    only (``weights``: the NumPy engine, no TensorFlow), or neither (metadata only).
    """

    p1: object
    p2: object
    feature_spec: FeatureSpec
    config: ModelConfig
    p3: P3Params
    training: dict = dataclasses.field(default_factory=dict)
    recorded_version: str = None
    evaluation: dict = dataclasses.field(default_factory=dict)
    file_digests: dict = dataclasses.field(default_factory=dict)
    weights: tuple = None
    # The parameter part exactly as read from bundle.json: a bundle saved before a
    # parameter with a backward-compatible default existed keeps its version.
    recorded_spec: dict = None

    def __post_init__(self):
        if self.config.n_features != self.feature_spec.n_features:
            raise ValueError(f"the model reads {self.config.n_features} features per frame "
                             f"but the feature spec gives {self.feature_spec.n_features}")

    def weight_lists(self) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """``(p1 arrays, p2 arrays)`` in get_weights order, or None (metadata only)."""
        if self.p1 is not None:
            return self.p1.get_weights(), self.p2.get_weights()
        return self.weights

    @property
    def version(self) -> str:
        weights = self.weight_lists()
        if weights is None:  # loaded without its models: trust the recorded version
            return self.recorded_version
        spec = self.recorded_spec or self.spec()
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
        digest.update(weights_digest(weights).encode())
        return digest.hexdigest()[:16]

    def spec(self) -> dict[str, dict[str, Any]]:
        """The parameter part of the version (feature spec, model config, P3)."""
        return {"feature_spec": self.feature_spec.to_dict(), "config": self.config.to_dict(),
                "p3": self.p3.to_dict()}

    def detector(self, **kwargs: Any) -> "Detector":
        """A :class:`~neurokube.models.detector.Detector`: Keras models when loaded, else
        the NumPy engine on the weights."""
        from neurokube.models.detector import Detector
        if self.p1 is not None:
            return Detector.from_keras(self.p1, self.p2, self.config, self.p3, **kwargs)
        from neurokube.models.numpy_engine import NumpyEngine
        if self.weights is None:
            raise ValueError("bundle loaded without its models: load it with an engine")
        return Detector(NumpyEngine(*self.weights, self.config), self.config, self.p3,
                        **kwargs)

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "feature_spec": self.feature_spec.to_dict(),
                           "model_config": self.config.to_dict(), "p3": self.p3.to_dict(),
                           "training": self.training, "evaluation": self.evaluation,
                           "file_digests": self.file_digests},
                          indent=1, sort_keys=True) + "\n"

    def save(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """Write the bundle to ``folder`` (created; files replaced atomically)."""
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.recorded_spec = None  # saved with every parameter spelled out
        for name, model in (("p1.keras", self.p1), ("p2.keras", self.p2)):
            tmp = folder / f".tmp-{name}"
            model.save(tmp)
            os.replace(tmp, folder / name)
            self.file_digests[name] = file_sha256(folder / name)
        save_weights(folder, *self.weight_lists())
        self.file_digests[WEIGHTS_FILE] = file_sha256(folder / WEIGHTS_FILE)
        _replace_text(folder / "bundle.json", self.to_json())
        _replace_text(folder / "MODEL_CARD.md", model_card(self))
        _replace_text(folder / "VERSION", self.version + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], with_models: bool = True,
             engine: str = "keras") -> "ModelBundle":
        """Load a bundle; raises ``ValueError`` if its files or version do not match.

        ``with_models=False`` reads only ``bundle.json`` (no Keras, no TensorFlow): enough
        to build a pipeline, whose workers then load and verify the whole bundle.
        ``engine="numpy"`` loads the weight arrays only (no TensorFlow either).
        """
        location = str(folder)
        try:
            folder = local_bundle_folder(folder)
        except ValueError as exc:
            raise ValueError(f"{location}: {exc}") from None
        if not folder.is_dir():
            raise ValueError(f"{location} is not a model bundle folder")
        needed = ["bundle.json", "VERSION", WEIGHTS_FILE]
        if with_models and engine == "keras":
            needed += ["p1.keras", "p2.keras"]
        missing = [f for f in needed if not (folder / f).exists()]
        if missing:
            hint = (" (a bundle saved by an older NeuroKube: load it with engine='keras' and "
                    "save it again)" if missing == [WEIGHTS_FILE] else "")
            raise ValueError(f"{location} is not a model bundle: missing "
                             f"{', '.join(missing)}{hint}")
        try:
            meta = json.loads((folder / "bundle.json").read_text())
        except ValueError as exc:
            raise ValueError(f"{location}/bundle.json is not valid JSON: {exc}") from None
        recorded = (folder / "VERSION").read_text().strip()
        if recorded != meta.get("version"):
            raise ValueError(f"{location}: VERSION {recorded!r} does not match bundle.json's "
                             f"version {meta.get('version')!r} (files altered?)")
        for name, digest in (meta.get("file_digests") or {}).items():
            if file_sha256(folder / name) != digest:
                raise ValueError(f"{location}/{name}: contents differ from the digest recorded "
                                 "in bundle.json (file altered or truncated?)")
        models, weights = (None, None), None
        if with_models and engine == "numpy":
            weights = weights_arrays(folder)
        elif with_models:
            import keras
            models = tuple(keras.saving.load_model(folder / name, compile=False)
                           for name in ("p1.keras", "p2.keras"))
        bundle = cls(p1=models[0], p2=models[1],
                     feature_spec=FeatureSpec.from_dict(meta["feature_spec"]),
                     config=ModelConfig.from_dict(meta["model_config"]),
                     p3=P3Params.from_dict(meta["p3"]), training=meta.get("training", {}),
                     evaluation=meta.get("evaluation", {}),
                     file_digests=meta.get("file_digests", {}),
                     recorded_version=meta["version"], weights=weights,
                     recorded_spec={"feature_spec": meta["feature_spec"],
                                    "config": meta["model_config"], "p3": meta["p3"]})
        if bundle.version != meta["version"]:
            raise ValueError(f"{location}: content hash {bundle.version} does not match the "
                             f"recorded version {meta['version']} (files altered?)")
        return bundle


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_evaluation(folder: str | os.PathLike[str], markdown: str,
                      board: dict[str, Any]) -> None:
    """Store an evaluation (leaderboard) in a bundle's record and model card.

    The evaluation is not part of the version: the model is unchanged.
    """
    folder = pathlib.Path(folder)
    meta = json.loads((folder / "bundle.json").read_text())
    meta["evaluation"] = {"markdown": markdown, "command": board["command"],
                          "rows": board["rows"]}
    _replace_text(folder / "bundle.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
    _replace_text(folder / "MODEL_CARD.md", model_card(ModelBundle.load(folder,
                                                                        with_models=False)))


def _replace_text(path, text):
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


# Sections of the card, in order: (title, training-record key). Keys not listed follow,
# titled by their name; the raw training report stays in bundle.json only.
CARD_SECTIONS = (("Trained by", "command"), ("Sources and citations", "sources"),
                 ("Corpora", "corpora"), ("Training data", "data"), ("Splits", "splits"),
                 ("Weighting", "weighting"), ("Limits", "limits"),
                 ("Not trained on", "not_trained_on"), ("Training settings", "train_config"),
                 ("Dev-set results", "dev_metrics"),
                 ("Dev-set results by corpus", "dev_metrics_by_corpus"), ("Seeds", "seeds"),
                 ("Library versions", "library_versions"),
                 ("Training wall time, s", "train_wall_s"))
_NOT_ON_CARD = {"summary", "report"}


def _card_section(title: str, value: Any) -> list[str]:
    """Markdown of one record entry: text as a paragraph, a list or a dict of texts as
    bullets, anything else as JSON."""
    lines = [f"## {title}", ""]
    if title == "Trained by":
        lines += ["```", str(value), "```"]
    elif isinstance(value, str):
        lines += [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        lines += [f"- {v}" for v in value]
    elif isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        lines += [f"- **{k}**: {v}" for k, v in sorted(value.items())]
    else:
        lines += ["```", json.dumps(value, indent=1, sort_keys=True), "```"]
    return lines + [""]


def model_card(bundle: ModelBundle) -> str:
    """A human-readable model card from the bundle's training record: every entry of it
    (sources, citations, corpora, splits, limits, the training command...), the
    evaluation and the parameters."""
    t = bundle.training
    lines = [f"# NeuroKube seizure detector, version {bundle.version}", ""]
    lines += [t.get("summary", "No training record."), ""]
    listed = {key for _, key in CARD_SECTIONS}
    for title, key in CARD_SECTIONS + tuple(
            (key.replace("_", " ").capitalize(), key) for key in sorted(t)
            if key not in listed and key not in _NOT_ON_CARD):
        if key in t:
            lines += _card_section(title, t[key])
    if bundle.evaluation.get("markdown"):
        lines += ["## Evaluation", "", bundle.evaluation["markdown"], ""]
    lines += ["## Parameters", "", "```", json.dumps(
        {"model_config": bundle.config.to_dict(), "p3": bundle.p3.to_dict(),
         "feature_spec": bundle.feature_spec.to_dict()}, indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines)
