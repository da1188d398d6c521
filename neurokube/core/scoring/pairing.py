"""Finding annotation files and pairing references with hypotheses by recording name."""
import os
from pathlib import Path

from neurokube.core.formats import bname_of, detect_format
from neurokube.core.scoring.common import ScoringError

# When one folder holds several files of a recording, the first suffix here is scored:
# term formats first, per-channel last (scoring refuses those, so the choice is visible).
SUFFIX_PREFERENCE = (".csv_bi", ".tse_bi", ".tse", "_events.tsv", ".tsv", ".lbl_bi", ".lbl",
                     ".csv")
_SHOWN = 20


def _rank(path):
    name = Path(path).name
    return next(i for i, suffix in enumerate(SUFFIX_PREFERENCE) if name.endswith(suffix))


def _from_list(list_file):
    base = Path(list_file).parent
    paths = []
    for line in Path(list_file).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(os.path.expandvars(os.path.expanduser(line)))
            paths.append(path if path.is_absolute() else base / path)
    return paths


def find_annotations(source):
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
        bname -> pathlib.Path, sorted by bname.

    Raises
    ------
    ScoringError
        A missing source or listed file, or two files of one recording in the same format.
    """
    if isinstance(source, (str, os.PathLike)):
        source = Path(source)
        if source.is_dir():
            paths = [p for p in sorted(source.rglob("*"))
                     if p.is_file() and detect_format(p) is not None]
        elif source.is_file():
            paths = _from_list(source)
        else:
            raise ScoringError(f"{source}: no such folder or list file")
    else:
        paths = [Path(p) for p in source]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ScoringError(f"{len(missing)} listed annotation file(s) do not exist: "
                           + ", ".join(missing[:_SHOWN]))
    chosen = {}
    for path in paths:
        if detect_format(path) is None:
            raise ScoringError(f"{path}: not an annotation file (unknown suffix)")
        bname = bname_of(path)
        if bname in chosen and _rank(chosen[bname]) == _rank(path):
            raise ScoringError(f"recording {bname!r} appears twice: {chosen[bname]} and {path}")
        if bname not in chosen or _rank(path) < _rank(chosen[bname]):
            chosen[bname] = path
    return dict(sorted(chosen.items()))


def pair_files(ref, hyp):
    """Pair reference and hypothesis annotation files by recording name.

    Parameters
    ----------
    ref, hyp
        Each a folder, a list file or a sequence of paths (see :func:`find_annotations`).

    Returns
    -------
    list of (pathlib.Path, pathlib.Path)
        ``(reference, hypothesis)`` pairs sorted by recording name.

    Raises
    ------
    ScoringError
        If any recording lacks its partner (all unpaired names are listed) or nothing is found.
    """
    refs, hyps = find_annotations(ref), find_annotations(hyp)
    only_ref = sorted(set(refs) - set(hyps))
    only_hyp = sorted(set(hyps) - set(refs))
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
