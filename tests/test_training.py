"""neurokube train: TFRecord examples, deterministic weights, the bundle and its card."""
import json

import numpy as np
import pytest

from neurokube.models.bundle import ModelBundle
from neurokube.models.training import TrainConfig, read_examples
from neurokube.pipelines.demo_corpus import make_demo_corpus
from neurokube.pipelines.train_job import run_training

TINY = TrainConfig(seed=3, p1_epochs=1, p2_epochs=1, max_p1_windows=3000, max_p2_windows=400,
                   p3_thresholds=(0.5, 0.7), p3_p2_weights=(0.5,), p3_merge_gaps_s=(2.0,),
                   p3_min_durations_s=(3.0,), p3_min_channels=(1,))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    make_demo_corpus(root / "train", records=3, minutes=2.0, seed=1, rates=(250, 256))
    make_demo_corpus(root / "dev", records=2, minutes=2.0, seed=2, rates=(250,))
    return root


@pytest.fixture(scope="module")
def two_runs(corpora):
    out = []
    for run in ("a", "b"):
        bundle, report = run_training(str(corpora / "train/edf"), str(corpora / "dev/edf"),
                                      str(corpora / f"model_{run}"),
                                      str(corpora / f"examples_{run}"), train_cfg=TINY,
                                      card_notes={"not_trained_on": ["TUSZ"]})
        out.append((bundle, report))
    return corpora, out


def test_training_twice_gives_byte_identical_weights(two_runs):
    root, ((a, _), (b, _)) = two_runs
    weights_a = [w.tobytes() for m in (a.p1, a.p2) for w in m.get_weights()]
    weights_b = [w.tobytes() for m in (b.p1, b.p2) for w in m.get_weights()]
    assert weights_a == weights_b
    assert a.version == b.version
    assert (root / "model_a/VERSION").read_text() == (root / "model_b/VERSION").read_text()
    assert a.p3 == b.p3


def test_bundle_round_trip_and_card(two_runs):
    root, ((bundle, report), _) = two_runs
    loaded = ModelBundle.load(root / "model_a")
    assert loaded.version == bundle.version
    meta = json.loads((root / "model_a/bundle.json").read_text())
    training = meta["training"]
    assert training["data"]["train_recordings"] == 3 and training["data"]["dev_recordings"] == 2
    # The input standardisation was measured on the training set and recorded.
    assert len(loaded.config.feature_mean) == len(loaded.config.feature_scale) == 26
    assert training["seeds"] == {"seed": 3} and training["not_trained_on"] == ["TUSZ"]
    assert set(training["dev_metrics"]) >= {"overlap", "taes"}
    assert "tensorflow" in training["library_versions"]
    card = (root / "model_a/MODEL_CARD.md").read_text()
    assert bundle.version in card and "Dev-set results" in card
    assert report["p1_windows"] > 0 and report["p2_windows"] > 0


def test_altered_bundle_is_refused(two_runs, tmp_path):
    import shutil
    root, _ = two_runs
    copy = tmp_path / "m"
    shutil.copytree(root / "model_a", copy)
    meta = json.loads((copy / "bundle.json").read_text())
    meta["p3"]["threshold"] = 0.123
    (copy / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match"):
        ModelBundle.load(copy)


def test_examples_hold_labels_from_the_annotations(two_runs):
    from neurokube.models.training import standardise_examples
    root, ((bundle, _), _) = two_runs
    examples = read_examples(str(root / "examples_a/train-*.tfrecord"))
    assert [e.path.rsplit("/", 1)[-1] for e in examples] == [
        f"demo{i:04d}_s001_t000.edf" for i in range(3)]
    standardise_examples(examples, bundle.config)
    for ex in examples:
        assert ex.steps.shape == (22, 120, 260) and ex.steps.dtype == np.float32
        assert ex.summaries.shape == (22, 120, 52)
        assert ex.seizures and ex.term_labels.sum() > 0
        # No per-channel .csv in the demo corpus: every present channel takes the term labels.
        np.testing.assert_array_equal(ex.channel_labels[ex.mask][0], ex.term_labels)
        assert np.abs(ex.steps).max() <= bundle.config.feature_clip
