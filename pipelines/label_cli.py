"""``neurokube label``: seizure events for every recording of a corpus.

Example::

    neurokube label --input 'corpus/edf/**/*.edf' --output results/ \
        --formats csv_bi,tse,hyp,events_tsv --runner_config direct
    neurokube label --input gs://corpus/edf/ --output gs://results/v3/ --incremental
"""
import json
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.pipelines import runner_configs
from neurokube.pipelines.label import (
    DEFAULT_CHUNK_S, DEFAULT_WHOLE_MAX_S, RUN_FILE, build_label_pipeline)
from neurokube.pipelines.options import add_io_arguments
from neurokube.transforms.atomic_io import (
    atomic_write_text, check_output_location, join, read_bytes)
from neurokube.transforms.event_writers import FORMATS
from neurokube.transforms.sources import list_recordings


# One thread each for BLAS/OpenMP and TensorFlow's thread pools.
MATH_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def pin_math_threads_for_local_workers(argv):
    """On the DirectRunner in multi-processing mode there is one worker per core: one math
    thread per worker avoids oversubscribing the cores (set before the workers start; an
    explicit environment variable wins)."""
    if any(a in ("--direct_running_mode=multi_processing", "multi_processing") for a in argv) \
            and not any(a.startswith("--runner=") and "Direct" not in a for a in argv):
        for var in MATH_THREAD_VARS:
            os.environ.setdefault(var, "1")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "label", help="label seizures in EDF recordings (writes .csv_bi and more per recording)",
        description="Run the seizure detector over recordings; Beam flags may follow.")
    add_io_arguments(parser)
    parser.add_argument("--model", default=None,
                        help="model bundle folder (default: the shipped reference model)")
    parser.add_argument("--formats", default="csv_bi",
                        help=f"comma-separated event-file formats of {','.join(FORMATS)} "
                             "(csv_bi is always written)")
    parser.add_argument("--chunk_s", type=float, default=DEFAULT_CHUNK_S,
                        help="chunk length for recordings longer than --whole_max_s, s")
    parser.add_argument("--whole_max_s", type=float, default=DEFAULT_WHOLE_MAX_S,
                        help="recordings up to this long are processed whole, s")
    parser.add_argument("--p1_batch_windows", type=int, default=8192,
                        help="P1 windows per model call")
    parser.add_argument("--p2_batch_windows", type=int, default=1024,
                        help="P2 windows per model call")
    parser.add_argument("--max_batch_size", type=int, default=4,
                        help="recordings or chunks per inference call")
    parser.add_argument("--large_model", action="store_true",
                        help="share one model copy across the worker processes of a machine")
    parser.add_argument("--model_copies", type=int, default=None,
                        help="exact number of model copies per machine (e.g. one per GPU)")
    parser.add_argument("--device", default="CPU", choices=["CPU", "GPU"])
    parser.add_argument("--incremental", action="store_true",
                        help="skip recordings whose results exist for the same input content "
                             "(fingerprint) and model version; redo the rest")
    runner_configs.add_runner_config_argument(parser, default="direct")
    parser.set_defaults(run=run)
    return parser


def run(args, beam_argv):
    from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
    from neurokube.models.handler import DetectorModelHandler
    if not args.input or not args.output:
        raise SystemExit("neurokube label: --input and --output are required")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    try:
        check_output_location(args.output)
    except FileNotFoundError as exc:
        raise SystemExit(f"neurokube label: {exc}") from exc
    bundle_dir = args.model or str(REFERENCE_BUNDLE)
    bundle = ModelBundle.load(bundle_dir, with_models=False)
    inputs = list_recordings(args.input)
    handler = DetectorModelHandler(bundle_dir, p1_batch_windows=args.p1_batch_windows,
                                   p2_batch_windows=args.p2_batch_windows,
                                   max_batch_size=args.max_batch_size,
                                   large_model=args.large_model, model_copies=args.model_copies,
                                   device=args.device)
    argv = runner_configs.resolve_beam_args(args.runner_config, beam_argv)
    pin_math_threads_for_local_workers(argv)
    record = {"input": args.input, "model": bundle_dir, "formats": formats,
              "runner_config": args.runner_config, "beam_args": argv,
              "incremental": args.incremental}
    started = time.time()
    with beam.Pipeline(options=PipelineOptions(argv)) as p:
        build_label_pipeline(p, inputs, args.output, bundle, handler, formats=formats,
                             chunk_s=args.chunk_s, whole_max_s=args.whole_max_s,
                             options_record=record,
                             incremental=args.incremental)
    run_path = join(args.output, RUN_FILE)
    summary = json.loads(read_bytes(run_path))
    summary["wall_time_s"] = round(time.time() - started, 3)
    atomic_write_text(run_path, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"labelled {summary.get('results', 0)} of {summary['inputs']} recordings "
          f"({summary.get('eeg_hours', 0):.2f} EEG-hours) in {summary['wall_time_s']:.1f} s "
          f"with model {bundle.version}; {summary.get('dead_letters', 0)} dead letters; "
          f"{summary.get('skipped_unchanged', 0)} skipped as unchanged; "
          f"results under {args.output}", file=sys.stdout)
    return 0
