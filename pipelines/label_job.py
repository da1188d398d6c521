"""``neurokube label``: seizure events for every recording of a corpus.

Wiring: sources -> accepted -> fingerprint (``--incremental``) -> model inputs ->
RunInference + P3 -> event files; every input ends as a result, a dead letter or a
skipped (unchanged) recording, and ``run.json`` counts them.

Example::

    neurokube label --input 'corpus/edf/**/*.edf' --output results/ \
        --formats csv_bi,tse,hyp,events_tsv --runner_config direct
    neurokube label --input gs://corpus/edf/ --output gs://results/v3/ --incremental
"""
import argparse
import os
import platform
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import apache_beam as beam

from neurokube import __version__
from neurokube.core.paths import join, output_path
from neurokube.pipelines import options as opts
from neurokube.pipelines.console import (
    Progress, print_dead_letters, print_results_table, quiet)
from neurokube.pipelines.run_files import (
    RUN_FILE, finish_run, prepare_output, remove_stale_results, results_without_input,
    run_dead_letters, run_folder)
from neurokube.transforms.detect import DetectSeizures, PrepareModelInputs, detections
from neurokube.transforms.featurize import ReadSources
from neurokube.transforms.fingerprint import SKIPPED, FingerprintRecordings
from neurokube.transforms.stages import DEAD_LETTER, MAIN, flatten_dead_letters
from neurokube.transforms.write import (
    FORMATS, WriteDeadLetters, WriteDetections, WriteRunSummary, result_paths)

if TYPE_CHECKING:
    from neurokube.core.sources import InputSet, Source
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.handler import DetectorModelHandler

# Recordings up to an hour are processed whole; longer ones in 20-minute chunks, which
# keeps a worker under 2 GB even for 24-hour, 512 Hz recordings.
DEFAULT_CHUNK_S = 1200.0
DEFAULT_WHOLE_MAX_S = 3600.0
# Results of recordings not in the input that run.json names (all are counted).
OTHERS_LISTED = 20


def build_label_pipeline(p: beam.Pipeline, inputs: "InputSet", output_dir: str,
                         bundle: "ModelBundle", handler: "DetectorModelHandler",
                         formats: Sequence[str] = ("csv_bi",),
                         chunk_s: float = DEFAULT_CHUNK_S,
                         options_record: dict[str, Any] | None = None,
                         incremental: bool = False,
                         whole_max_s: float = DEFAULT_WHOLE_MAX_S,
                         run_id: str = "run") -> dict[str, beam.PCollection]:
    """Wire the label job into pipeline ``p``.

    Parameters
    ----------
    p : beam.Pipeline
    inputs : InputSet
    output_dir : str
    bundle : ModelBundle
        The model (its feature spec, config and P3 parameters are used here; the
        handler loads the same bundle on the workers).
    handler : DetectorModelHandler
    formats : sequence of str
        Output formats (:data:`~neurokube.transforms.write.FORMATS`); ``csv_bi`` is
        always written.
    chunk_s, whole_max_s : float
        Recordings up to ``whole_max_s`` are processed whole, longer ones in chunks of
        ``chunk_s``, s.
    options_record : dict, optional
        Options to record in ``run.json``.
    incremental : bool
        Skip recordings whose result names the same input fingerprint, model version and
        formats and whose output files are all present.
    run_id : str
        This run's folder under ``output_dir/runs/`` (its ``run.json`` and
        ``dead_letters.jsonl``), so overlapping runs never lose each other's records.

    Returns
    -------
    dict
        ``{MAIN: (name, duration_s) written, DEAD_LETTER: dead letters,
        SKIPPED: names skipped as unchanged}``.
    """
    formats = ["csv_bi"] + [f for f in dict.fromkeys(formats) if f != "csv_bi"]
    meta = {"model_version": bundle.version, "neurokube_version": __version__}
    accepted = p | "Sources" >> ReadSources(inputs)
    todo = accepted[MAIN] | "Fingerprint" >> FingerprintRecordings(
        output_dir, bundle.version, formats, incremental)
    prepared = todo[MAIN] | "PrepareInputs" >> PrepareModelInputs(
        bundle.feature_spec, bundle.config, chunk_s, max(chunk_s, whole_max_s))
    found = prepared[MAIN] | "Detect" >> DetectSeizures(handler, bundle.p3,
                                                        bundle.config.step_s)
    parts = detections(found, "Write", WriteDetections(output_dir, formats, meta,
                                                       bundle.config.step_s, bundle.p3))
    written = [part[MAIN] for part in parts] | "AllWritten" >> beam.Flatten()
    dead = flatten_dead_letters("AllDeadLetters", accepted, todo, prepared, found, *parts)
    records = run_folder(output_dir, run_id)
    _ = dead | "WriteDeadLetters" >> WriteDeadLetters(records)
    hours = written | "EegHours" >> beam.Map(lambda kv: kv[1] / 3600.0)
    recordings_failed = (dead | "FailedPaths" >> beam.Map(lambda d: d.path)
                         | "DistinctFailed" >> beam.Distinct())
    _ = ({"results": written, "dead_letters": recordings_failed,
          SKIPPED: todo[SKIPPED]}
         | "Summary" >> WriteRunSummary(join(records, RUN_FILE), {
             "inputs": len(inputs), "incremental": bool(incremental),
             "model_version": bundle.version, "formats": formats,
             "chunk_s": chunk_s, "whole_max_s": max(chunk_s, whole_max_s),
             "options": options_record or {},
             "versions": {"neurokube": __version__, "apache_beam": beam.__version__,
                          "python": platform.python_version()}},
             sums={"eeg_hours": hours}))
    return {MAIN: written, DEAD_LETTER: dead, SKIPPED: todo[SKIPPED]}


