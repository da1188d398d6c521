"""Which recordings a job reads: file patterns, folders or list files, local or remote.

Inputs are expanded once, when the pipeline is built, through Beam's FileSystems
(local paths, ``gs://`` ...), sorted, so every run sees the same recordings in the same
order. A list file holds one path or URL per line (``#`` comments and blank lines are
skipped); entries that do not exist are kept, so they end as dead letters rather than
vanishing.

Example::

    inputs = list_recordings("corpus/edf/**/*.edf")
    inputs.root, inputs.paths
"""
import dataclasses
import posixpath

from apache_beam.io.filesystems import FileSystems

LIST_SUFFIXES = (".list", ".txt", ".lst")
_GLOB_CHARS = "*?["


@dataclasses.dataclass(frozen=True)
class InputSet:
    """The recordings of a job and the root their output paths are relative to."""

    root: str
    paths: tuple


def _is_list_file(spec):
    return spec.lower().endswith(LIST_SUFFIXES)


def _glob_root(pattern):
    """The longest folder prefix of a pattern that holds no wildcard."""
    cut = min([pattern.index(c) for c in _GLOB_CHARS if c in pattern] or [len(pattern)])
    return pattern[:cut].rsplit("/", 1)[0] if "/" in pattern[:cut] else ""


def common_root(paths):
    """The deepest folder shared by all paths (string-wise, works for URLs too)."""
    folders = [p.rsplit("/", 1)[0] if "/" in p else "" for p in paths]
    if not folders:
        return ""
    parts = [f.split("/") for f in folders]
    shared = []
    for column in zip(*parts):
        if len(set(column)) != 1:
            break
        shared.append(column[0])
    return "/".join(shared)


def relative_path(path, root):
    """``path`` relative to ``root`` (with '/' separators); the base name if outside it."""
    root = root.rstrip("/")
    if root and path.startswith(root + "/"):
        return path[len(root) + 1:]
    return posixpath.basename(path)


def list_recordings(spec, suffix=".edf"):
    """Expand a pattern, a folder or a list file into an :class:`InputSet`.

    Parameters
    ----------
    spec : str
        A glob pattern (``corpus/**/*.edf``, ``gs://bucket/edf/*.edf``), a folder
        (searched recursively for ``*<suffix>``, case-insensitively), or a list file.
    suffix : str
        File suffix used when ``spec`` is a folder.

    Raises
    ------
    FileNotFoundError
        Nothing matches, or the list file cannot be read.
    """
    spec = str(spec)
    if _is_list_file(spec):
        if not FileSystems.exists(spec):
            raise FileNotFoundError(f"list file not found: {spec}")
        with FileSystems.open(spec) as handle:
            text = handle.read().decode("utf-8")
        paths = [line.strip() for line in text.splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        if not paths:
            raise FileNotFoundError(f"list file names no recordings: {spec}")
        paths = list(dict.fromkeys(paths))  # a path listed twice is one recording
        return InputSet(root=common_root(paths), paths=tuple(paths))
    if not any(c in spec for c in _GLOB_CHARS):
        folder = spec.rstrip("/")
        lower = f"{folder}/**{suffix.lower()}"
        upper = f"{folder}/**{suffix.upper()}"
        found = {m.path for p in (lower, upper) for m in _match(p)}
        root = folder
    else:
        found = {m.path for m in _match(spec)}
        root = _glob_root(spec)
    if not found:
        raise FileNotFoundError(f"no recordings match {spec}")
    return InputSet(root=root, paths=tuple(sorted(found)))


def _match(pattern):
    return FileSystems.match([pattern])[0].metadata_list
