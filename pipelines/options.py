"""Command-line flags of the jobs, checked before any worker starts.

Each Beam job (featurize, label, stream, train, evaluate) declares its flags once, in a
:class:`JobOptions` subclass: the command line builds the job's subcommand from it and the
job reads its values as ``LabelOptions.from_command(args).output``. The job's values are not
pipeline options: its pipeline runs with Beam's flags only (:func:`pipeline_options`), since
input paths can name patients or wards and a runner shows its options in job
descriptions and worker logs; the workers get what they need as the transforms'
arguments.

Every bad argument ends as one clear line and exit status 2 (:class:`UsageError`), never
a traceback: unknown formats, non-positive or non-finite sizes, a model bundle that is
missing, altered or incomplete, an input that matches nothing, a flag that is neither
NeuroKube's nor Beam's. Runner settings (``--runner``, ``--direct_num_workers``...) come
from ``runner_configs/`` and explicit Beam flags.

Example::

    parser = LabelOptions.add_to_command(subparsers.add_parser("label"))
    args, extra = parser.parse_known_args(argv)
    job = LabelOptions.from_command(args)
    beam.Pipeline(options=pipeline_options(beam_argv(args, extra)))
"""
import argparse
import contextlib
import io
import math
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.core.paths import is_local
from neurokube.core.sources import list_recordings
from neurokube.pipelines import runner_config
from neurokube.pipelines.exits import (  # noqa: F401 (re-exported)
    EXIT_DEAD_LETTERS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError)

if TYPE_CHECKING:
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.sources import InputSet
    from neurokube.models.bundle import ModelBundle

# One thread each for BLAS/OpenMP and TensorFlow's thread pools.
MATH_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


JobOptionsT = TypeVar("JobOptionsT", bound="JobOptions")


class JobOptions(PipelineOptions):
    """Base of the jobs' option classes: each subclass declares one job's flags.

    A subclass implements :meth:`declare`; each subclass gets Beam's hook
    ``_add_argparse_args`` in its own namespace (where Beam looks for it), declaring the
    same flags with none required. The flags are required only on the command line
    (:meth:`add_to_command`): Beam parses options again in every process, and a worker is
    never given ``--input``.
    The job classes derive from this class, which declares nothing, rather than from
    ``PipelineOptions`` directly: Beam parses the flags of all *direct* subclasses of
    ``PipelineOptions`` in one parser, where ``--input``, ``--output`` and ``--model``,
    declared by several jobs, would collide (``tests/test_job_options.py`` checks it).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._add_argparse_args = classmethod(
            lambda job, parser: job.declare(parser, required=False))

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        """Add this job's flags to ``parser``; ``required`` marks the mandatory ones."""
        raise NotImplementedError(cls.__name__)

    @classmethod
    def add_to_command(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """The job's subcommand parser: its flags, the mandatory ones required."""
        cls.declare(parser, required=True)
        return parser

    @classmethod
    def flag_defaults(cls) -> dict[str, Any]:
        """Destination -> default of every flag the job declares."""
        parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        cls.declare(parser, required=False)
        return vars(parser.parse_args([]))

    @classmethod
    def from_command(cls: type[JobOptionsT], args: argparse.Namespace) -> JobOptionsT:
        """The job's values, parsed from its command line (``args``, already checked by
        the flags' types), as this class's view. Not for ``beam.Pipeline``: see the
        module docstring."""
        values = {name: getattr(args, name) for name in cls.flag_defaults()}
        return PipelineOptions([], **values).view_as(cls)


def add_io_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--input", dest="input", nargs="+", required=required, metavar="INPUT",
                        help="recordings: glob patterns, folders (searched recursively for "
                             "*.edf and *.bdf), single EDF/BDF files or list files "
                             "(.list/.txt, one path or URL per line); local paths or gs:// "
                             "URLs; several allowed")
    parser.add_argument("--output", dest="output", required=required,
                        help="output folder (local path or gs:// URL)")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="model bundle folder, local or gs:// (default: the shipped "
                             "reference model)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every Beam job shares: output safety, exit status, runner configuration."""
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an output folder that holds files NeuroKube did "
                             "not write")
    parser.add_argument("--allow_dead_letters", action="store_true",
                        help=f"exit 0 even when recordings became dead letters (otherwise "
                             f"{EXIT_DEAD_LETTERS})")
    runner_config.add_runner_config_argument(parser, default="direct")


