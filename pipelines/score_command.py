"""``neurokube score``: score hypothesis annotations against references.

REF and HYP are folders (searched recursively) or list files; recordings pair by name. The
SEIZ results of every scorer are printed as a table and, with ``--json``, written as
``{"files", "total_duration_s", "<scorer>": {"targets", "hits", "misses", "false_alarms",
"sensitivity_pct", "precision_pct", "f1_pct", "fa_per_24h"}, ...}``; IRA adds ``kappa``
and its epoch ``confusion`` matrix (rows: reference seiz, bckg; columns: hypothesis).

Example::

    neurokube score --ref ref/ --hyp hyp/ --json scores.json --scorers overlap,taes
"""
import argparse
import json
import os
import sys
from typing import Any, Sequence

from neurokube.core.formats import AnnotationError
from neurokube.core.paths import atomic_write_text
from neurokube.core.formats import bname_of
from neurokube.core.scoring import (
    DEFAULT_SCORERS, SCORERS, ScoringError, find_annotations, pair_files, score_pairs)

# Decimals of the counts in the table (TAES gives partial credit, printed as NEDC does).
_COUNT_DECIMALS = {"taes": 2}
_NOTES = {
    "overlap": "NEDC v6.0.0 any-overlap",
    "taes": "NEDC v6.0.0 time-aligned, partial credit",
    "epoch": "NEDC v6.0.0 0.25 s epochs; FA/24h = false-alarm seconds per 24 h",
    "dpalign": "NEDC v6.0.0 DP alignment of label sequences",
    "ira": "NEDC v6.0.0 inter-rater agreement on EPOCH's 0.25 s epochs",
    "szcore": "SzCORE, timescoring event scoring (-30 s/+60 s tolerance), far more lenient",
}


def _scorer_list(text):
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scorer(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(SCORERS)}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``score`` subcommand to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "score", help="score hypothesis annotations against references (NEDC v6.0.0, SzCORE)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True,
                        help="reference folder (searched recursively) or list file")
    parser.add_argument("--hyp", required=True,
                        help="hypothesis folder (searched recursively) or list file")
    parser.add_argument("--json", dest="json_out", metavar="OUT",
                        help="also write the results as JSON to OUT")
    parser.add_argument("--scorers", type=_scorer_list, default=list(DEFAULT_SCORERS),
                        help=f"comma-separated, from {','.join(SCORERS)} (default: all)")
    parser.add_argument("--partial", action="store_true",
                        help="score the recordings that have both files and say how many "
                             "lack a hypothesis or a reference (default: refuse)")
    parser.add_argument("--per_recording", action="store_true",
                        help="also print (and write to --json) one row per recording")
    parser.set_defaults(run=run)
    return parser


def format_table(result: dict[str, Any]) -> str:
    """The SEIZ results of :func:`score_pairs` as a readable text table."""
    scorers = [name for name in SCORERS if name in result]
    lines = [f"SEIZ results: {result['files']} recordings, total duration "
             f"{result['total_duration_s']:.4f} s", "",
             f"{'scorer':<8} {'targets':>10} {'hits':>10} {'misses':>10} "
             f"{'false alarms':>12} {'sensitivity':>12} {'precision':>11} {'F1':>9} "
             f"{'FA/24h':>12}  convention"]
    for name in scorers:
        row = result[name]
        if name == "ira":
            continue  # its counts are EPOCH's; its figure is the kappa, below the table
        digits = _COUNT_DECIMALS.get(name, 0)
        counts = [f"{row[key]:{width}.{digits}f}" for key, width in
                  (("targets", 10), ("hits", 10), ("misses", 10), ("false_alarms", 12))]
        lines.append(f"{name.upper():<8} {' '.join(counts)} {row['sensitivity_pct']:10.4f} % "
                     f"{row['precision_pct']:9.4f} % {row['f1_pct']:7.4f} % "
                     f"{row['fa_per_24h']:12.4f}  {_NOTES[name]}")
    if "ira" in result:
        (ss, sb), (bs, bb) = result["ira"]["confusion"]
        lines += ["", f"IRA      Cohen's kappa {result['ira']['kappa']:.4f}; epochs ref seiz -> "
                  f"hyp seiz {ss:.0f}, bckg {sb:.0f}; ref bckg -> hyp seiz {bs:.0f}, bckg "
                  f"{bb:.0f}  ({_NOTES['ira']})"]
    return "\n".join(lines)


def per_recording(pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
                  scorers: Sequence[str]) -> list[dict[str, Any]]:
    """One row per recording: its name, duration and the SEIZ figures of each scorer."""
    rows = []
    for ref, hyp in pairs:
        result = score_pairs([(ref, hyp)], scorers=scorers)
        rows.append({"recording": bname_of(ref), "duration_s": result["total_duration_s"],
                     **{name: result[name] for name in scorers}})
    return rows


def _cell(figures: dict[str, Any], scorer: str) -> str:
    if scorer == "ira":
        return f"kappa {figures['kappa']:.4f}"
    return (f"{figures['hits']:>8.2f}/{figures['targets']:>5.0f}/"
            f"{figures['false_alarms']:<8.2f}")


def format_rows(rows: list[dict[str, Any]], scorers: Sequence[str]) -> str:
    head = f"{'recording':<40} {'duration s':>10} " + " ".join(
        f"{name.upper() + ('' if name == 'ira' else ' hits/targets/FA'):>24}"
        for name in scorers)
    lines = [head]
    for row in rows:
        cells = " ".join(_cell(row[n], n).rjust(24) for n in scorers)
        lines.append(f"{row['recording'][:40]:<40} {row['duration_s']:>10.1f} {cells}")
    return "\n".join(lines)


def _write_json(result, path):
    atomic_write_text(str(path), json.dumps(result, indent=2) + "\n")


def run(args: argparse.Namespace, extra_argv: list[str]) -> int:
    """Run the subcommand; returns the exit code (2 when the inputs cannot be scored)."""
    del extra_argv  # the CLI refuses unknown arguments for this subcommand
    try:
        pairs = pair_files(args.ref, args.hyp, partial=args.partial)
        result = score_pairs(pairs, scorers=args.scorers)
        if args.partial:
            refs, hyps = find_annotations(args.ref), find_annotations(args.hyp)
            result["unpaired"] = {"without_hypothesis": sorted(set(refs) - set(hyps)),
                                  "without_reference": sorted(set(hyps) - set(refs))}
        if args.per_recording:
            result["recordings"] = per_recording(pairs, args.scorers)
        if args.json_out:
            _write_json(result, args.json_out)
    except (AnnotationError, ScoringError, OSError) as error:
        print(f"neurokube score: error: {error}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.partial:
        missing = result["unpaired"]
        print(f"\nscored {result['files']} recordings; left out "
              f"{len(missing['without_hypothesis'])} without a hypothesis and "
              f"{len(missing['without_reference'])} without a reference (--partial)")
    if args.per_recording:
        print("\n" + format_rows(result["recordings"], args.scorers))
    return 0
