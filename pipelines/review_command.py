"""``neurokube review``: pictures and an HTML report of what ``label`` decided.

Example::

    neurokube label --input corpus/edf --output results --formats csv_bi,posteriors
    neurokube review --input corpus/edf --results results --ref corpus/edf --output review
    # open review/report/index.html
"""
import argparse
import json
import sys
from typing import TYPE_CHECKING, Sequence

import numpy as np

from neurokube.core.feature_spec import TCP_CHANNELS
from neurokube.core.formats import read_annotation
from neurokube.core.paths import exists, join, output_path, read_text
from neurokube.core.scoring import score_pairs
from neurokube.pipelines import options as opts
from neurokube.transforms.training_examples import TERM_SUFFIXES, find_annotation

if TYPE_CHECKING:
    from neurokube.core.sources import Source
    from neurokube.models.bundle import ModelBundle

DEFAULT_MAX_PICTURES = 20


def find_reference(ref_dir: str, source: "Source") -> str | None:
    """The reference annotation of ``source``: under ``ref_dir`` by its name, else beside
    the recording in ``ref_dir``'s tree by its base name; None when there is none."""
    for suffix in TERM_SUFFIXES:
        candidate = output_path(ref_dir, source.name, suffix)
        if exists(candidate):
            return candidate
    beside = find_annotation(source.url, TERM_SUFFIXES)
    return beside if beside and str(beside).startswith(str(ref_dir).rstrip("/")) else None


def _row(results_dir, source):
    from neurokube.pipelines.review import load_posteriors
    hyp = read_annotation(output_path(results_dir, source.name, ".csv_bi"))
    seiz = [e for e in hyp.events if e.label == "seiz"]
    post_path = output_path(results_dir, source.name, ".posteriors.npz")
    max_p, masked = float("nan"), []
    if exists(post_path):
        post = load_posteriors(results_dir, source.name)
        max_p = float(np.max(post["fused"], initial=0.0))
        masked = [name for name, kept in zip(TCP_CHANNELS, post["mask"]) if not kept]
    return {"name": source.name, "duration_s": float(hyp.duration_s), "events": len(seiz),
            "seizure_s": float(sum(e.stop_s - e.start_s for e in seiz)), "max_p": max_p,
            "masked": masked}


def build_report(sources: Sequence["Source"], results_dir: str, out_dir: str,
                 bundle_dir: str, bundle: "ModelBundle", ref_dir: str | None = None,
                 max_pictures: int = DEFAULT_MAX_PICTURES,
                 formats: Sequence[str] = ("png",), start_s: float | None = None,
                 duration_s: float | None = None) -> str:
    """Pictures of up to ``max_pictures`` recordings and the HTML report; returns its path."""
    # matplotlib only where pictures are drawn (not in every command's start-up)
    from neurokube.models.evaluation import (
        DEFAULT_THRESHOLDS, RecordingResult, operating_points)
    from neurokube.pipelines.report import REPORT_FOLDER, write_report
    from neurokube.pipelines.review import review_recording
    labelled = [s for s in sources if exists(output_path(results_dir, s.name, ".csv_bi"))]
    rows = [_row(results_dir, s) for s in labelled]
    pictures, pairs, results = {}, [], []
    picture_dir = join(out_dir, REPORT_FOLDER, "pictures")
    for source in labelled:
        ref = find_reference(ref_dir, source) if ref_dir else None
        if ref:
            pairs.append((ref, output_path(results_dir, source.name, ".csv_bi")))
        has_post = exists(output_path(results_dir, source.name, ".posteriors.npz"))
        if ref and has_post:
            results.append(RecordingResult.load(
                source.name, ref, output_path(results_dir, source.name, ".posteriors.npz")))
        if has_post and len(pictures) < max_pictures:
            pictures[source.name] = review_recording(
                source, results_dir, picture_dir, bundle.feature_spec, bundle.p3.threshold,
                ref_path=ref, start_s=start_s, duration_s=duration_s, formats=formats)
    scores = score_pairs(pairs, scorers=("overlap", "taes", "szcore")) if pairs else None
    curve = operating_points(results, bundle.p3, DEFAULT_THRESHOLDS,
                             bundle.config.step_s) if results else None
    summary_path = join(results_dir, "run.json")
    summary = json.loads(read_text(summary_path)) if exists(summary_path) else {
        "inputs": len(sources), "results": len(rows)}
    letters_path = join(results_dir, "dead_letters.jsonl")
    letters = [json.loads(line) for line in read_text(letters_path).splitlines()
               if line.strip()] if exists(letters_path) else []
    return write_report(out_dir, rows, summary, letters, bundle_dir, bundle.version,
                        pictures, scores, curve)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "review", help="pictures of the EEG with the detector's decisions and an HTML report",
        description="Draw each recording's TCP channels with the hypothesis (and reference) "
                    "events, P(seizure) and every channel's P1 probability; write an HTML "
                    "report that opens from disk.")
    parser.add_argument("--input", nargs="+", required=True,
                        help="the recordings (as given to label)")
    parser.add_argument("--results", required=True, help="the label output folder (with "
                                                         ".posteriors.npz: --formats posteriors)")
    parser.add_argument("--ref", default=None, help="reference annotations (folder)")
    parser.add_argument("--output", required=True, help="folder for the pictures and report")
    parser.add_argument("--model", default=None, help="the bundle that labelled them "
                                                      "(default: the reference model)")
    parser.add_argument("--start", type=opts.seconds(), default=None,
                        help="draw one window starting here, s")
    parser.add_argument("--duration", type=opts.seconds(minimum=1.0), default=None,
                        help="length of that window, s")
    parser.add_argument("--svg", action="store_true", help="also write SVG pictures")
    parser.add_argument("--max_pictures", type=opts.positive_int, default=DEFAULT_MAX_PICTURES,
                        help="recordings drawn (the report's table lists them all)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, _: list[str]) -> int:
    bundle_dir, bundle = opts.load_bundle(args.model)
    inputs = opts.list_inputs(args.input)
    if not exists(args.results):
        raise opts.UsageError(f"--results {args.results}: no such folder")
    labelled = [s for s in inputs.sources
                if exists(output_path(args.results, s.name, ".csv_bi"))]
    if not labelled:
        raise opts.UsageError(f"--results {args.results}: no results for any of the "
                              f"{len(inputs.sources)} recording(s) of --input (label them "
                              "first, with the same --input root)")
    if len(labelled) < len(inputs.sources):
        print(f"review: no results under {args.results} for "
              f"{len(inputs.sources) - len(labelled)} of {len(inputs.sources)} recordings; "
              "they are left out", file=sys.stderr)
    if args.ref:
        unreferenced = sum(find_reference(args.ref, s) is None for s in labelled)
        if unreferenced:
            print(f"review: no reference under {args.ref} for {unreferenced} of "
                  f"{len(labelled)} recordings; they are not scored", file=sys.stderr)
    formats = ("png", "svg") if args.svg else ("png",)
    path = build_report(inputs.sources, args.results, args.output, bundle_dir, bundle,
                        args.ref, args.max_pictures, formats, args.start, args.duration)
    print(f"report: {path}")
    return 0
