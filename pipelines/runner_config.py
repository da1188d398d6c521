"""Runner configurations: named sets of Beam runner flags kept in ``runner_configs/``.

A runner configuration is a small YAML file that holds *runner* settings only
(``--runner``, worker sizing, environment, Flink master, Dataflow accelerator, ...);
application flags (``--input``, ``--output``, model paths) never go there. Every
subcommand that runs a pipeline accepts ``--runner_config NAME_OR_PATH``; the flags
given explicitly on the command line override the configuration's.

File format::

    description: One line saying what this configuration is for.
    options:                       # Beam pipeline options, without the leading --
      runner: DirectRunner
      direct_running_mode: multi_processing
      direct_num_workers: 0
      experiments: [use_runner_v2] # a list repeats the flag
      save_main_session: true      # true on a switch gives the bare switch

String values expand ``~``, ``$VAR``, ``${VAR}`` and ``${VAR:-default}``.

Example::

    parser = argparse.ArgumentParser()
    add_runner_config_argument(parser)
    args, beam_argv = parser.parse_known_args(
        ["--runner_config", "direct", "--direct_num_workers=2"])
    resolve_beam_args(args.runner_config, beam_argv)
    # ['--runner=DirectRunner', '--direct_running_mode=multi_processing',
    #  '--direct_num_workers=2']
"""
import argparse
import functools
import importlib.resources
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

__all__ = [
    "unknown_beam_flags",
    "RUNNER_CONFIG_DIR_ENV",
    "RunnerConfigError",
    "add_runner_config_argument",
    "available_runner_configs",
    "config_to_argv",
    "find_runner_config",
    "load_runner_config",
    "resolve_beam_args",
    "runner_config_dirs",
]

# Environment variable naming a folder of runner configurations searched before the
# repository's ``runner_configs/`` (set it in images where the package is not editable).
RUNNER_CONFIG_DIR_ENV = "NEUROKUBE_RUNNER_CONFIG_DIR"

# The configurations shipped with the package (``runner_configs/`` of the repository).
_PACKAGE_CONFIG_DIR = Path(str(importlib.resources.files("neurokube.runner_configs")))
_SUFFIXES = (".yaml", ".yml")
_TOP_LEVEL_KEYS = {"description", "options"}
_VAR_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
                     r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class RunnerConfigError(ValueError):
    """A runner configuration cannot be found, read or turned into Beam flags."""


def runner_config_dirs() -> list[Path]:
    """Folders searched for a configuration given by name, in order.

    ``$NEUROKUBE_RUNNER_CONFIG_DIR`` (if set), then the configurations installed with
    the package, then ``./runner_configs`` in the working directory.
    """
    dirs = []
    env_dir = os.environ.get(RUNNER_CONFIG_DIR_ENV)
    if env_dir:
        dirs.append(Path(env_dir).expanduser())
    dirs.append(_PACKAGE_CONFIG_DIR)
    dirs.append(Path.cwd() / "runner_configs")
    unique = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_runner_configs() -> list[str]:
    """Names of the configurations found in :func:`runner_config_dirs`, sorted."""
    names = set()
    for d in runner_config_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.iterdir()
                         if p.is_file() and p.suffix in _SUFFIXES)
    return sorted(names)


def find_runner_config(name_or_path: str) -> Path:
    """Return the YAML file for a configuration name (``direct``) or a path.

    Raises
    ------
    RunnerConfigError
        If nothing matches; the message lists the available names.
    """
    if not name_or_path or not str(name_or_path).strip():
        raise RunnerConfigError("empty runner configuration name")
    candidate = Path(name_or_path).expanduser()
    looks_like_path = (os.sep in str(name_or_path) or candidate.suffix in _SUFFIXES)
    if candidate.is_file():
        return candidate
    if looks_like_path:
        raise RunnerConfigError(
            f"runner configuration file {str(name_or_path)!r} does not exist; "
            f"available names: {', '.join(available_runner_configs()) or '(none)'}")
    for d in runner_config_dirs():
        for suffix in _SUFFIXES:
            path = d / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    raise RunnerConfigError(
        f"unknown runner configuration {name_or_path!r}; available: "
        f"{', '.join(available_runner_configs()) or '(none)'} "
        f"(searched {', '.join(str(d) for d in runner_config_dirs())}); "
        "or give a path to a YAML file")


