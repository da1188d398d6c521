"""``neurokube featurize``: the LFCC features of every recording of a corpus.

Wiring: sources -> accepted -> read, montage, filter, features and a streamed ``.npz``
per recording (bounded memory for any length) -> dead letters and ``featurize_run.json``.

Example::

    neurokube featurize --input 'corpus/edf/**/*.edf' --output features/
"""
import argparse
import platform
import time
from typing import TYPE_CHECKING

import apache_beam as beam

from neurokube import __version__
from neurokube.core.paths import atomic_write_text, join, output_path
from neurokube.pipelines import options as opts
from neurokube.pipelines.console import quiet
from neurokube.pipelines.label_job import DEFAULT_CHUNK_S, DEFAULT_WHOLE_MAX_S
from neurokube.pipelines.run_files import (
    RUN_FILE, finish_run, prepare_output, remove_stale_results, run_folder)
from neurokube.transforms.featurize import FEATURE_SUFFIX, Featurize, ReadSources
from neurokube.transforms.stages import DEAD_LETTER, MAIN, flatten_dead_letters
from neurokube.transforms.write import WriteDeadLetters, WriteRunSummary

if TYPE_CHECKING:
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.sources import InputSet

FEATURE_SPEC_FILE = "feature_spec.json"
SUMMARY_FILE = "featurize_run.json"


def build_featurize_pipeline(p: beam.Pipeline, inputs: "InputSet", output_dir: str,
                             spec: "FeatureSpec", chunk_s: float = DEFAULT_CHUNK_S,
                             whole_max_s: float = DEFAULT_WHOLE_MAX_S,
                             run_id: str = "run") -> dict[str, beam.PCollection]:
    """Wire the featurize job into pipeline ``p``.

    Parameters
    ----------
    p : beam.Pipeline
    inputs : InputSet
    output_dir : str
    spec : FeatureSpec
    chunk_s, whole_max_s : float
        Recordings up to ``whole_max_s`` are read whole, longer ones in chunks of
        ``chunk_s`` (s): memory stays bounded for any length.
    run_id : str
        This run's folder under ``output_dir/runs/``.

    Returns
    -------
    dict
        ``{MAIN: names written, DEAD_LETTER: dead letters}``.
    """
    accepted = p | "Sources" >> ReadSources(inputs)
    written = accepted[MAIN] | "Featurize" >> Featurize(spec, output_dir, chunk_s,
                                                        max(chunk_s, whole_max_s))
    dead = flatten_dead_letters("AllDeadLetters", accepted, written)
    records = run_folder(output_dir, run_id)
    _ = dead | "WriteDeadLetters" >> WriteDeadLetters(records)
    _ = ({"results": written[MAIN], "dead_letters": dead}
         | "Summary" >> WriteRunSummary(join(records, RUN_FILE), {
             "inputs": len(inputs), "feature_spec": spec.to_dict(),
             "neurokube_version": __version__, "apache_beam_version": beam.__version__,
             "python": platform.python_version()}))
    return {MAIN: written[MAIN], DEAD_LETTER: dead}


class FeaturizeOptions(opts.JobOptions):
    """The flags of ``neurokube featurize``."""

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        opts.add_io_arguments(parser, required)
        parser.add_argument("--feature_spec", default=None,
                            help="JSON file with a feature specification (default: the "
                                 "reference front end)")
        parser.add_argument("--chunk_s", type=opts.seconds(minimum=60.0),
                            default=DEFAULT_CHUNK_S,
                            help="chunk length for recordings longer than --whole_max_s, s")
        parser.add_argument("--whole_max_s", type=opts.seconds(minimum=60.0),
                            default=DEFAULT_WHOLE_MAX_S,
                            help="recordings up to this long are read whole, s")
        opts.add_run_arguments(parser)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = FeaturizeOptions.add_to_command(subparsers.add_parser(
        "featurize", help="EDF recordings -> TCP montage -> 26 LFCC features per channel",
        description="Compute the LFCC features of every recording; Beam flags may follow."))
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, beam_argv: list[str]) -> int:
    """Run ``neurokube featurize``; returns the exit status."""
    job = FeaturizeOptions.from_command(args)
    spec = opts.load_feature_spec(job.feature_spec)
    inputs = opts.list_inputs(job.input)
    argv = opts.beam_argv(args, beam_argv)
    run_id = prepare_output(job.output, inputs, job.overwrite)
    atomic_write_text(join(job.output, FEATURE_SPEC_FILE), spec.to_json() + "\n")
    started = time.time()
    with quiet(args.log_level):
        with beam.Pipeline(options=opts.pipeline_options(argv)) as p:
            build_featurize_pipeline(p, inputs, job.output, spec, job.chunk_s,
                                     job.whole_max_s, run_id)
    remove_stale_results(job.output, run_id,
                         lambda name: [output_path(job.output, name, FEATURE_SUFFIX)])
    summary = finish_run(job.output, run_id, started, summary_file=SUMMARY_FILE)
    print(f"featurized {summary.get('results', 0)} of {summary['inputs']} recordings; "
          f"{summary.get('dead_letters', 0)} dead letters; results under {job.output}")
    return opts.exit_status(summary, job)
