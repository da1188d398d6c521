"""``neurokube evaluate``: any bundles on any annotated corpora, one leaderboard.

For every bundle × corpus it runs the ``label`` job (``.csv_bi`` and ``.posteriors.npz``
under ``OUTPUT/<bundle>/<corpus>/``), pairs each recording with the reference beside it,
and computes (:mod:`neurokube.models.evaluation`) NEDC OVERLAP and TAES and SzCORE with
precision and F1, the share of background seconds flagged, the longest false event, the
detection latency of every detected seizure (and for a causal bundle its decision delay:
data seconds after the onset at which ``stream`` would emit the event), and the same
across a sweep of operating points. It writes ``leaderboard.json`` and
``leaderboard.md`` (one row per bundle × corpus, then each curve); with ``--card`` it
records the results in the (single) bundle's model card, together with the command that
produced them.

Example::

    neurokube evaluate --model models/reference --corpus eval=work/tcp_eval/edf \
        --corpus chbmit=../shared/data/chbmit_chb03 --output work/leaderboard
"""
import argparse
import json
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any, Sequence

import apache_beam as beam

from neurokube.core.formats import AnnotationError, read_annotation
from neurokube.core.paths import atomic_write_text, exists, is_local, join, local_path, output_path
from neurokube.core.scoring import ScoringError
from neurokube.models.evaluation import DEFAULT_THRESHOLDS
from neurokube.pipelines import options as opts
from neurokube.pipelines.console import quiet
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import finish_run, prepare_output
from neurokube.transforms.training_examples import TERM_SUFFIXES, find_annotation

if TYPE_CHECKING:
    from neurokube.core.sources import InputSet
    from neurokube.models.bundle import ModelBundle

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"


def _corpus(text):
    name, sep, path = str(text).partition("=")
    if not sep or not name or not path:
        raise opts.UsageError(f"--corpus {text!r}: expected NAME=PATH")
    return name, path


def bundle_tag(folder: str, bundle: "ModelBundle") -> str:
    """``NAME-VERSION8``: the bundle folder's name (as given) and its version."""
    return f"{os.path.basename(os.path.normpath(str(folder)))}-{bundle.version[:8]}"


def referenced_inputs(corpus_name: str, corpus_spec: str
                      ) -> tuple["InputSet", dict[str, str]]:
    """The recordings of a corpus and {name: its reference annotation beside it}, or a
    usage error before anything is labelled."""
    try:
        inputs = opts.list_inputs([corpus_spec])
    except opts.UsageError as exc:
        raise opts.UsageError(f"--corpus {corpus_name}: {exc}".replace("--input: ", "")) \
            from None
    refs = {s.name: find_annotation(s.url, TERM_SUFFIXES) for s in inputs.sources}
    unreferenced = [name for name, ref in refs.items() if ref is None]
    if unreferenced:
        raise opts.UsageError(f"--corpus {corpus_name}: no reference annotation beside "
                              f"{len(unreferenced)} recording(s), e.g. {unreferenced[0]}")
    for ref in refs.values():  # a broken reference stops the job before labelling
        try:
            read_annotation(ref)
        except (AnnotationError, OSError) as exc:
            raise opts.UsageError(f"--corpus {corpus_name}: {exc}") from None
    return inputs, refs


