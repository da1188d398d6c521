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
    assert "## Not trained on\n\n- TUSZ\n" in card  # every record entry reaches the card
    assert report["p1_windows"] > 0 and report["p2_windows"] > 0


def test_the_shipped_cards_cite_their_sources_and_training_command():
    import pathlib
    for name in ("reference", "reference_causal"):
        folder = pathlib.Path(__file__).resolve().parents[1] / "models" / name
        card = (folder / "MODEL_CARD.md").read_text()
        bundle = ModelBundle.load(folder, with_models=False)
        from neurokube.models.bundle import model_card
        assert card == model_card(bundle)  # the card is its record, rendered
        assert "Andrzejak RG" in card and "Schalk G" in card and "Shoeb A" in card
        assert f"--output {name} " in card and "neurokube train --corpus" in card
        assert "nor patient-independent" in card


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
    examples = read_examples(str(root / "examples_a/train00-*.tfrecord"))
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
    # P1 reads its step inputs standardised with statistics measured on these examples.
    from neurokube.core.model_inputs import p1_inputs
    config = bundle.config
    assert len(config.p1_input_mean) == len(config.p1_input_scale) == config.p1_input_values
    inputs = np.concatenate([
        p1_inputs(ex.steps, config)[ex.mask].reshape(-1, config.p1_input_values)
        for ex in examples])
    np.testing.assert_allclose(inputs.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(inputs.std(axis=0), 1.0, atol=0.05)


def test_window_weights_balance_classes_and_corpora():
    from neurokube.models.training import window_weights
    labels = np.array([1] * 10 + [0] * 90)
    corpora = np.array(["stitched"] * 9 + ["real"] + ["stitched"] * 80 + ["real"] * 10)
    w = window_weights(labels, corpora, TrainConfig(max_corpus_weight=1000.0))
    assert w.mean() == pytest.approx(1.0)
    assert w[labels == 1].sum() == pytest.approx(w[labels == 0].sum())
    for label in (0, 1):  # within a class, every corpus weighs the same
        in_class = labels == label
        assert w[in_class & (corpora == "real")].sum() == pytest.approx(
            w[in_class & (corpora == "stitched")].sum(), rel=1e-5)
    capped = window_weights(labels, corpora, TrainConfig(max_corpus_weight=5.0))
    assert capped.max() <= 5.0 + 1e-5 and capped.mean() == pytest.approx(1.0)
    plain = window_weights(labels, corpora, TrainConfig(balance_corpora=False))
    np.testing.assert_allclose(plain[labels == 1], plain[labels == 1][0])


def test_p3_background_budget_holds_in_every_dev_corpus():
    """Hours of clean stitched background must not hide a short real corpus whose
    background a low threshold flags."""
    from neurokube.models.evaluation import RecordingResult
    from neurokube.models.p3_tuning import tune_p3

    def result(name, n, bumps, seizures=()):
        fused = np.full(n, 0.1, np.float32)
        for start, stop, value in bumps:
            fused[start:stop] = value
        p1 = np.tile(fused, (22, 1))
        return RecordingResult(name, float(n), list(seizures), p1, fused.copy(),
                               np.ones(22, bool))

    stitched = [result(f"s{k}", 3600, [(100, 160, 0.95)], [(100.0, 160.0)])
                for k in range(4)]
    # A seizure only the low threshold finds: the pooled search prefers 0.5.
    stitched.append(result("s4", 3600, [(100, 160, 0.6)], [(100.0, 160.0)]))
    real = [result("real", 300, [(50, 60, 0.6)])]  # 10 s of 300 flagged at 0.5
    cfg = TrainConfig(p3_thresholds=(0.5, 0.7), p3_p2_weights=(0.5,), p3_merge_gaps_s=(2.0,),
                      p3_min_durations_s=(3.0,), p3_min_channels=(1,),
                      fa_budget_per_24h=100.0)
    corpus_of = {**{r.name: "stitched" for r in stitched}, "real": "real"}
    each, _ = tune_p3(stitched + real, 1.0, cfg, corpus_of)
    pooled, _ = tune_p3(stitched + real, 1.0,
                        TrainConfig(**{**cfg.__dict__, "background_budget_each_corpus": False}),
                        corpus_of)
    assert pooled.threshold == 0.5  # pooled, 10 s in 5 h is within 0.5 %
    assert each.threshold == 0.7    # but it is 3.3 % of the real corpus


def test_a_model_that_reads_other_features_than_its_spec_gives_is_refused():
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.models.config import ModelConfig, P3Params
    with pytest.raises(ValueError, match="reads 26 features per frame but the feature spec "
                                         "gives 29"):
        ModelBundle(None, None, FeatureSpec(n_cepstra=9), ModelConfig(), P3Params())


def test_bundles_saved_before_a_field_keep_their_meaning():
    from neurokube.models.config import ModelConfig
    legacy = ModelConfig().to_dict()
    legacy.pop("p1_step_input")
    assert ModelConfig.from_dict(legacy).p1_step_input == "frames"
    assert ModelConfig.from_dict(ModelConfig().to_dict()).p1_step_input == "moments"


def test_causal_training_inputs_are_its_inference_inputs(corpora):
    """A causal model is trained on the inputs it sees when labelling: references from
    the past (not the whole recording's medians), chunked or not."""
    import tensorflow as tf

    from neurokube.core.edf import open_recording
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.model_inputs import iter_model_inputs, standardise, to_steps
    from neurokube.core.sources import list_recordings
    from neurokube.models.config import ModelConfig
    from neurokube.transforms.training_examples import _ExampleOne
    spec = FeatureSpec(mask_decision_s=30.0)
    config = ModelConfig(causal=True, recording_reference="causal_median")
    source = list_recordings([str(corpora / "train/edf")]).sources[0]
    (raw,) = list(_ExampleOne(spec, config)(source))
    parsed = tf.train.Example.FromString(raw).features.feature
    shape = tuple(parsed["shape"].int64_list.value)
    steps = np.frombuffer(parsed["steps"].bytes_list.value[0], np.float32).reshape(shape)
    mask = np.asarray(parsed["mask"].int64_list.value, bool)
    frames = steps.reshape(shape[0], -1, config.n_features).copy()
    trained_on = to_steps(standardise(frames, mask, config), config)
    with open_recording(source.url, spec) as src:
        chunks = list(iter_model_inputs(src, spec, config, chunk_s=60.0, whole_max_s=60.0))
    assert len(chunks) > 1
    labelled = np.concatenate([to_steps(c.features, config)[:, c.lo_step - c.offset_step:
                                                             c.hi_step - c.offset_step]
                               for c in chunks], axis=1)
    np.testing.assert_allclose(trained_on, labelled, atol=1e-4)


def test_training_inputs_that_cannot_be_used_are_clear_errors(corpora, tmp_path, capsys):
    """No annotation beside any training recording, or an empty corpus: one line, exit 2,
    before any training process starts."""
    import shutil
    from neurokube.pipelines.cli import main
    bare = tmp_path / "bare"
    shutil.copytree(corpora / "train/edf", bare)
    for ref in bare.rglob("*.csv*"):
        ref.unlink()
    (tmp_path / "empty").mkdir()
    for corpus, expected in ((bare, "no train recording could be used: all 3 became dead "
                                    "letters"),
                             (tmp_path / "empty", "--corpus")):
        status = main(["train", "--corpus", str(corpus), "--dev", str(corpora / "dev/edf"),
                       "--output", str(tmp_path / "model"), "--direct_running_mode=in_memory"])
        err = capsys.readouterr().err
        assert status == 2 and expected in err and "Traceback" not in err, err
        assert not (tmp_path / "model").exists()


def test_the_recorded_train_command_names_no_full_path():
    from neurokube.pipelines.train_job import recorded_command
    assert recorded_command(["train", "--corpus", "/data/ward7/Doe_J/edf", "mix/x.list",
                             "--output=/srv/models/new", "--seed", "3"]) == (
        "neurokube train --corpus .../edf mix/x.list --output=.../new --seed 3")


@pytest.mark.slow
def test_the_gradient_boosting_baseline_trains_on_the_bundles_data_and_is_scored(two_runs,
                                                                                  tmp_path):
    """benchmarks/baseline_gbm.py: trained on the bundle's own training examples, P3 tuned
    on its dev corpora, each corpus scored; the same inputs give the same figures."""
    import subprocess
    import sys
    from pathlib import Path
    pytest.importorskip("sklearn", reason="the baseline needs scikit-learn (the test extra)")
    corpora, _ = two_runs
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline_gbm.py"
    boards = []
    for run in ("a", "b"):
        out = tmp_path / run
        done = subprocess.run(
            [sys.executable, str(script), "--bundle", str(corpora / "model_a"),
             "--examples", str(corpora / "examples_a"), "--output", str(out),
             "--corpus", f"demo_dev={corpora / 'dev/edf'}"],
            capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "demo_dev: baseline OVERLAP" in done.stdout
        boards.append(json.loads((out / "baseline.json").read_text()))
    board = boards[0]
    bundle = ModelBundle.load(corpora / "model_a", with_models=False)
    assert board["bundle_version"] == bundle.version
    assert board["tuned_on"] == bundle.training["splits"]["dev"]
    (row,) = board["rows"]
    dev_examples = read_examples(str(corpora / "examples_a" / "dev00-*.tfrecord"))
    assert row["recordings"] == len(dev_examples)
    assert row["seizures"] == sum(len(e.seizures) for e in dev_examples) > 0
    assert [p["threshold"] for p in row["operating_points"]] == sorted(
        p["threshold"] for p in row["operating_points"])
    assert 0.0 <= row["chosen"]["overlap_sensitivity_pct"] <= 100.0
    assert "bundle" not in row  # this bundle has no card figures for demo_dev
    assert boards[1]["rows"] == board["rows"] and boards[1]["p3"] == board["p3"]
