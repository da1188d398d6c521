"""``neurokube stream``: label recordings while they are being written (Beam streaming).

Wiring: watch the folder (files that appear and grow) -> per-recording state -> causal
P1, P2 and online P3 on each new span -> ``<bname>.csv_bi`` rewritten and
``<bname>.events.jsonl`` extended as decisions are made (see ``transforms/stream.py``).
The model must be causal; the default is the shipped causal reference bundle.

Example::

    neurokube stream --watch /data/emu/incoming --output /data/emu/labels --poll_s 2
    neurokube stream --watch gs://emu/incoming --output gs://emu/labels \
        --runner_config dataflow_cpu --project P --region R --temp_location gs://...
"""
import argparse
import json
import os
import sys
import time
from typing import Any

import apache_beam as beam

from neurokube import __version__
from neurokube.core.paths import atomic_write_text, is_local, join, local_path, read_text
from neurokube.core.sources import InputSet
from neurokube.pipelines import options as opts
from neurokube.pipelines.console import print_dead_letters, quiet
from neurokube.pipelines.run_files import (
    RUN_FILE, finish_run, prepare_output, run_dead_letters, run_folder)
from neurokube.transforms.stream import (
    DEAD_LETTER_SUFFIX, FINISHED_SUFFIX, LabelGrowingRecordings, WatchRecordings)
from neurokube.transforms.write import DEAD_LETTERS_FILE


def causal_reference_bundle() -> str:
    """The shipped causal reference bundle's folder."""
    from neurokube.models.bundle import REFERENCE_CAUSAL_BUNDLE
    return str(REFERENCE_CAUSAL_BUNDLE)


def stream_records(output_dir: str, run_id: str) -> str:
    """The folder of a stream run's per-recording records."""
    return join(run_folder(output_dir, run_id), "stream")


def build_stream_pipeline(p: beam.Pipeline, watch: str, output_dir: str, bundle_dir: str,
                          poll_s: float, settle_s: float, until_idle_s: float | None,
                          engine: str = "numpy", run_id: str = "run",
                          expected_version: str | None = None
                          ) -> beam.pvalue.DoOutputsTuple:
    """Wire the stream job into ``p`` (a pipeline with streaming options).

    Returns ``{MAIN: (name, duration_s, events) per finished recording, DEAD_LETTER: ...}``.
    """
    observations = p | "Watch" >> WatchRecordings(watch, poll_s, settle_s, until_idle_s)
    return observations | "LabelGrowing" >> LabelGrowingRecordings(
        bundle_dir, output_dir, stream_records(output_dir, run_id), engine, expected_version)


def write_run_summary(output_dir: str, run_id: str, extra: dict[str, Any]) -> None:
    """The run's ``run.json`` and ``dead_letters.jsonl`` from its per-recording records
    (written once the job has ended)."""
    from apache_beam.io.filesystems import FileSystems
    folder = stream_records(output_dir, run_id)
    finished, letters = [], []
    if FileSystems.exists(folder):
        for meta in FileSystems.match([join(folder, "**")])[0].metadata_list:
            if meta.path.endswith(FINISHED_SUFFIX):
                finished.append(json.loads(read_text(meta.path)))
            elif meta.path.endswith(DEAD_LETTER_SUFFIX):
                letters.append(read_text(meta.path).strip())
    summary = dict(extra, results=len(finished), dead_letters=len(letters),
                   eeg_hours=round(sum(r["duration_s"] for r in finished) / 3600.0, 6))
    records = run_folder(output_dir, run_id)
    atomic_write_text(join(records, DEAD_LETTERS_FILE),
                      "".join(line + "\n" for line in sorted(letters)))
    atomic_write_text(join(records, RUN_FILE), json.dumps(summary, indent=1,
                                                          sort_keys=True) + "\n")