def evaluate_one(given: str, bundle_dir: str, bundle: "ModelBundle", corpus_name: str,
                 corpus: tuple["InputSet", dict[str, str]], corpus_spec: str, out_dir: str,
                 argv: list[str], thresholds: Sequence[float],
                 overwrite: bool) -> dict[str, Any]:
    """Label one corpus (recordings and references, from :func:`referenced_inputs`) with
    one bundle (``given`` as the user named it, ``bundle_dir`` its location for the
    workers) and compute its figures (a leaderboard row)."""
    from neurokube.models.evaluation import (
        RecordingResult, corpus_metrics, decision_delays, operating_points)
    from neurokube.models.handler import DetectorModelHandler
    inputs, refs = corpus
    run_id = prepare_output(out_dir, inputs, overwrite)
    started = time.time()
    with beam.Pipeline(options=opts.pipeline_options(argv)) as p:
        build_label_pipeline(p, inputs, out_dir, bundle, DetectorModelHandler(
                                 bundle_dir, expected_version=bundle.version),
                             formats=("csv_bi", "posteriors"), run_id=run_id,
                             options_record={"evaluate": corpus_name})
    summary = finish_run(out_dir, run_id, started)
    results = []
    for source in inputs.sources:
        post = output_path(out_dir, source.name, ".posteriors.npz")
        if exists(post):  # else a dead letter, counted in the summary
            try:
                results.append(RecordingResult.load(source.name, refs[source.name], post))
            except ScoringError as exc:
                raise opts.UsageError(f"corpus {corpus_name}: {exc}") from None
    if not results:
        raise opts.UsageError(f"corpus {corpus_name}: no recording could be labelled")
    step_s = bundle.config.step_s
    metrics = corpus_metrics(results, bundle.p3, step_s)
    # A causal detector's events are emitted as their start is decided: its delay.
    metrics["decision_delay_s"] = (decision_delays(results, bundle.p3, step_s)
                                   if bundle.config.causal else None)
    return {"bundle": str(given), "version": bundle.version, "corpus": corpus_name,
            "corpus_path": corpus_spec, "recordings": len(results),
            "dead_letters": summary.get("dead_letters", 0),
            "hours": round(sum(r.duration_s for r in results) / 3600.0, 4),
            "seizures": sum(len(r.seizures) for r in results), **metrics,
            "operating_points": operating_points(results, bundle.p3, thresholds, step_s)}


def _fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def leaderboard_markdown(rows: list[dict[str, Any]], command: str) -> str:
    """The leaderboard as Markdown: the summary table, then each operating-point curve."""
    lines = ["| bundle | corpus | recs | hours | seizures | OVERLAP sens % | OVERLAP FA/24h "
             "| OVERLAP F1 % | TAES sens % | TAES FA/24h | SzCORE sens % | SzCORE prec % "
             "| SzCORE F1 % | bckg flagged % | longest false event s | latency median s "
             "| latency p90 s | decision delay median s | decision delay p90 s |",
             "|" + "---|" * 19]
    for r in rows:
        o, t, z = r["overlap"], r["taes"], r["szcore"]
        delay = r.get("decision_delay_s") or {}
        lines.append(
            f"| {os.path.basename(os.path.normpath(r['bundle']))} ({r['version'][:8]}) "
            f"| {r['corpus']} | {r['recordings']} | {r['hours']:.2f} | {r['seizures']} "
            f"| {o['sensitivity_pct']:.2f} | {o['fa_per_24h']:.2f} | {o['f1_pct']:.2f} "
            f"| {t['sensitivity_pct']:.2f} | {t['fa_per_24h']:.2f} "
            f"| {z['sensitivity_pct']:.2f} | {z['precision_pct']:.2f} | {z['f1_pct']:.2f} "
            f"| {r['background_flagged_pct']:.3f} | {r['longest_false_event_s']:.1f} "
            f"| {_fmt(r['latency_s']['median'], 1)} | {_fmt(r['latency_s']['p90'], 1)} "
            f"| {_fmt(delay.get('median'), 1)} | {_fmt(delay.get('p90'), 1)} |")
    for r in rows:
        lines += ["", f"Operating points, {r['corpus']} ({r['version'][:8]}): P3 threshold "
                      "swept, other P3 parameters as in the bundle.", "",
                  "| threshold | OVERLAP sens % | OVERLAP FA/24h | TAES sens % "
                  "| bckg flagged % |", "|---|---|---|---|---|"]
        lines += [f"| {p['threshold']:g} | {p['overlap_sensitivity_pct']:.2f} "
                  f"| {p['overlap_fa_per_24h']:.2f} | {p['taes_sensitivity_pct']:.2f} "
                  f"| {p['background_flagged_pct']:.3f} |" for p in r["operating_points"]]
    lines += ["", f"Produced by: `{command}`"]
    return "\n".join(lines) + "\n"


