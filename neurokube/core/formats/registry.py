"""The one table of annotation formats: suffixes, readers and writers.

A new format is one module and one line here. Reading and writing go through
:mod:`neurokube.core.paths`, so local paths and ``gs://`` both work.

Example::

    ann = read_annotation("gs://bucket/ref/aaaaaasf_s001_t000.csv_bi")
    write_annotation(ann, "out/aaaaaasf_s001_t000.tse", "tse")
"""
import os
from pathlib import PurePosixPath
from typing import Callable, Dict, Optional

from neurokube.core.formats import csv_bi, events_tsv, hyp, lbl, tse
from neurokube.core.formats.model import Annotation, AnnotationError
from neurokube.core.paths import atomic_write_text, read_text

# Reader suffix (longest first) -> format name.
SUFFIXES = {
    "_events.tsv": "events_tsv",
    ".csv_bi": "csv_bi",
    ".tse_bi": "tse",
    ".lbl_bi": "lbl",
    ".csv": "csv",
    ".tse": "tse",
    ".lbl": "lbl",
    ".tsv": "events_tsv",
}
READERS: Dict[str, Callable[[str, str], Annotation]] = {
    "csv_bi": csv_bi.parse_csv,
    "csv": csv_bi.parse_csv,
    "tse": tse.parse_tse,
    "lbl": lbl.parse_lbl,
    "events_tsv": events_tsv.parse_events_tsv,
}
# Writer format -> (text formatter, file suffix).
WRITERS: Dict[str, Callable[[Annotation], str]] = {
    "csv_bi": csv_bi.format_csv_bi,
    "csv": csv_bi.format_csv,
    "tse": tse.format_tse,
    "hyp": hyp.format_hyp,
    "events_tsv": events_tsv.format_events_tsv,
}
WRITER_SUFFIXES = {"csv_bi": ".csv_bi", "csv": ".csv", "tse": ".tse", "hyp": ".hyp",
                   "events_tsv": "_events.tsv"}


def _name(path) -> str:
    return PurePosixPath(str(path).replace("\\", "/")).name


def detect_format(path: str | os.PathLike[str]) -> Optional[str]:
    """The reader format name of ``path`` from its suffix, or None if unknown."""
    name = _name(path)
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def bname_of(path: str | os.PathLike[str]) -> str:
    """Recording name of an annotation file: its name without the format suffix."""
    name = _name(path)
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return PurePosixPath(name).stem


def read_annotation(path: str | os.PathLike[str], fmt: Optional[str] = None) -> Annotation:
    """Read one annotation file (local or remote).

    Parameters
    ----------
    path : str or os.PathLike
    fmt : str, optional
        A key of :data:`READERS`; by default taken from the file suffix.

    Raises
    ------
    AnnotationError
        Unknown format, unreadable or malformed file, unknown label, event out of range.
    """
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise AnnotationError(f"{path}: unknown annotation format (known suffixes: "
                              f"{', '.join(SUFFIXES)}; formats: {', '.join(READERS)})")
    try:
        text = read_text(str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path}: unreadable: {error}") from None
    return READERS[fmt](text, str(path))


def write_annotation(annotation: Annotation, path: str | os.PathLike[str], fmt: str) -> str:
    """Write ``annotation`` to ``path`` in format ``fmt``, atomically (local or remote)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(WRITERS)}")
    return atomic_write_text(str(path), WRITERS[fmt](annotation))
