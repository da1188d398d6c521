"""Where workers find the model: shipped bundles by name (each machine's own installation),
local folders, gs:// folders; a worker that loads another version fails; Dataflow is not
sent a local folder."""
import shutil

import pytest

from neurokube.models import bundle as bundle_module
from neurokube.models.bundle import (
    REFERENCE_BUNDLE, REFERENCE_CAUSAL_BUNDLE, ModelBundle, bundle_location,
    local_bundle_folder)
from neurokube.models.handler import DetectorModelHandler
from neurokube.pipelines import cli


def test_a_shipped_bundle_travels_by_name_and_resolves_on_each_machine(tmp_path,
                                                                       random_bundle):
    assert bundle_location(REFERENCE_BUNDLE) == "package:reference"
    assert bundle_location(str(REFERENCE_CAUSAL_BUNDLE) + "/") == "package:reference_causal"
    assert local_bundle_folder("package:reference") == REFERENCE_BUNDLE
    # Any copy of a shipped version (a source checkout's, an image's) goes by name too.
    copy = tmp_path / "checkout" / "reference"
    shutil.copytree(REFERENCE_BUNDLE, copy)
    assert bundle_location(copy) == "package:reference"
    # A bundle of one's own travels as its location.
    mine = tmp_path / "mine"
    shutil.copytree(random_bundle, mine)
    assert bundle_location(mine) == str(mine)
    assert bundle_location("gs://bucket/models/mine") == "gs://bucket/models/mine"
    with pytest.raises(ValueError, match="no shipped model bundle of that name"):
        local_bundle_folder("package:nonsense")


def test_a_worker_loads_its_own_installation_and_refuses_another_version(
        random_bundle, tmp_path, monkeypatch):
    version = ModelBundle.load(REFERENCE_BUNDLE, with_models=False).version
    # The worker's installation lives elsewhere than the launcher's.
    worker_copy = tmp_path / "site-packages" / "reference"
    shutil.copytree(REFERENCE_BUNDLE, worker_copy)
    monkeypatch.setitem(bundle_module.SHIPPED_BUNDLES, "reference", worker_copy)
    handler = DetectorModelHandler("package:reference", expected_version=version)
    assert handler.load_model() is not None
    # A worker with another NeuroKube (another shipped model) must not label with it.
    monkeypatch.setitem(bundle_module.SHIPPED_BUNDLES, "reference", random_bundle)
    handler = DetectorModelHandler("package:reference", expected_version=version)
    with pytest.raises(ValueError, match=f"the job was built for model {version}, but this "
                                         f"worker's NeuroKube ships reference "):
        handler.load_model()


def test_label_sends_the_default_model_by_name(make_edf, tmp_path, monkeypatch):
    from neurokube.pipelines import label_job
    built, real = [], label_job.job_handler
    monkeypatch.setattr(label_job, "job_handler", lambda *a: built.append(real(*a)) or built[-1])
    make_edf("a.edf", folder="corpus")
    assert cli.main(["label", "--input", str(tmp_path / "corpus"), "--output",
                     str(tmp_path / "out"), "--formats", "csv_bi"]) == 0
    (handler,) = built
    assert handler._bundle_dir == "package:reference"
    assert handler._expected_version == ModelBundle.load(REFERENCE_BUNDLE,
                                                         with_models=False).version


def test_dataflow_is_refused_a_local_bundle_folder(make_edf, tmp_path, random_bundle, capsys):
    make_edf("a.edf", folder="corpus")
    status = cli.main(["label", "--input", str(tmp_path / "corpus"), "--output",
                       "gs://no-bucket-needed/labels", "--model", str(random_bundle),
                       "--runner_config", "dataflow_cpu", "--dry_run=True",
                       "--project=p", "--region=us-central1",
                       "--temp_location=gs://bucket/tmp"])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--model {random_bundle}: a local folder is out of reach of Dataflow" in err
    assert "--model gs://" in err


@pytest.mark.gcs
@pytest.mark.usefixtures("anonymous_gcs")
def test_label_with_a_bundle_in_a_bucket_equals_the_local_bundle(
        gcs_emulator, random_bundle, make_edf, tmp_path, capsys):
    bucket = gcs_emulator.create_bucket("nk-bundle-in-a-bucket")
    for path in sorted(random_bundle.iterdir()):
        bucket.blob(f"models/rb/{path.name}").upload_from_filename(str(path))
    bucket.blob("models/rb/").upload_from_string(b"")  # a console-made folder marker
    bucket.blob("models/rb/extra/ignored.txt").upload_from_string(b"not part of it")
    make_edf("a.edf", folder="corpus", seed=3, duration_s=20.0)
    outputs = {}
    for kind, model in (("local", str(random_bundle)),
                        ("bucket", f"gs://{bucket.name}/models/rb")):
        out = tmp_path / kind
        assert cli.main(["label", "--input", str(tmp_path / "corpus"), "--output", str(out),
                         "--model", model, "--formats", "csv_bi"]) == 0
        outputs[kind] = (out / "a.csv_bi").read_text()
    assert outputs["bucket"] == outputs["local"]
    # A folder that holds no bundle is named in the error, once.
    capsys.readouterr()
    none = f"gs://{bucket.name}/models/none"
    status = cli.main(["label", "--input", str(tmp_path / "corpus"), "--output",
                       str(tmp_path / "none"), "--model", none])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--model {none}: no model bundle could be read" in err and err.count(none) == 1


def test_a_stream_worker_refuses_another_causal_version(random_bundle, tmp_path, monkeypatch):
    from neurokube.transforms.stream import LabelGrowingRecordings
    version = ModelBundle.load(REFERENCE_CAUSAL_BUNDLE, with_models=False).version
    monkeypatch.setitem(bundle_module.SHIPPED_BUNDLES, "reference_causal", random_bundle)
    fn = LabelGrowingRecordings("package:reference_causal", str(tmp_path), str(tmp_path),
                                expected_version=version)._fn
    with pytest.raises(ValueError, match=f"the job was built for model {version}"):
        fn.setup()


def test_evaluate_card_is_written_into_the_folder_given(tmp_path):
    """A folder holding a shipped version (a checkout's copy) goes to the workers by name,
    but its card is written into the folder the user gave, not into the installation."""
    from neurokube.pipelines.demo_corpus import make_demo_corpus
    given = tmp_path / "given"
    shutil.copytree(REFERENCE_BUNDLE, given)
    assert bundle_location(given) == "package:reference"
    installed = (REFERENCE_BUNDLE / "bundle.json").read_bytes()
    make_demo_corpus(tmp_path / "demo", records=1, minutes=1.0, seed=4, rates=(250,))
    assert cli.main(["evaluate", "--model", str(given), "--corpus",
                     f"demo={tmp_path / 'demo/edf'}", "--output", str(tmp_path / "board"),
                     "--card"]) == 0
    rows = ModelBundle.load(given, with_models=False).evaluation["rows"]
    assert [(r["bundle"], r["corpus"]) for r in rows] == [(str(given), "demo")]
    assert (REFERENCE_BUNDLE / "bundle.json").read_bytes() == installed
    board = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "package:" not in board and "| given (" in board
    status = cli.main(["evaluate", "--model", "gs://bucket/models/x", "--corpus",
                       f"demo={tmp_path / 'demo/edf'}", "--output", str(tmp_path / "b2"),
                       "--card"])
    assert status == 2