def check_runner(name: str, where: str) -> None:
    """Refuse a runner Beam does not know (a misspelled ``DirectRuner``) before any job."""
    from apache_beam.runners.runner import create_runner
    try:
        create_runner(name)
    except (ValueError, ImportError, AttributeError) as exc:  # a.b.NoSuchRunner
        raise RunnerConfigError(f"{where}: runner {name!r}: {exc}") from None


def load_runner_config(name_or_path: str) -> dict[str, Any]:
    """Read and validate a configuration; return its ``options`` mapping.

    Every key must be a Beam pipeline option (application flags are rejected).
    """
    path = find_runner_config(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RunnerConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise RunnerConfigError(f"{path}: expected a mapping with an 'options' key")
    unknown_top = set(data) - _TOP_LEVEL_KEYS
    if unknown_top:
        raise RunnerConfigError(
            f"{path}: unknown top-level keys {sorted(unknown_top)}; "
            f"allowed: {sorted(_TOP_LEVEL_KEYS)}")
    options = data.get("options") or {}
    if not isinstance(options, Mapping):
        raise RunnerConfigError(f"{path}: 'options' must be a mapping of Beam options")
    if "runner" not in options:
        raise RunnerConfigError(f"{path}: 'options' must set 'runner'")
    check_runner(str(options["runner"]), str(path))
    actions = _beam_option_actions()
    not_beam = sorted(k for k in options if _dest_of(str(k), actions) is None)
    if not_beam:
        raise RunnerConfigError(
            f"{path}: {', '.join(not_beam)} are not Beam runner options; runner "
            "configurations hold runner settings only (pass application flags on the "
            "command line)")
    return dict(options)


def config_to_argv(options: Mapping[str, Any]) -> list[str]:
    """Turn an ``options`` mapping into Beam argv (``--key=value`` tokens)."""
    actions = _beam_option_actions()
    argv = []
    for key, value in options.items():
        key = str(key)
        flag = "--" + key
        action = actions.get(flag)
        is_switch = action is not None and action.nargs == 0
        if value is None:
            continue
        if isinstance(value, bool):
            if is_switch:
                # A switch: the flag (or its paired flag, e.g. --no_use_public_ips) that
                # sets this value; none means "leave Beam's default".
                stored = bool(action.const) if value else not bool(action.const)
                argv.extend(_switch_for(action, stored, actions)[:1])
                continue
            argv.append(f"{flag}={value}")
        elif isinstance(value, Mapping):
            argv.extend(f"{flag}={k}={_expand(str(v))}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            argv.extend(f"{flag}={_expand(str(v))}" for v in value)
        else:
            if is_switch:
                raise RunnerConfigError(f"{key} is a switch: give it true or false")
            argv.append(f"{flag}={_expand(str(value))}")
    return argv


def resolve_beam_args(runner_config: Optional[str],
                      explicit_args: Optional[Sequence[str]] = None) -> list[str]:
    """Beam argv from a runner configuration, overridden by explicit flags.

    Parameters
    ----------
    runner_config : str or None
        Configuration name (``direct``) or path to a YAML file; ``None`` returns the
        explicit flags unchanged. A ``--runner_config`` left in ``explicit_args`` is
        taken out and used when this is ``None``.
    explicit_args : sequence of str
        Beam flags from the command line, as ``--flag=value``, ``--flag value`` or a
        bare ``--switch``. Any config option that they name (also through another
        spelling with the same destination, e.g. ``--no_use_public_ips``) is
        dropped from the configuration, including every value of a repeated option.

    Returns
    -------
    list of str
        The configuration's flags that were not overridden, then the explicit ones.
    """
    explicit = list(explicit_args or [])
    explicit, from_args = _pop_runner_config(explicit)
    for k, token in enumerate(explicit):
        if token == "--runner" and k + 1 < len(explicit):
            check_runner(explicit[k + 1], "--runner")
        elif token.startswith("--runner="):
            check_runner(token.split("=", 1)[1], "--runner")
    runner_config = runner_config or from_args
    if not runner_config:
        return explicit
    actions = _beam_option_actions()
    overridden = {_dest_of(name, actions) or name for name in _flag_names(explicit)}
    config_argv = config_to_argv(load_runner_config(runner_config))
    kept = [tok for tok in config_argv
            if (_dest_of(tok[2:].split("=", 1)[0], actions)
                or tok[2:].split("=", 1)[0]) not in overridden]
    return kept + explicit


def add_runner_config_argument(parser: argparse.ArgumentParser,
                               default: Optional[str] = None) -> argparse.ArgumentParser:
    """Add ``--runner_config NAME_OR_PATH`` to ``parser`` and return the parser."""
    names = available_runner_configs()
    parser.add_argument(
        "--runner_config", "--runner-config", dest="runner_config", default=default,
        metavar="NAME_OR_PATH",
        help=("runner settings from runner_configs/NAME.yaml or a YAML path "
              f"(available: {', '.join(names) or 'none'}); explicit Beam flags override "
              "them"))
    return parser


# --- helpers ---------------------------------------------------------------------

class _OptionRecorder(argparse.ArgumentParser):
    """A plain argparse parser that keeps every action Beam's option classes declare
    through their ``_add_argparse_args`` hook (value-provider options as plain ones)."""

    def __init__(self):
        super().__init__(allow_abbrev=False, add_help=False)
        self.recorded = []

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.recorded.append(action)
        return action

    def add_value_provider_argument(self, *args, **kwargs):
        return self.add_argument(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def _beam_option_actions() -> dict[str, argparse.Action]:
    """Option string -> argparse action, for Beam's own PipelineOptions classes (read
    through ``_add_argparse_args``, the hook Beam documents for declaring options)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parser = _OptionRecorder()
    seen = set()
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls in seen or not cls.__module__.startswith("apache_beam."):
            continue
        seen.add(cls)
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # the same option declared twice (e.g. a test subclass)
    return {s: a for a in parser.recorded for s in a.option_strings}


def _dest_of(name: str, actions: Mapping[str, argparse.Action]) -> Optional[str]:
    action = actions.get("--" + name.lstrip("-"))
    return action.dest if action is not None else None


def _switch_for(action: argparse.Action, value: bool,
                actions: Mapping[str, argparse.Action]) -> list[str]:
    """Option strings of the switches that store ``value`` into ``action.dest``."""
    return sorted({s for s, a in actions.items()
                   if a.dest == action.dest and a.nargs == 0
                   and getattr(a, "const", None) is value})


def _flag_names(argv: Iterable[str]) -> list[str]:
    """Names of the ``--flags`` in argv (``--a=1``, ``--a 1`` and ``--a`` alike)."""
    names = []
    for tok in argv:
        if tok.startswith("--") and len(tok) > 2:
            names.append(tok[2:].split("=", 1)[0])
    return names


def _pop_runner_config(argv: list[str]) -> tuple[list[str], Optional[str]]:
    out, value, i = [], None, 0
    while i < len(argv):
        tok = argv[i]
        name = tok.split("=", 1)[0]
        if name in ("--runner_config", "--runner-config"):
            if "=" in tok:
                value = tok.split("=", 1)[1]
            elif i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            else:
                raise RunnerConfigError("--runner_config needs a NAME_OR_PATH")
        else:
            out.append(tok)
        i += 1
    return out, value


def _expand(value: str) -> str:
    def repl(m: re.Match) -> str:
        if m.group("plain"):
            return os.environ.get(m.group("plain"), m.group(0))
        var, default = m.group("braced"), m.group("default")
        if os.environ.get(var):
            return os.environ[var]
        if default is not None:
            return _expand(default)
        return m.group(0)

    value = _VAR_RE.sub(repl, value)
    return os.path.expanduser(value) if value.startswith("~") else value


def unknown_beam_flags(argv: Sequence[str]) -> list[str]:
    """The ``--flags`` of ``argv`` that are not Beam pipeline options (typos included)."""
    import logging

    from apache_beam.options.pipeline_options import PipelineOptions
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)  # Beam warns "Discarding unparseable args"
    try:
        options = PipelineOptions(list(argv))
        known = options.get_all_options(retain_unknown_options=False)
        every = options.get_all_options(retain_unknown_options=True)
    finally:
        beam_logger.setLevel(level)
    unknown = set(every) - set(known)
    return [tok for tok in argv if tok.startswith("--")
            and tok[2:].split("=", 1)[0].replace("-", "_") in unknown]