class LabelOptions(opts.JobOptions):
    """The flags of ``neurokube label``."""

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        opts.add_io_arguments(parser, required)
        opts.add_model_argument(parser)
        parser.add_argument("--formats", type=opts.format_list(FORMATS), default=["csv_bi"],
                            help=f"comma-separated output formats of {','.join(FORMATS)} "
                                 "(csv_bi is always written)")
        parser.add_argument("--chunk_s", type=opts.seconds(minimum=60.0),
                            default=DEFAULT_CHUNK_S,
                            help="chunk length for recordings longer than --whole_max_s, s "
                                 "(at least 60)")
        parser.add_argument("--whole_max_s", type=opts.seconds(minimum=60.0),
                            default=DEFAULT_WHOLE_MAX_S,
                            help="recordings up to this long are processed whole, s")
        parser.add_argument("--p1_batch_windows", type=opts.positive_int, default=2048,
                            help="P1 windows per model call")
        parser.add_argument("--p2_batch_windows", type=opts.positive_int, default=1024,
                            help="P2 windows per model call")
        parser.add_argument("--max_batch_size", type=opts.positive_int, default=4,
                            help="recordings or chunks per inference call")
        parser.add_argument("--large_model", action="store_true",
                            help="share one model copy across the worker processes of a "
                                 "machine")
        parser.add_argument("--model_copies", type=opts.positive_int, default=None,
                            help="exact number of model copies per machine (e.g. one per "
                                 "GPU)")
        parser.add_argument("--device", default="CPU", choices=["CPU", "GPU"])
        parser.add_argument("--engine", default=None, choices=["numpy", "keras"],
                            help="how the models run: numpy (default on CPU: workers never "
                                 "import TensorFlow) or keras (default on GPU)")
        parser.add_argument("--incremental", action="store_true",
                            help="skip recordings whose results exist for the same input "
                                 "content (fingerprint) and model version; redo the rest")
        parser.add_argument("--report", action="store_true",
                            help="also write an HTML report (OUTPUT/report/index.html) with "
                                 "pictures of up to 20 recordings (adds the posteriors "
                                 "format)")
        opts.add_run_arguments(parser)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = LabelOptions.add_to_command(subparsers.add_parser(
        "label", help="label seizures in EDF recordings (writes .csv_bi and more per recording)",
        description="Run the seizure detector over recordings; Beam flags may follow."))
    parser.set_defaults(run=run)
    return parser


def job_handler(job: LabelOptions, bundle_dir: str, expected_version: str | None = None
                ) -> "DetectorModelHandler":
    """The inference handler a ``label`` command's options ask for."""
    from neurokube.models.handler import DetectorModelHandler
    return DetectorModelHandler(bundle_dir, p1_batch_windows=job.p1_batch_windows,
                                p2_batch_windows=job.p2_batch_windows,
                                max_batch_size=job.max_batch_size,
                                large_model=job.large_model, model_copies=job.model_copies,
                                device=job.device, engine=job.engine,
                                expected_version=expected_version)


