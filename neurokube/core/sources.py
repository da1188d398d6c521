"""Which recordings a job reads, and the name each one goes by in outputs and logs.

``--input`` takes one or more of: a glob pattern (``corpus/**/*.edf``,
``gs://bucket/edf/*.edf``), a folder (searched recursively for ``*.edf`` and ``*.bdf``, any
case), a
single recording, or a list file (``.list``/``.txt``/``.lst``, one path or URL per line;
``#`` comments and blank lines skipped). Inputs are expanded once, when the pipeline is
built, and sorted, so every run sees the same recordings in the same order.

Every entry found is a :class:`Source`: where to read it (``url``) and its ``name``, the
path relative to the input root (for a list file, the list's folder when every entry
lies below it, else the deepest folder its entries share) with ``/`` separators, which
names its outputs, its dead letter and its log lines (absolute paths, which can carry
patients' names in clinical folder trees, never appear unless asked for). Names never escape the output
folder (``..`` parts are dropped) and never collide: when two recordings would name their
outputs alike, case-insensitively (``x.edf`` beside ``x.EDF`` or ``x.bdf``, or
``c1/dup.edf`` and ``c2/dup.edf`` from a list without a shared folder), a lower-case
``.edf`` keeps its name and the others, in sorted order, get ``~2``, ``~3``... before the
suffix.

Nothing is silently skipped: a list entry that does not exist, a dangling, looping or
self symlink, a FIFO, socket or device named ``*.edf`` and an unreadable sub-folder are
kept as sources with a ``problem``, which the pipeline turns into a dead letter (stage
``list``) without opening them.

Example::

    inputs = list_recordings(["corpus/edf/", "extra.edf"])
    [(s.name, s.problem) for s in inputs.sources]
"""
import dataclasses
import glob
import os
import posixpath
import stat
from typing import Iterable, Optional, Sequence, Union

from neurokube.core.formats.events_tsv import bids_stem
from neurokube.core.paths import exists, is_local, local_path, match_remote, read_text

LIST_SUFFIXES = (".list", ".txt", ".lst")
# What a folder search collects (compared case-blind): EDF/EDF+ and BDF/BDF+ recordings.
RECORDING_SUFFIXES = (".edf", ".bdf")
_GLOB_CHARS = "*?["


@dataclasses.dataclass(frozen=True)
class Source:
    """One input recording.

    Attributes
    ----------
    url : str
        Where to read it: a local path or a FileSystems URL.
    name : str
        Its path relative to the input root ('/'-separated, collision-free): names its
        outputs, dead letter and log lines.
    problem : str, optional
        Why it cannot be opened, found while listing (it becomes a dead letter).
    """

    url: str
    name: str
    problem: Optional[str] = None

    @property
    def path(self) -> str:
        """The name (what records and logs show)."""
        return self.name


@dataclasses.dataclass(frozen=True)
class InputSet:
    """The recordings of a job."""

    sources: tuple

    @property
    def paths(self) -> tuple[str, ...]:
        """The URLs of the sources, in order."""
        return tuple(s.url for s in self.sources)

    def __len__(self) -> int:
        return len(self.sources)


def _is_list_file(spec: str) -> bool:
    return spec.lower().endswith(LIST_SUFFIXES)


def _glob_root(pattern: str) -> str:
    """The longest folder prefix of a pattern that holds no wildcard."""
    cut = min([pattern.index(c) for c in _GLOB_CHARS if c in pattern] or [len(pattern)])
    return pattern[:cut].rsplit("/", 1)[0] if "/" in pattern[:cut] else ""


def common_root(paths: Iterable[str]) -> str:
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


def safe_name(path: str, root: str) -> str:
    """``path`` relative to ``root``, normalised, with no ``..``, ``.`` or empty parts.

    A path outside ``root`` keeps the parts it has below its last ``..``.
    """
    path = str(path).replace("\\", "/")
    root = str(root).replace("\\", "/").rstrip("/")
    rel = path[len(root) + 1:] if root and path.startswith(root + "/") else path
    if "://" in rel:
        rel = rel.split("://", 1)[1].split("/", 1)[-1]
    parts = [p for p in posixpath.normpath("/" + rel).split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "recording"


def named_later(name: str) -> tuple[bool, bool]:
    """Key of the order names are given in: a lower-case ``.edf`` before its twins
    (``x.EDF``, ``x.bdf``), and a BIDS ``x_eeg`` before a plain ``x``, so a twin added
    later never moves a labelled recording's outputs."""
    stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
    return not name.endswith(".edf"), bids_stem(stem) == stem


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made distinct by ``~2``, ``~3``... before the suffix, so that no two share
    the stem their outputs are named by, case-insensitively (``x.edf``, ``x.EDF`` and
    ``x.bdf`` give ``x.edf``, ``x~2.EDF``, ``x~3.bdf`` in their order). ``x_eeg.edf``
    and ``x.edf`` are twins too: both would write BIDS events as ``x_events.tsv``."""
    taken, out = set(), []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if not dot or "/" in suffix:
            stem, dot, suffix = name, "", ""
        candidate, k = stem, 1
        while bids_stem(candidate).lower() in taken:
            k += 1
            candidate = f"{stem}~{k}"
        taken.add(bids_stem(candidate).lower())
        out.append(f"{candidate}{dot}{suffix}")
    return out


def _local_problem(path: str) -> Optional[str]:
    """Why a local directory entry cannot be read as a recording, or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "dangling symbolic link" if os.path.islink(path) else "no such file"
    except OSError as exc:  # ELOOP: a looping or self link; EACCES...
        return f"cannot open: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None if os.access(path, os.R_OK) else "not readable (permission denied)"
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device",
             stat.S_ISBLK: "a device", stat.S_ISDIR: "a folder"}
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"not a regular file ({kind})"


