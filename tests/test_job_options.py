"""The jobs' flags are PipelineOptions subclasses that travel with the job.

Each Beam job declares its flags once, in a :class:`~neurokube.pipelines.options.JobOptions`
subclass; the command line is built from it, and the pipeline runs with the options
object that holds the parsed values.
"""
import argparse

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from neurokube.pipelines import cli, runner_config
from neurokube.pipelines.evaluate_job import EvaluateOptions
from neurokube.pipelines.featurize_job import FeaturizeOptions
from neurokube.pipelines.label_job import LabelOptions
from neurokube.pipelines.options import JobOptions
from neurokube.pipelines.stream_job import StreamOptions
from neurokube.pipelines.train_job import TrainOptions

JOBS = {"featurize": FeaturizeOptions, "label": LabelOptions, "stream": StreamOptions,
        "train": TrainOptions, "evaluate": EvaluateOptions}


def flags_of(cls):
    parser = argparse.ArgumentParser(add_help=False)
    cls.declare(parser, required=False)
    return {option for action in parser._actions for option in action.option_strings}


def test_every_beam_subcommand_has_an_options_class():
    assert set(JOBS) == cli._BEAM_SUBCOMMANDS
    for cls in JOBS.values():
        assert issubclass(cls, JobOptions) and issubclass(cls, PipelineOptions)
        # Beam adds the flags of the classes whose own namespace has the hook.
        assert "_add_argparse_args" in cls.__dict__


def test_beams_global_parser_sees_no_job_flag_and_no_collision():
    # Beam parses all direct PipelineOptions subclasses in one parser in every process:
    # with every job imported, that must still work and hold none of the jobs' flags
    # (--input, --output and --model are declared by several jobs).
    cli.build_parser()
    everything = PipelineOptions(["--runner=DirectRunner"]).get_all_options()
    shared = set.intersection(*(flags_of(cls) for cls in (LabelOptions, FeaturizeOptions)))
    assert {"--input", "--output"} <= shared
    assert not {"input", "output", "model", "formats", "corpus", "watch"} & set(everything)


def test_job_flags_never_shadow_a_beam_option():
    beam_flags = set(runner_config._beam_option_actions())
    for name, cls in JOBS.items():
        assert not flags_of(cls) & beam_flags, name


def parse(argv):
    args, extra = cli.build_parser().parse_known_args(argv)
    return args, extra


def test_label_values_reach_the_pipeline_options_and_survive_the_runner_api(tmp_path):
    argv = ["label", "--input", "a.edf", "b.list", "--output", str(tmp_path / "out"),
            "--formats", "tse,hyp", "--chunk_s", "120", "--device", "CPU",
            "--direct_num_workers=2"]
    args, extra = parse(argv)
    job = LabelOptions.from_command(args, ["--runner=DirectRunner"] + extra)
    assert job.input == ["a.edf", "b.list"] and job.formats == ["tse", "hyp"]
    assert job.chunk_s == 120.0 and job.runner_config == "direct"
    assert job.view_as(StandardOptions).runner == "DirectRunner"
    # What a runner receives (and a worker rebuilds) holds the job's own settings.
    proto = job.to_runner_api()
    assert proto.fields["beam:option:output:v1"].string_value == str(tmp_path / "out")
    rebuilt = PipelineOptions.from_runner_api(proto)
    assert rebuilt.view_as(LabelOptions).formats == ["tse", "hyp"]
    assert rebuilt.get_all_options()["direct_num_workers"] == 2


@pytest.mark.parametrize("name", sorted(JOBS))
def test_a_worker_parses_the_options_without_the_required_flags(name):
    # Workers rebuild options from Beam flags only; a required flag there would exit.
    view = PipelineOptions(["--runner=DirectRunner"]).view_as(JOBS[name])
    defaults = JOBS[name].flag_defaults()
    assert {key: getattr(view, key) for key in defaults} == defaults


@pytest.mark.parametrize("name, missing", [("label", "--input"), ("featurize", "--output"),
                                           ("stream", "--watch"), ("train", "--corpus"),
                                           ("evaluate", "--corpus")])
def test_the_command_line_still_requires_the_mandatory_flags(name, missing, capsys):
    assert cli.main([name]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required" in err and missing in err


def test_train_and_evaluate_declare_corpus_differently_without_conflict(tmp_path):
    args, extra = parse(["evaluate", "--corpus", "a=x", "--corpus", "b=y",
                         "--model", "m1", "m2", "--output", str(tmp_path)])
    job = EvaluateOptions.from_command(args, extra)
    assert job.corpus == ["a=x", "b=y"] and job.model == ["m1", "m2"]
    args, extra = parse(["train", "--corpus", "x", "y", "--dev", "z",
                         "--output", str(tmp_path)])
    job = TrainOptions.from_command(args, extra)
    assert job.corpus == ["x", "y"] and job.dev == ["z"] and job.runner_config == "direct"


def test_a_job_class_without_declare_is_an_error():
    class Incomplete(JobOptions):
        pass
    with pytest.raises(NotImplementedError):
        Incomplete.flag_defaults()
