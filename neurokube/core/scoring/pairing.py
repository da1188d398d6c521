"""Finding annotation files and pairing references with hypotheses by recording name.

Folders and list files may be local or ``gs://`` (read through :mod:`neurokube.core.paths`).
"""
import os
import posixpath
from pathlib import Path
from typing import Iterable, Union

from neurokube.core.formats import bname_of, detect_format
from neurokube.core.formats.events_tsv import bids_stem
from neurokube.core.paths import exists, is_local, local_path, match_remote, read_text
from neurokube.core.scoring.common import ScoringError

# When one folder holds several files of a recording, the first suffix here is scored:
# term formats first, per-channel last (scoring refuses those, so the choice is visible).
SUFFIX_PREFERENCE = (".csv_bi", ".tse_bi", ".tse", "_events.tsv", ".tsv", ".lbl_bi", ".lbl",
                     ".csv")
_SHOWN = 20
# A folder, a list file, or the annotation paths themselves.
_Source = Union[str, os.PathLike[str], Iterable[Union[str, os.PathLike[str]]]]


def _rank(path):
    name = Path(path).name
    return next(i for i, suffix in enumerate(SUFFIX_PREFERENCE) if name.endswith(suffix))


def _from_list(list_file):
    base = posixpath.dirname(str(list_file)) if not is_local(list_file) else \
        str(Path(local_path(list_file)).parent)
    paths = []
    for line in read_text(list_file).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            line = os.path.expandvars(os.path.expanduser(line))
            absolute = "://" in line or os.path.isabs(line)
            paths.append(line if absolute else posixpath.join(base, line))
    return paths


def _remote_folder(url):
    return [m for m in match_remote(url.rstrip("/") + "/**") if detect_format(m) is not None]


def find_annotations(source: _Source) -> dict[str, Path | str]:
    """Map recording name -> annotation file for a folder, a list file or a list of paths.

    Parameters
    ----------
    source : str, os.PathLike or sequence of them
        A folder (searched recursively for every readable annotation suffix), a text file
        listing one annotation path per line (relative to the list's folder; ``#`` comments
        and ``$VARS`` allowed), or the paths themselves.

    Returns
    -------
    dict
        bname -> pathlib.Path (or URL string), sorted by bname.

    Raises
    ------
    ScoringError
        A missing source or listed file, or two files of one recording in the same format.
    """
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if not is_local(text):
            paths = _from_list(text) if detect_format(text) is None and exists(text) \
                else _remote_folder(text)
        elif Path(local_path(text)).is_dir():
            paths = [str(p) for p in sorted(Path(local_path(text)).rglob("*"))
                     if p.is_file() and detect_format(p) is not None]
        elif Path(local_path(text)).is_file():
            paths = _from_list(text)
        else:
            raise ScoringError(f"{source}: no such folder or list file")
    else:
        paths = [str(p) for p in source]
    missing = [str(p) for p in paths if not exists(p)]
    if missing:
        raise ScoringError(f"{len(missing)} listed annotation file(s) do not exist: "
                           + ", ".join(missing[:_SHOWN]))
    paths = [Path(local_path(p)) if is_local(p) else p for p in paths]
    chosen = {}
    for path in paths:
        if detect_format(path) is None:
            raise ScoringError(f"{path}: not an annotation file (unknown suffix)")
        bname = bids_stem(bname_of(path))  # x_eeg.csv_bi and x_events.tsv: one recording
        if bname in chosen and _rank(chosen[bname]) == _rank(path):
            raise ScoringError(f"recording {bname!r} appears twice: {chosen[bname]} and {path}")
        if bname not in chosen or _rank(path) < _rank(chosen[bname]):
            chosen[bname] = path
    return dict(sorted(chosen.items()))


def pair_files(ref: _Source, hyp: _Source,
               partial: bool = False) -> list[tuple[Path | str, Path | str]]:
    """Pair reference and hypothesis annotation files by recording name.

    Parameters
    ----------
    ref, hyp
        Each a folder, a list file or a sequence of paths (see :func:`find_annotations`).
    partial : bool
        Score what is present: recordings without a partner are left out instead of
        refused.

    Returns
    -------
    list of (path, path)
        ``(reference, hypothesis)`` pairs sorted by recording name (``pathlib.Path`` for
        local files, URL strings for remote ones).

    Raises
    ------
    ScoringError
        If any recording lacks its partner (all unpaired names are listed, unless
        ``partial``) or nothing is found.
    """
    refs, hyps = find_annotations(ref), find_annotations(hyp)
    only_ref = sorted(set(refs) - set(hyps))
    only_hyp = sorted(set(hyps) - set(refs))
    if partial:
        names = sorted(set(refs) & set(hyps))
        if not names:
            raise ScoringError(f"no recording of {ref} has a hypothesis in {hyp}")
        return [(refs[name], hyps[name]) for name in names]
    if only_ref or only_hyp:
        lines = []
        for side, names in (("reference", only_ref), ("hypothesis", only_hyp)):
            if names:
                shown = ", ".join(names[:_SHOWN]) + (" ..." if len(names) > _SHOWN else "")
                lines.append(f"{len(names)} {side} recording(s) without a partner: {shown}")
        raise ScoringError("unpaired recordings: " + "; ".join(lines))
    if not refs:
        raise ScoringError(f"no annotation files found in {ref} and {hyp}")
    return [(refs[name], hyps[name]) for name in refs]