class EvaluateOptions(opts.JobOptions):
    """The flags of ``neurokube evaluate``."""

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        parser.add_argument("--model", action="extend", nargs="+", default=None,
                            metavar="BUNDLE",
                            help="model bundles (--model A B, or --model repeated; default: "
                                 "the reference)")
        parser.add_argument("--corpus", action="append", required=required, type=str,
                            metavar="NAME=PATH",
                            help="an annotated corpus (folder, pattern or list; references "
                                 "beside the EDFs); repeat for several")
        parser.add_argument("--output", required=required,
                            help="folder for results and leaderboard")
        parser.add_argument("--thresholds", default=",".join(str(t) for t in DEFAULT_THRESHOLDS),
            help="P3 thresholds of the operating-point sweep")
        parser.add_argument("--card", action="store_true",
                            help="record the results in the bundle's model card (one bundle)")
        opts.add_run_arguments(parser)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = EvaluateOptions.add_to_command(subparsers.add_parser(
        "evaluate", help="label annotated corpora with one or more bundles and score them "
                         "(leaderboard.md / leaderboard.json)",
        description="Challenge-style evaluation; Beam flags may follow."))
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, beam_argv: list[str]) -> int:
    job = EvaluateOptions.from_command(args)
    corpora = [_corpus(text) for text in job.corpus]
    names = [name for name, _ in corpora]
    if len(set(names)) != len(names):
        raise opts.UsageError(f"--corpus names must differ: {', '.join(names)}")
    try:
        thresholds = sorted({float(t) for t in job.thresholds.split(",") if t.strip()})
    except ValueError:
        raise opts.UsageError(f"--thresholds {job.thresholds!r}: not numbers") from None
    if not thresholds or not all(0.0 < t < 1.0 for t in thresholds):
        raise opts.UsageError("--thresholds must lie strictly between 0 and 1")
    from neurokube.models.bundle import REFERENCE_BUNDLE
    given = [m or str(REFERENCE_BUNDLE) for m in (job.model or [None])]
    if job.card and len(given) != 1:
        raise opts.UsageError("--card records the results of exactly one --model")
    if job.card and not is_local(given[0]):
        raise opts.UsageError(f"--card writes into the bundle's folder: give a local "
                              f"--model, not {given[0]}")
    bundles = [opts.load_bundle(m) for m in given]
    argv = opts.beam_argv(args, beam_argv)
    for folder, _ in bundles:
        opts.check_workers_reach_model(folder, argv)
    referenced = {name: referenced_inputs(name, spec) for name, spec in corpora}
    rows = []
    with quiet(args.log_level):
        for user_name, (folder, bundle) in zip(given, bundles):
            for name, spec in corpora:
                out = join(job.output, bundle_tag(user_name, bundle), name)
                rows.append(evaluate_one(user_name, folder, bundle, name, referenced[name],
                                         spec, out, argv, thresholds, job.overwrite))
                row = rows[-1]
                print(f"{bundle_tag(user_name, bundle)} on {name}: OVERLAP "
                      f"{row['overlap']['sensitivity_pct']:.2f} % at "
                      f"{row['overlap']['fa_per_24h']:.2f} FA/24h, background flagged "
                      f"{row['background_flagged_pct']:.3f} %")
    command = "neurokube " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if \
        os.path.basename(sys.argv[0]) == "neurokube" else "neurokube evaluate ..."
    board = {"rows": rows, "command": command}
    atomic_write_text(join(job.output, LEADERBOARD_JSON), json.dumps(board, indent=1) + "\n")
    markdown = leaderboard_markdown(rows, command)
    atomic_write_text(join(job.output, LEADERBOARD_MD), markdown)
    if job.card:
        from neurokube.models.bundle import record_evaluation
        record_evaluation(local_path(given[0]), markdown, board)
    print(f"leaderboard: {join(job.output, LEADERBOARD_MD)}")
    return 0
