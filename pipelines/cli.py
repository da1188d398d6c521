"""The ``neurokube`` command line: one subcommand per job.

Each subcommand lives in its own module, which exposes ``add_parser(subparsers)``
returning the parser it added (with ``set_defaults(run=...)``). Arguments the
subcommand does not know are handed to Beam as pipeline options, so
``neurokube featurize --input ... --output ... --runner DirectRunner`` works.

Example::

    neurokube featurize --input 'corpus/**/*.edf' --output features/
"""
import argparse
import importlib
import logging
import sys

# Subcommand name -> module under neurokube.pipelines that implements it.
SUBCOMMANDS = {
    "demo-corpus": "neurokube.pipelines.demo_corpus",
    "featurize": "neurokube.pipelines.featurize_cli",
    "label": "neurokube.pipelines.label_cli",
    "train": "neurokube.pipelines.train_cli",
    "score": "neurokube.pipelines.score_cli",
}

# Subcommands whose runs take Beam pipeline options after their own arguments.
_BEAM_SUBCOMMANDS = {"featurize", "label", "train"}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="neurokube",
        description="Seizure labelling of clinical EEG at corpus scale on Apache Beam.")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in _BEAM_SUBCOMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    return args.run(args, extra) or 0


if __name__ == "__main__":
    sys.exit(main())