class StreamOptions(opts.JobOptions):
    """The flags of ``neurokube stream``."""

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        parser.add_argument("--watch", required=required,
                            help="folder (local or gs://) whose *.edf and *.bdf files are followed")
        parser.add_argument("--output", required=required, help="folder for the event files")
        parser.add_argument("--model", default=None,
                            help="causal model bundle (default: the shipped causal reference)")
        parser.add_argument("--poll_s", type=opts.seconds(minimum=0.05), default=5.0,
                            help="seconds between listings of the folder (default: 5)")
        parser.add_argument("--settle_s", type=opts.seconds(minimum=0.0), default=60.0,
                            help="a file unchanged this long is final: its last seconds are "
                                 "labelled and its open event closed (default: 60); one that "
                                 "grows again later is labelled anew from its start")
        parser.add_argument("--until_idle_s", type=opts.seconds(minimum=0.0), default=None,
                            help="end the job after this long without new data, finalising "
                                 "every file (default: run until cancelled, e.g. with Ctrl-C)")
        parser.add_argument("--engine", default="numpy", choices=["numpy", "keras"],
                            help="how the models run (numpy: no TensorFlow in the workers)")
        opts.add_run_arguments(parser)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = StreamOptions.add_to_command(subparsers.add_parser(
        "stream", help="label EDF recordings as they appear and grow (causal model, Beam "
                       "streaming)",
        description="Watch a folder for EDF files that appear and grow, label them with a "
                    "causal model as records arrive, keep <bname>.csv_bi current and "
                    "<bname>.events.jsonl growing; Beam flags may follow."))
    parser.set_defaults(run=run)
    return parser


def _check_watch_and_output(watch, output):
    if not (is_local(watch) and is_local(output)):
        if str(output).rstrip("/") == str(watch).rstrip("/"):
            raise opts.UsageError("--output must not be the --watch folder")
        return
    if not os.path.isdir(local_path(watch)):
        raise opts.UsageError(f"--watch {watch}: not a folder")
    w = os.path.realpath(local_path(watch))
    o = os.path.realpath(local_path(output))
    if o == w or o.startswith(w + os.sep) or w.startswith(o + os.sep):
        raise opts.UsageError(f"--output {output} and --watch {watch} overlap: choose a "
                              "separate output folder")


def run(args: argparse.Namespace, beam_argv: list[str]) -> int:
    """Run ``neurokube stream``; returns the exit status."""
    job = StreamOptions.from_command(args)
    bundle_dir, bundle = opts.load_bundle(job.model or causal_reference_bundle())
    if not bundle.config.causal:
        raise opts.UsageError(f"--model {job.model}: not a causal model (its windows look "
                              "into the future); use a causal bundle such as the default")
    _check_watch_and_output(job.watch, job.output)
    argv = opts.beam_argv(args, beam_argv)
    opts.check_workers_reach_model(bundle_dir, argv)
    if "--streaming" not in argv:
        argv.append("--streaming")
    run_id = prepare_output(job.output, InputSet([]), job.overwrite)
    started = time.time()
    stopped = False
    try:
        with quiet(args.log_level):  # also while the workers wind down after Ctrl-C
            try:
                with beam.Pipeline(options=opts.pipeline_options(argv)) as p:
                    build_stream_pipeline(p, job.watch, job.output, bundle_dir, job.poll_s,
                                          job.settle_s, job.until_idle_s, job.engine, run_id,
                                          bundle.version)
            except KeyboardInterrupt:  # the usual way to end a job that runs until cancelled
                stopped = True
    except KeyboardInterrupt:  # pressed again while the workers wound down
        stopped = True
    if stopped:
        print("stream stopped by the user: every file's results hold the seconds labelled so "
              "far (files not yet final keep their open events open)", file=sys.stderr)
    write_run_summary(job.output, run_id, {
        "watch": os.path.basename(str(job.watch).rstrip("/")), "model_version":
        bundle.version, "poll_s": job.poll_s, "settle_s": job.settle_s,
        "until_idle_s": job.until_idle_s, "inputs": None, "stopped_by_user": stopped,
        "versions": {"neurokube": __version__, "apache_beam": beam.__version__}})
    summary = finish_run(job.output, run_id, started)
    print_dead_letters(run_dead_letters(job.output, run_id))
    print(f"streamed {summary.get('results', 0)} recordings to the end "
          f"({summary.get('eeg_hours', 0):.2f} EEG-hours) in {summary['wall_time_s']:.1f} s "
          f"with model {bundle.version}; {summary.get('dead_letters', 0)} dead letters; "
          f"results under {job.output}")
    return opts.EXIT_INTERRUPTED if stopped else opts.exit_status(summary, job)
