"""``neurokube featurize``: compute the LFCC features of a corpus.

Example::

    neurokube featurize --input 'corpus/edf/**/*.edf' --output features/
"""
import json
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.pipelines import runner_configs
from neurokube.pipelines.featurize import SUMMARY_FILE, build_featurize_pipeline
from neurokube.pipelines.options import add_io_arguments, load_feature_spec, require
from neurokube.transforms.atomic_io import join, read_bytes
from neurokube.transforms.sources import list_recordings


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "featurize", help="EDF recordings -> TCP montage -> 26 LFCC features per channel",
        description="Compute the LFCC features of every recording; Beam flags may follow.")
    add_io_arguments(parser)
    parser.add_argument("--feature_spec", default=None,
                        help="JSON file with a feature specification (default: the "
                             "reference front end)")
    runner_configs.add_runner_config_argument(parser, default="direct")
    parser.set_defaults(run=run)
    return parser


def run(args, beam_argv):
    require(args, "input", "output")
    inputs = list_recordings(args.input)
    spec = load_feature_spec(args.feature_spec)
    argv = runner_configs.resolve_beam_args(args.runner_config, beam_argv)
    options = PipelineOptions(argv)
    with beam.Pipeline(options=options) as p:
        build_featurize_pipeline(p, inputs, args.output, spec)
    summary = json.loads(read_bytes(join(args.output, SUMMARY_FILE)))
    print(f"featurized {summary.get('results', 0)} of {summary['inputs']} recordings; "
          f"{summary.get('dead_letters', 0)} dead letters; results under {args.output}",
          file=sys.stdout)
    return 0