def _walk_local(folder: str):
    """(path, problem) of every ``*.edf``/``*.bdf`` under a local folder, and of unreadable
    folders.

    Symbolic links to folders are followed once (a link back into the tree is a
    problem, not a loop); ``.edf``/``.bdf`` entries of any type are reported.
    """
    found, seen = [], set()

    def on_error(exc):
        found.append((exc.filename, f"unreadable folder: {exc.strerror or exc}"))

    for top, dirs, files in os.walk(folder, onerror=on_error, followlinks=True):
        try:
            info = os.stat(top)
        except OSError as exc:
            found.append((top, f"unreadable folder: {exc.strerror or exc}"))
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            found.append((top, "symbolic link loop (folder already listed)"))
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        entries = list(files)
        # Entries os.walk files under dirs (links to links, loops) are checked too.
        for name in list(dirs):
            full = os.path.join(top, name)
            if name.lower().endswith(RECORDING_SUFFIXES) and _local_problem(full):
                dirs.remove(name)
                entries.append(name)
        for name in sorted(entries):
            if name.lower().endswith(RECORDING_SUFFIXES):
                full = os.path.join(top, name)
                found.append((full, _local_problem(full)))
    return found


def _list_root(list_spec: str, urls: Sequence[str]) -> str:
    """What a list file's entries (local ones made absolute) are named relative to: the
    list's folder when every entry lies below it, so that adding an entry renames none of
    the others; else the deepest folder the entries share."""
    spec = os.path.abspath(local_path(list_spec)) if is_local(list_spec) else list_spec
    folder = spec.replace("\\", "/").rsplit("/", 1)[0]
    inside = all(u.replace("\\", "/").startswith(folder + "/") for u in urls)
    return folder if inside else common_root(urls)


def _expand(spec: str):
    """(root, [(url, problem)]) of one input spec."""
    if _is_list_file(spec):
        if not exists(spec):
            raise FileNotFoundError(f"list file not found: {spec}")
        urls = [line.strip() for line in read_text(spec).splitlines()
                if line.strip() and not line.strip().startswith("#")]
        if not urls:
            raise FileNotFoundError(f"list file names no recordings: {spec}")
        # Local entries count from the working folder; made absolute, a list names its
        # recordings alike however its path or theirs is written.
        urls = [os.path.abspath(local_path(u)) if is_local(u) else u for u in urls]
        urls = list(dict.fromkeys(urls))  # a path listed twice is one recording
        found = []
        for url in urls:
            problem = _local_problem(local_path(url)) if is_local(url) else (
                None if exists(url) else "no such object")
            found.append((url, problem))
        return _list_root(spec, urls), found
    if any(c in spec for c in _GLOB_CHARS):
        root = _glob_root(spec)
        if is_local(spec):
            matches = sorted(glob.glob(local_path(spec), recursive=True))
            return root, [(m, _local_problem(m)) for m in matches]
        return root, [(m, None) for m in match_remote(spec)]
    if is_local(spec):
        path = local_path(spec).rstrip("/") or "/"
        if os.path.isdir(path):
            return path, _walk_local(path)
        if os.path.lexists(path):
            return os.path.dirname(path), [(path, _local_problem(path))]
        raise FileNotFoundError(f"no recordings match {spec}: no such file or folder")
    folder = spec.rstrip("/")
    matches = {m for suffix in RECORDING_SUFFIXES for p in (f"{folder}/**{suffix}",
                                                            f"{folder}/**{suffix.upper()}")
               for m in match_remote(p)}
    if not matches and exists(spec):
        return folder.rsplit("/", 1)[0], [(spec, None)]
    return folder, [(m, None) for m in sorted(matches)]


def list_recordings(specs: Union[str, Sequence[str]]) -> InputSet:
    """Expand input specs into an :class:`InputSet` (see the module doc).

    Raises
    ------
    FileNotFoundError
        A spec matches nothing, or a list file cannot be read.
    """
    specs = [specs] if isinstance(specs, (str, os.PathLike)) else list(specs)
    if not specs:
        raise FileNotFoundError("no input given")
    entries, seen = [], set()
    for spec in specs:
        root, found = _expand(str(spec))
        if not found:
            raise FileNotFoundError(f"no recordings match {spec}")
        for url, problem in found:
            if url not in seen:
                seen.add(url)
                entries.append((safe_name(url, root), url, problem))
    entries.sort()
    order = sorted(range(len(entries)), key=lambda i: named_later(entries[i][0]))
    names = [""] * len(entries)
    for i, name in zip(order, unique_names([entries[i][0] for i in order])):
        names[i] = name
    return InputSet(sources=tuple(Source(url=url, name=name, problem=problem)
                                  for name, (_, url, problem) in zip(names, entries)))
