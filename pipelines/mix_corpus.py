"""``neurokube mix-corpus``: a training corpus of Bonn ictal EEG placed into real backgrounds.

See :mod:`neurokube.core.mixing` for what each recording holds.

Example::

    neurokube mix-corpus --backgrounds train_backgrounds.list --bonn ../shared/data/bonn \
        --segments 1-60 --output work/mixed_train --seed 11
"""
import argparse
import json

from neurokube.core.mixing import MixConfig, mix_corpus
from neurokube.core.paths import atomic_write_text, join
from neurokube.pipelines import options as opts


def parse_ranges(text: str) -> list[int]:
    """``'1-60,70'`` -> [1, ..., 60, 70]."""
    numbers = []
    for part in str(text).split(","):
        lo, _, hi = part.strip().partition("-")
        numbers += list(range(int(lo), int(hi or lo) + 1))
    return numbers


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mix-corpus", help="write a training corpus: Bonn ictal EEG placed into real "
                           "multichannel backgrounds, with augmentations")
    parser.add_argument("--backgrounds", nargs="+", required=True,
                        help="background recordings (folders, patterns, files or lists)")
    parser.add_argument("--bonn", required=True, help="Bonn EEG folder (with S/)")
    parser.add_argument("--segments", default="1-60", help="Bonn S segment numbers")
    parser.add_argument("--output", required=True, help="folder to write the corpus to")
    parser.add_argument("--seizure-variants", type=int, default=6)
    parser.add_argument("--clean-variants", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, _: list[str]) -> int:
    inputs = opts.list_inputs(args.backgrounds)
    usable = [s.url for s in inputs.sources if not s.problem]
    cfg = MixConfig()
    paths = mix_corpus(usable, args.bonn, parse_ranges(args.segments), args.output, cfg,
                       args.seizure_variants, args.clean_variants, args.seed)
    atomic_write_text(join(args.output, "mix_config.json"), json.dumps({
        "backgrounds": sorted(s.name for s in inputs.sources if not s.problem),
        "bonn_segments": args.segments, "seed": args.seed,
        "seizure_variants": args.seizure_variants, "clean_variants": args.clean_variants,
        "config": cfg.to_dict()}, indent=1) + "\n")
    print(f"wrote {len(paths)} recordings under {args.output}")
    return 0
