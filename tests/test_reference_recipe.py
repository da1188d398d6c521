"""`training/train_reference.sh` is the recipe of the shipped models.

Each of its ``neurokube train`` commands, with the JSON files it passes, sets exactly the
front end, model and training settings recorded in the bundle it names; a model setting
it leaves out takes today's default (not the value an old bundle implies).
"""
import json
import pathlib
import re
import shlex

import pytest

from neurokube.core.feature_spec import FeatureSpec
from neurokube.models.bundle import REFERENCE_BUNDLE, REFERENCE_CAUSAL_BUNDLE
from neurokube.models.config import ModelConfig
from neurokube.models.training import TrainConfig
from neurokube.pipelines import options as opts
from neurokube.pipelines.cli import build_parser
from neurokube.pipelines.train_job import TrainOptions, _json_fields, settings

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "training" / "train_reference.sh"
# measured on the training set
MEASURED = ("feature_mean", "feature_scale", "p1_input_mean", "p1_input_scale")


def _train_commands():
    """{output name: TrainOptions} of the script's ``neurokube train`` commands, parsed by
    the command line's own parser (every word must be one of its flags)."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    commands = {}
    for line in text.splitlines():
        if not line.strip().startswith("neurokube train "):
            continue
        words = shlex.split(line.replace("$here", str(ROOT)))
        args, extra = build_parser().parse_known_args(words[1:])
        assert not extra, f"words the train command does not know: {extra}"
        job = TrainOptions.from_command(args)
        commands[job.output] = job
    return commands


def test_the_script_trains_both_shipped_models():
    assert set(_train_commands()) == {"reference", "reference_causal"}


@pytest.mark.parametrize("name,folder", [("reference", REFERENCE_BUNDLE),
                                         ("reference_causal", REFERENCE_CAUSAL_BUNDLE)])
def test_recipe_settings_are_the_bundles(name, folder):
    train_cfg, config, spec = settings(_train_commands()[name])
    saved = json.loads((pathlib.Path(folder) / "bundle.json").read_text())
    # A field added after the bundle was saved reads as what the bundle was trained with.
    saved_config = ModelConfig.from_dict(saved["model_config"]).to_dict()
    expected = {k: v for k, v in saved_config.items() if k not in MEASURED}
    assert {k: v for k, v in config.to_dict().items() if k not in MEASURED} == expected
    assert spec.to_dict() == FeatureSpec.from_dict(saved["feature_spec"]).to_dict()
    assert train_cfg.to_dict() == saved["training"]["train_config"]


def test_model_settings_left_out_take_todays_defaults(tmp_path):
    assert _json_fields(None, "--model_config", ModelConfig) == ModelConfig()
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"window_steps": 9}))
    config = _json_fields(str(path), "--model_config", ModelConfig)
    assert config == ModelConfig(window_steps=9)
    # A bundle saved before p1_step_input existed was trained on frames; a user's file
    # that does not set it gets today's default.
    assert ModelConfig.from_dict({"window_steps": 9}).p1_step_input == "frames"
    assert config.p1_step_input == ModelConfig().p1_step_input


def test_unknown_model_setting_is_a_usage_error(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"window_stepz": 9}))
    with pytest.raises(opts.UsageError, match=re.escape(str(path)) + ".*window_stepz"):
        _json_fields(str(path), "--model_config", ModelConfig)