def run(args: argparse.Namespace, beam_argv: list[str]) -> int:
    """Run ``neurokube label``; returns the exit status (see :mod:`.run_files`)."""
    job = LabelOptions.from_command(args)
    bundle_dir, bundle = opts.load_bundle(job.model)
    inputs = opts.list_inputs(job.input)
    formats = list(job.formats) + (["posteriors"] if job.report else [])
    argv = opts.beam_argv(args, beam_argv)
    opts.check_workers_reach_model(bundle_dir, argv)
    if opts.is_dry_run(argv):
        return dry_run(job, args.log_level, inputs, bundle_dir, bundle, formats, argv)
    run_id = prepare_output(job.output, inputs, job.overwrite)
    handler = job_handler(job, bundle_dir, bundle.version)
    # Input specs by their last part only: full paths can name patients or wards.
    record = {"input": [os.path.basename(str(i).rstrip("/")) for i in job.input],
              "model": job.model or "reference", "formats": formats,
              "runner_config": job.runner_config, "beam_args": argv,
              "incremental": job.incremental}
    started = time.time()
    with quiet(args.log_level), Progress(job.output, len(inputs)):
        with beam.Pipeline(options=opts.pipeline_options(argv)) as p:
            build_label_pipeline(p, inputs, job.output, bundle, handler, formats=formats,
                                 chunk_s=job.chunk_s, whole_max_s=job.whole_max_s,
                                 options_record=record, incremental=job.incremental,
                                 run_id=run_id)
    remove_stale_results(job.output, run_id, lambda name: result_paths(job.output, name))
    others = results_without_input(job.output, inputs.sources)
    summary = finish_run(job.output, run_id, started, extra={
        "results_without_input": len(others),
        "results_without_input_examples": others[:OTHERS_LISTED]})
    print_dead_letters(run_dead_letters(job.output, run_id))
    print_results_table(*result_rows(job.output, inputs.sources))
    if others:
        which = "1 recording" if len(others) == 1 else f"{len(others)} recordings"
        print(f"results of {which} not in this input are under {job.output}, left as "
              f"they are (e.g. {others[0]}; see run.json)")
    print(f"labelled {summary.get('results', 0)} of {summary['inputs']} recordings "
          f"({summary.get('eeg_hours', 0):.2f} EEG-hours) in {summary['wall_time_s']:.1f} s "
          f"with model {bundle.version}; {summary.get('dead_letters', 0)} dead letters; "
          f"{summary.get('skipped_unchanged', 0)} skipped as unchanged; "
          f"results under {job.output}")
    if job.report:
        from neurokube.pipelines.review_command import build_report
        print(f"report: {build_report(inputs.sources, job.output, job.output, bundle_dir, bundle)}")
    return opts.exit_status(summary, job)


def dry_run(job: LabelOptions, log_level: str, inputs: "InputSet", bundle_dir: str,
            bundle: "ModelBundle", formats: list[str], argv: list[str]) -> int:
    """Build the job for its runner (Dataflow: the job description) without running it:
    no output is touched and no credential is looked up. The job is the one the command
    would run: the same handler settings (device, batch sizes, model copies) and steps."""
    with quiet(log_level):
        p = beam.Pipeline(options=opts.pipeline_options(argv))
        handler = job_handler(job, bundle_dir, bundle.version)
        build_label_pipeline(p, inputs, job.output, bundle, handler,
                             formats=formats, chunk_s=job.chunk_s,
                             whole_max_s=job.whole_max_s, run_id="dry-run",
                             incremental=job.incremental)
        p.run().wait_until_finish()
    print(f"dry run: the label job for {len(inputs)} recordings was built for "
          f"{argv[0] if argv else 'the default runner'} and not run; nothing was written")
    return 0


def result_rows(output_dir: str, sources: Iterable["Source"],
                limit: int = 20) -> tuple[list[dict[str, Any]], int]:
    """Closing-table rows of the first ``limit`` recordings labelled (from their .csv_bi),
    and how many recordings come after the last one looked at (not listed)."""
    from neurokube.core.formats import read_annotation
    from neurokube.core.paths import exists
    sources = list(sources)
    rows = []
    for looked_at, source in enumerate(sources, start=1):
        path = output_path(output_dir, source.name, ".csv_bi")
        if not exists(path):
            continue
        annotation = read_annotation(path)
        seiz = [e for e in annotation.events if e.label == "seiz"]
        rows.append({"name": source.name, "duration_s": annotation.duration_s,
                     "events": len(seiz),
                     "seizure_s": sum(e.stop_s - e.start_s for e in seiz)})
        if len(rows) == limit:
            return rows, len(sources) - looked_at
    return rows, 0
