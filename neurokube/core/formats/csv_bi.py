"""TUSZ v2 ``.csv_bi`` (term events, channel ``TERM``) and ``.csv`` (per channel).

``# key = value`` header lines (``duration`` is mandatory; ``301.00 secs`` and
``1289.0000 secs`` both occur), then ``channel,start_time,stop_time,label,confidence``
rows.
"""
import re

from neurokube.core.formats.model import (
    BCKG, SEIZ, TERM, Annotation, AnnotationError, Event, parse_float, sorted_term_events)

_CSV_COLUMNS = ("channel", "start_time", "stop_time", "label")
_CSV_HEADER_LINE = re.compile(r"^#\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$")


def parse_csv(text: str, source: str) -> Annotation:
    """Parse a TUSZ v2 ``.csv_bi`` (term) or ``.csv`` (per channel) annotation.

    The duration header may read ``301.00 secs`` or ``1289.0000 secs``.
    """
    header, events, columns = {}, [], None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        where = f"{source}: line {number}"
        if not line:
            continue
        if line.startswith("#"):
            match = _CSV_HEADER_LINE.match(line)
            if match:
                header[match.group(1).lower()] = match.group(2)
            continue
        fields = [field.strip() for field in line.split(",")]
        if columns is None:
            columns = [field.lower() for field in fields]
            missing = [name for name in _CSV_COLUMNS if name not in columns]
            if missing:
                raise AnnotationError(f"{where}: column header lacks {missing}: {line!r}")
            continue
        if len(fields) != len(columns):
            raise AnnotationError(f"{where}: expected {len(columns)} fields: {line!r}")
        row = dict(zip(columns, fields))
        confidence = row.get("confidence", "1.0")
        events.append(Event(parse_float(row["start_time"], where), parse_float(row["stop_time"], where),
                            row["label"].lower(), parse_float(confidence, where),
                            TERM if row["channel"].upper() == TERM else row["channel"]))
    if "duration" not in header:
        raise AnnotationError(f"{source}: no '# duration = N secs' header")
    duration = parse_float(header["duration"].split()[0] if header["duration"] else "",
                      f"{source}: duration header")
    from neurokube.core.formats.registry import bname_of
    return Annotation(bname_of(source), duration, events, source=str(source))


# TUSZ v2 writes this montage reference in every header.
MONTAGE_FILE = "$NEDC_NFC/lib/nedc_eas_default_montage.txt"


def _header(annotation):
    return ["# version = csv_v1.0.0", f"# bname = {annotation.bname}",
            f"# duration = {annotation.duration_s:.4f} secs",
            f"# montage_file = {MONTAGE_FILE}", "#",
            "channel,start_time,stop_time,label,confidence"]


def format_csv_bi(annotation: Annotation) -> str:
    """TUSZ v2 ``.csv_bi`` text: the term events, bi-class labels, sorted.

    As TUSZ writes it: the header lines (with ``# montage_file`` and a bare ``#``), then
    one row per event; a recording without seizures gets one ``bckg`` row spanning it.

    Raises
    ------
    AnnotationError
        Per-channel or overlapping events.
    """
    events = sorted_term_events(annotation)
    rows = [f"{TERM},{e.start_s:.4f},{e.stop_s:.4f},{e.label},{e.confidence:.4f}"
            for e in events]
    if not any(e.label == SEIZ for e in events) and not rows:
        rows = [f"{TERM},0.0000,{annotation.duration_s:.4f},{BCKG},1.0000"]
    return "\n".join(_header(annotation) + rows) + "\n"


def format_csv(annotation: Annotation) -> str:
    """TUSZ v2 per-channel ``.csv`` text: events by channel (montage order as given), then
    time; bi-class labels."""
    where = annotation.source or annotation.bname
    order = list(dict.fromkeys(e.channel for e in annotation.events))
    events = sorted(annotation.to_biclass().events,
                    key=lambda e: (order.index(e.channel), e.start_s, e.stop_s))
    for event in events:
        if event.channel == TERM:
            raise AnnotationError(f"{where}: a per-channel .csv holds no TERM events")
    rows = [f"{e.channel},{e.start_s:.4f},{e.stop_s:.4f},{e.label},{e.confidence:.4f}"
            for e in events]
    return "\n".join(_header(annotation) + rows) + "\n"