def format_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated list of formats from ``choices``."""
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in str(text).split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown format(s) {', '.join(unknown) or '(none given)'}; choose from "
                f"{','.join(choices)}")
        return list(dict.fromkeys(names))
    return parse


def seconds(minimum: float = 0.0) -> Callable[[str], float]:
    """argparse type: a finite number of seconds, at least ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= "
                                             f"{minimum:g}, got {text!r}")
        return value
    return parse


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def load_bundle(model: str | None) -> tuple[str, "ModelBundle"]:
    """(location, bundle read without Keras) of ``--model`` or the reference model, verified.

    ``--model`` is a local folder or a FileSystems URL (``gs://bucket/models/mine``). The
    location is what workers load (:func:`~neurokube.models.bundle.bundle_location`: a
    shipped bundle by name, so each worker finds its own installation's copy). The files,
    their digests and ``VERSION`` are checked here, in the launcher; the workers verify
    the weights' content hash, and that they load this version, when they load the models.
    """
    from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle, bundle_location
    folder = model or str(REFERENCE_BUNDLE)
    try:
        return bundle_location(folder), ModelBundle.load(folder, with_models=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--model {folder}: {str(exc).removeprefix(folder + ': ')}") from None


def check_workers_reach_model(location: str, argv: Sequence[str]) -> None:
    """Refuse, before any work, a bundle in a local folder for Dataflow, whose workers
    cannot read the launcher's disk (a shipped bundle is found in each worker's own
    installation; a ``gs://`` bundle is read by every worker)."""
    from apache_beam.options.pipeline_options import StandardOptions
    from neurokube.models.bundle import PACKAGE_PREFIX
    runner = PipelineOptions(list(argv)).view_as(StandardOptions).runner or ""
    if ("dataflow" in str(runner).lower() and is_local(location)
            and not location.startswith(PACKAGE_PREFIX)):
        raise UsageError(f"--model {location}: a local folder is out of reach of Dataflow's "
                         "workers; copy the bundle to Cloud Storage (e.g. gcloud storage "
                         "cp -r FOLDER gs://BUCKET/models/) and pass --model gs://BUCKET/"
                         "models/FOLDER")


def list_inputs(specs: str | Sequence[str]) -> "InputSet":
    """The :class:`~neurokube.core.sources.InputSet` of ``--input``, or a usage error."""
    try:
        return list_recordings(specs)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--input: {exc}") from None


def beam_argv(args: argparse.Namespace, extra: Sequence[str] | None) -> list[str]:
    """Beam flags: the runner configuration, overridden by explicit ``extra`` flags.

    Raises
    ------
    UsageError
        An unknown runner configuration, or a flag that is neither NeuroKube's nor Beam's.
    """
    stray = _stray_values(extra or [])
    if stray:
        raise UsageError(f"unexpected value(s) {' '.join(stray)} (each flag of this command "
                         f"takes the values its --help shows)")
    try:
        argv = runner_config.resolve_beam_args(args.runner_config, extra)
        with _beam_parse_errors_as_usage_errors():
            unknown = runner_config.unknown_beam_flags(argv)
    except runner_config.RunnerConfigError as exc:
        raise UsageError(str(exc)) from None
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)} (neither a flag of "
                         f"this command nor a Beam pipeline option)")
    pin_math_threads_for_local_workers(argv)
    return argv


@contextlib.contextmanager
def _beam_parse_errors_as_usage_errors():
    """A Beam flag with a bad value (``--dry_run`` without one, ``--direct_num_workers=x``)
    makes Beam's parser print its whole usage and exit: one line instead."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            yield
    except SystemExit:
        errors = [line.split("error: ", 1)[1] for line in printed.getvalue().splitlines()
                  if "error: " in line]
        raise UsageError(f"Beam flag: {errors[-1] if errors else 'not understood'}") from None


def _stray_values(extra):
    """Tokens left over by the command's parser that are neither a ``--flag`` nor the value
    right after a ``--flag`` without ``=`` (e.g. ``B`` in ``--model A B``)."""
    return [token for k, token in enumerate(extra)
            if not token.startswith("-")
            and not (k and extra[k - 1].startswith("--") and "=" not in extra[k - 1])]


def is_dry_run(argv: Sequence[str]) -> bool:
    """Whether Beam is asked to build the job without running it (``--dry_run=True``)."""
    from apache_beam.options.pipeline_options import TestOptions
    return bool(PipelineOptions(list(argv)).view_as(TestOptions).dry_run)


def pipeline_options(argv: Sequence[str]) -> PipelineOptions:
    """The options a job's pipeline runs with: Beam's flags (:func:`beam_argv`) only."""
    return PipelineOptions(list(argv))


def pin_math_threads_for_local_workers(argv: Sequence[str]) -> None:
    """On the DirectRunner in multi-processing mode there is one worker per core: one math
    thread per worker avoids oversubscribing the cores (set before the workers start; an
    explicit environment variable wins)."""
    if any(a in ("--direct_running_mode=multi_processing", "multi_processing") for a in argv) \
            and not any(a.startswith("--runner=") and "Direct" not in a for a in argv):
        for var in MATH_THREAD_VARS:
            os.environ.setdefault(var, "1")


def exit_status(summary: dict[str, Any], options: Any) -> int:
    """0, or :data:`EXIT_DEAD_LETTERS` when recordings failed (unless the job's options
    say ``allow_dead_letters``)."""
    if summary.get("dead_letters", 0) and not getattr(options, "allow_dead_letters", False):
        return EXIT_DEAD_LETTERS
    return EXIT_OK


def load_feature_spec(path: str | None) -> "FeatureSpec":
    """The reference :class:`FeatureSpec`, or the one stored as JSON at ``path``: today's
    defaults for every field the file does not set (not the values ``from_dict`` assumes
    for fields missing from an old bundle)."""
    import json

    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.paths import read_text
    if not path:
        return FeatureSpec()
    try:
        fields = json.loads(read_text(path))
        if not isinstance(fields, dict):
            raise ValueError("expected a JSON object of field names and values")
        return FeatureSpec.from_dict({**FeatureSpec().to_dict(), **fields})
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"--feature_spec {path}: {exc}") from None
