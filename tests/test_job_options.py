"""The jobs' flags are PipelineOptions subclasses; their values stay in the launcher.

Each Beam job declares its flags once, in a :class:`~neurokube.pipelines.options.JobOptions`
subclass; the command line is built from it, and the pipeline runs with Beam's flags only.
"""
import argparse

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

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


def test_label_values_are_read_typed_from_the_command_line(tmp_path):
    argv = ["label", "--input", "a.edf", "b.list", "--output", str(tmp_path / "out"),
            "--formats", "tse,hyp", "--chunk_s", "120", "--direct_num_workers=2"]
    args, extra = parse(argv)
    job = LabelOptions.from_command(args)
    assert job.input == ["a.edf", "b.list"] and job.formats == ["tse", "hyp"]
    assert job.chunk_s == 120.0 and job.runner_config == "direct" and job.model is None
    assert extra == ["--direct_num_workers=2"]


def test_the_pipeline_runs_with_beams_flags_only(tmp_path, monkeypatch):
    # Input paths can name patients: the runner (job description, display data, worker
    # logs) must not be given the job's own values.
    import apache_beam as beam
    from apache_beam.transforms.display import DisplayData
    from neurokube.pipelines import label_job

    captured = []

    class RecordingPipeline(beam.Pipeline):
        def __init__(self, *args, options=None, **kwargs):
            captured.append(options)
            super().__init__(*args, options=options, **kwargs)

    monkeypatch.setattr(label_job.beam, "Pipeline", RecordingPipeline)
    ward = tmp_path / "ward7_patient_smith"
    ward.mkdir()
    (ward / "not_an_edf.edf").write_bytes(b"0" * 300)
    status = cli.main(["label", "--input", str(ward), "--output", str(tmp_path / "out"),
                       "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert status == 3  # one dead letter, and the job ran
    (options,) = captured
    everything = options.get_all_options(retain_unknown_options=True)
    assert everything["direct_running_mode"] == "in_memory"
    assert not {"input", "output", "model", "formats", "runner_config"} & set(everything)
    shown = [item.get_dict() for item in DisplayData.create_from_options(options).items]
    assert "ward7" not in repr(everything) + repr(shown)


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
    args, _ = parse(["evaluate", "--corpus", "a=x", "--corpus", "b=y",
                         "--model", "m1", "m2", "--output", str(tmp_path)])
    job = EvaluateOptions.from_command(args)
    assert job.corpus == ["a=x", "b=y"] and job.model == ["m1", "m2"]
    args, _ = parse(["train", "--corpus", "x", "y", "--dev", "z",
                         "--output", str(tmp_path)])
    job = TrainOptions.from_command(args)
    assert job.corpus == ["x", "y"] and job.dev == ["z"] and job.runner_config == "direct"


def test_a_job_class_without_declare_is_an_error():
    class Incomplete(JobOptions):
        pass
    with pytest.raises(NotImplementedError):
        Incomplete.flag_defaults()
