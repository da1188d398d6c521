"""The ``neurokube`` command line: one subcommand per job.

Each subcommand lives in its own module, which exposes ``add_parser(subparsers)``
returning the parser it added (with ``set_defaults(run=...)``). For the Beam jobs,
arguments the subcommand does not know are Beam pipeline options (checked: a flag that
is neither the subcommand's nor Beam's is a usage error). Every usage error is one line
on stderr and exit status 2; a run that leaves dead letters exits 3 unless
``--allow_dead_letters``.

Example::

    neurokube featurize --input 'corpus/**/*.edf' --output features/
"""
import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn, Sequence

from neurokube import __version__
from neurokube.pipelines.exits import (
    EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError)
from neurokube.pipelines.wind_down import bounded_wind_down

WIND_DOWN_S = 10.0  # after Ctrl-C, s a job's workers get to exit before they are terminated

# Subcommand name -> module under neurokube.pipelines that implements it.
SUBCOMMANDS = {
    "demo-corpus": "neurokube.pipelines.demo_corpus",
    "mix-corpus": "neurokube.pipelines.mix_corpus",
    "featurize": "neurokube.pipelines.featurize_job",
    "label": "neurokube.pipelines.label_job",
    "stream": "neurokube.pipelines.stream_job",
    "train": "neurokube.pipelines.train_job",
    "score": "neurokube.pipelines.score_command",
    "evaluate": "neurokube.pipelines.evaluate_job",
    "review": "neurokube.pipelines.review_command",
}

# Subcommands whose runs take Beam pipeline options after their own arguments.
_BEAM_SUBCOMMANDS = {"featurize", "label", "stream", "train", "evaluate"}


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (``neurokube <command>: error: ...``), and
    no abbreviated flags: Beam's ``--runner`` must reach Beam, not read as
    ``--runner_config``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> Parser:
    parser = Parser(
        prog="neurokube",
        description="Seizure labelling of clinical EEG at corpus scale on Apache Beam.")
    parser.add_argument("--version", action="version", version=f"neurokube {__version__}")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        importlib.import_module(module).add_parser(subparsers)
    return parser


def _log_level_first(argv):
    """``--log-level LEVEL`` may follow the subcommand too: moved before it."""
    for k, token in enumerate(argv):
        if token == "--log-level" and k + 1 < len(argv):
            return [token, argv[k + 1]] + argv[:k] + argv[k + 2:]
        if token.startswith("--log-level="):
            return [token] + argv[:k] + argv[k + 1:]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _log_level_first(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in argv if a in SUBCOMMANDS), None)
    try:
        with bounded_wind_down(WIND_DOWN_S):
            parser = build_parser()  # imports Beam: a Ctrl-C meanwhile is caught below
            args, extra = parser.parse_known_args(argv)
            args.command_line = list(argv)  # as given, for records such as a model card
            if extra and args.command not in _BEAM_SUBCOMMANDS:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            logging.basicConfig(level=getattr(logging, args.log_level),
                                format="%(levelname)s %(name)s: %(message)s")
            if args.log_level != "DEBUG":  # "Really destroying service" at exit (Flink)
                logging.getLogger("apache_beam.utils.subprocess_server").setLevel(
                    logging.ERROR)
            return args.run(args, extra) or 0
    except UsageError as exc:
        print(f"neurokube{' ' + command if command else ''}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"neurokube{' ' + command if command else ''}: stopped by the user",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (``neurokube score ... | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
