"""Time ``neurokube score`` on 1,000 recording pairs (target: under 10 s).

The pairs are the 30 real pairs of NEDC's example (about 23 reference seizures per recording,
much denser than TUSZ) copied under new names until there are ``--pairs`` of them; the time
covers finding, pairing, parsing and scoring with every scorer.

Usage::

    python benchmarks/bench_score.py [--pairs 1000] [--scorers overlap,taes,epoch,dpalign,szcore]
"""
import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

from neurokube.core.scoring import DEFAULT_SCORERS, pair_files, score_pairs

EXAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nedc_example"


def build_corpus(root, n_pairs):
    """Copy the example pairs to ``root/ref`` and ``root/hyp`` under ``n_pairs`` names."""
    pairs = pair_files(EXAMPLE / "ref", EXAMPLE / "hyp")
    for side in ("ref", "hyp"):
        (root / side).mkdir()
    for k, (ref, hyp) in zip(range(n_pairs), itertools.cycle(pairs)):
        shutil.copyfile(ref, root / "ref" / f"rec{k:05d}.csv_bi")
        shutil.copyfile(hyp, root / "hyp" / f"rec{k:05d}.csv_bi")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--scorers", default=",".join(DEFAULT_SCORERS))
    args = parser.parse_args(argv)
    if not EXAMPLE.is_dir():
        sys.exit(f"needs the NEDC example data at {EXAMPLE}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_corpus(root, args.pairs)
        start = time.perf_counter()
        result = score_pairs(pair_files(root / "ref", root / "hyp"),
                             scorers=args.scorers.split(","))
        elapsed = time.perf_counter() - start
    print(f"scored {result['files']} recording pairs ({result['total_duration_s'] / 3600:.1f} h) "
          f"with {args.scorers} in {elapsed:.2f} s ({1000 * elapsed / result['files']:.2f} ms "
          "per pair)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
