"""Seizure annotation files: readers, writers and the bi-class label map.

Formats (``../shared/docs/algorithm.md`` §4, ``../shared/docs/scoring.md``):

- ``csv_bi`` / ``csv`` -- TUSZ v2: ``# key = value`` header lines (``duration`` is
  mandatory), then ``channel,start_time,stop_time,label,confidence`` rows. ``.csv_bi`` holds
  term events (channel ``TERM``); ``.csv`` holds per-channel events with seizure types.
- ``tse`` -- TUSZ v1 ``.tse`` / ``.tse_bi``: ``version = tse_v1.0.0`` then
  ``start stop label confidence`` rows covering the whole recording (term level).
- ``lbl`` -- TUSZ v1 ``.lbl`` / ``.lbl_bi``: montage, symbol table and
  ``label = {level, sublevel, start, stop, channel, [probabilities]}`` rows; channel -1 is
  the term channel.
- ``events_tsv`` -- BIDS / SzCORE ``*_events.tsv`` with HED-SCORE labels (``sz``, ``sz_*``,
  ``bckg``), term level.
- ``hyp`` (write only) -- the per-epoch hypothesis stream: label and confidence of every 1 s
  epoch.

Times are seconds from the start of the recording. Labels are kept as written (lower-cased);
:func:`biclass_label` maps every seizure type to ``seiz`` and rejects unknown labels, and every
:class:`Annotation` is validated on construction, so a bad file fails when it is read, with
its name in the error.

Example::

    ann = read_annotation("ref/aaaaaasf_s001_t000.csv_bi")
    text = WRITERS["events_tsv"](ann)
    write_annotation(ann.to_biclass(), "out/aaaaaasf_s001_t000.tse", "tse")
"""
import dataclasses
import datetime
import math
import re
from pathlib import Path
from typing import Callable

TERM = "TERM"
SEIZ = "seiz"
BCKG = "bckg"

# TUSZ seizure types (all mapped to ``seiz`` for bi-class scoring, as TUSZ's ``_bi`` files do).
SEIZURE_TYPES = frozenset({
    "seiz", "fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "cnsz", "tcsz", "atsz", "mysz",
    "nesz", "sz"})
# HED-SCORE seizure labels in BIDS events files start with this prefix (``sz_foc_a``, ...).
HED_SEIZURE_PREFIX = "sz_"
BACKGROUND_LABELS = frozenset({"bckg"})

# Times are compared at the precision the annotation files are written with (NEDC's too).
TIME_DECIMALS = 4
# Length of one epoch of the ``hyp`` stream.
HYP_EPOCH_S = 1.0

EVENTS_TSV_COLUMNS = ("onset", "duration", "eventType", "confidence", "channels", "dateTime",
                      "recordingDuration")
_CSV_COLUMNS = ("channel", "start_time", "stop_time", "label")
_CSV_HEADER_LINE = re.compile(r"^#\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$")
_LBL_LINE = re.compile(r"^label\s*=\s*\{(.*)\[(.*)\]\s*\}\s*$")
_LBL_SYMBOL = re.compile(r"(\d+)\s*:\s*'([^']*)'")
_LBL_MONTAGE = re.compile(r"^montage\s*=\s*(-?\d+)\s*,\s*([^:]+):")


class AnnotationError(ValueError):
    """An annotation file or object that cannot be used; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Event:
    """One annotated interval.

    Parameters
    ----------
    start_s, stop_s : float
        Onset and offset in seconds from the start of the recording.
    label : str
        Label as written in the file (lower case), e.g. ``seiz``, ``fnsz``, ``bckg``.
    confidence : float
        Confidence or probability of the label, 1.0 when the file gives none.
    channel : str
        ``TERM`` for a term (whole-recording) event, else the montage channel (``FP1-F7``).
    """
    start_s: float
    stop_s: float
    label: str
    confidence: float = 1.0
    channel: str = TERM


@dataclasses.dataclass(frozen=True)
class Annotation:
    """The annotation of one recording.

    Parameters
    ----------
    bname : str
        Recording name (file name without the format suffix), used to pair files.
    duration_s : float
        Recording duration in seconds (the ``# duration`` header, or the end of the last
        event for formats without one).
    events : tuple of Event
        Events in file order.
    source : str, optional
        Where the annotation was read from; named in every error.
    recording_start : datetime.datetime, optional
        Wall-clock start of the recording (written as ``dateTime`` in ``events.tsv``).

    Raises
    ------
    AnnotationError
        Non-positive duration, an event with ``stop_s <= start_s`` or outside
        ``[0, duration_s]``, or an unknown label.
    """
    bname: str
    duration_s: float
    events: tuple = ()
    source: str | None = None
    recording_start: datetime.datetime | None = None

    def __post_init__(self):
        object.__setattr__(self, "events", tuple(self.events))
        where = self.source or self.bname
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise AnnotationError(f"{where}: duration must be positive, got {self.duration_s}")
        duration = round(self.duration_s, TIME_DECIMALS)
        for event in self.events:
            span = f"{event.label} [{event.start_s}, {event.stop_s}] s"
            if not event.stop_s > event.start_s:
                raise AnnotationError(f"{where}: event {span} does not end after it starts")
            if round(event.start_s, TIME_DECIMALS) < 0 or \
                    round(event.stop_s, TIME_DECIMALS) > duration:
                raise AnnotationError(
                    f"{where}: event {span} lies outside the recording [0, {duration}] s")
            biclass_label(event.label, where)

    @property
    def is_term(self):
        """bool: True when every event is a term (``TERM``) event."""
        return all(event.channel == TERM for event in self.events)

    def to_biclass(self):
        """Return a copy whose labels are mapped to ``seiz`` / ``bckg``."""
        where = self.source or self.bname
        events = tuple(dataclasses.replace(e, label=biclass_label(e.label, where))
                       for e in self.events)
        return dataclasses.replace(self, events=events)


def biclass_label(label, where="annotation"):
    """Map a label to ``seiz`` or ``bckg``.

    Parameters
    ----------
    label : str
        TUSZ seizure type (``fnsz``, ``gnsz``, ...), ``seiz``, ``bckg``, or a HED-SCORE
        label (``sz``, ``sz_foc_a``, ...). Case is ignored.
    where : str
        Named in the error message.

    Raises
    ------
    AnnotationError
        For any other label.
    """
    low = label.lower()
    if low in SEIZURE_TYPES or low.startswith(HED_SEIZURE_PREFIX):
        return SEIZ
    if low in BACKGROUND_LABELS:
        return BCKG
    raise AnnotationError(
        f"{where}: unknown label {label!r} (expected a seizure type "
        f"{sorted(SEIZURE_TYPES)}, 'sz_*' or 'bckg')")


# --------------------------------------------------------------------------------------
# readers: parse_<format>(text, source) -> Annotation


def _float(text, where):
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise AnnotationError(f"{where}: not a finite number: {text!r}")
    return value


def parse_csv(text, source):
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
        events.append(Event(_float(row["start_time"], where), _float(row["stop_time"], where),
                            row["label"].lower(), _float(confidence, where),
                            TERM if row["channel"].upper() == TERM else row["channel"]))
    if "duration" not in header:
        raise AnnotationError(f"{source}: no '# duration = N secs' header")
    duration = _float(header["duration"].split()[0] if header["duration"] else "",
                      f"{source}: duration header")
    return Annotation(bname_of(source), duration, events, source=str(source))


def parse_tse(text, source):
    """Parse a TUSZ v1 ``.tse`` / ``.tse_bi`` term annotation.

    The duration is the end of the last event (TSE files cover the whole recording). Of
    several ``label probability`` pairs on one line the first is used, as NEDC does.
    """
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#") or parts[0].startswith("version"):
            continue
        where = f"{source}: line {number}"
        if len(parts) < 3:
            raise AnnotationError(f"{where}: expected 'start stop label [confidence]': {line!r}")
        confidence = _float(parts[3], where) if len(parts) > 3 else 1.0
        events.append(Event(_float(parts[0], where), _float(parts[1], where),
                            parts[2].lower(), confidence))
    return _annotation_ending_at_last_event(events, source)


def parse_lbl(text, source):
    """Parse a TUSZ v1 ``.lbl`` / ``.lbl_bi`` annotation (level 0, sublevel 0).

    Each label is the symbol of highest probability; channel -1 is ``TERM``, other channels
    take their montage name. The duration is the end of the last event.
    """
    montage, symbols, events = {}, {}, []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        where = f"{source}: line {number}"
        if line.startswith("montage"):
            match = _LBL_MONTAGE.match(line)
            if not match:
                raise AnnotationError(f"{where}: bad montage line: {line!r}")
            montage[int(match.group(1))] = match.group(2).strip()
        elif line.startswith("symbols"):
            level = int(re.search(r"\[(\d+)\]", line).group(1)) if "[" in line else 0
            symbols[level] = {int(k): v for k, v in _LBL_SYMBOL.findall(line)}
        elif line.startswith("label"):
            match = _LBL_LINE.match(line)
            if not match:
                raise AnnotationError(f"{where}: bad label line: {line!r}")
            head = [part.strip() for part in match.group(1).split(",") if part.strip()]
            if len(head) != 5:
                raise AnnotationError(f"{where}: expected level, sublevel, start, stop, "
                                      f"channel: {line!r}")
            level, sublevel, channel = int(head[0]), int(head[1]), int(head[4])
            if (level, sublevel) != (0, 0):
                continue
            probs = [_float(p, where) for p in match.group(2).split(",") if p.strip()]
            if not probs:
                raise AnnotationError(f"{where}: no probabilities: {line!r}")
            best = max(range(len(probs)), key=probs.__getitem__)
            if best not in symbols.get(level, {}):
                raise AnnotationError(f"{where}: symbol {best} is not in symbols[{level}]")
            name = TERM if channel == -1 else montage.get(channel, str(channel))
            events.append(Event(_float(head[2], where), _float(head[3], where),
                                symbols[level][best].lower(), probs[best], name))
    return _annotation_ending_at_last_event(events, source)


def parse_events_tsv(text, source):
    """Parse a BIDS / SzCORE ``events.tsv`` (term level).

    ``recordingDuration`` gives the duration; ``confidence`` ``n/a`` reads as 1.0.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise AnnotationError(f"{source}: empty events file")
    columns = [c.strip() for c in lines[0].split("\t")]
    missing = [c for c in ("onset", "duration", "eventType", "recordingDuration")
               if c not in columns]
    if missing:
        raise AnnotationError(f"{source}: line 1: columns {missing} missing")
    events, durations = [], set()
    for number, line in enumerate(lines[1:], 2):
        where = f"{source}: line {number}"
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise AnnotationError(f"{where}: expected {len(columns)} tab-separated fields")
        row = dict(zip(columns, (field.strip() for field in fields)))
        durations.add(_float(row["recordingDuration"], where))
        onset = _float(row["onset"], where)
        confidence = row.get("confidence", "n/a")
        events.append(Event(onset, onset + _float(row["duration"], where),
                            row["eventType"].lower(),
                            1.0 if confidence in ("n/a", "") else _float(confidence, where)))
    if len(durations) != 1:
        raise AnnotationError(f"{source}: needs one recordingDuration, found {sorted(durations)}")
    return Annotation(bname_of(source), durations.pop(), events, source=str(source))


def _annotation_ending_at_last_event(events, source):
    if not events:
        raise AnnotationError(f"{source}: no events, so the duration is unknown")
    return Annotation(bname_of(source), max(e.stop_s for e in events), events,
                      source=str(source))


# Format name -> parser; suffixes (longest first) -> format name.
READERS = {
    "csv_bi": parse_csv,
    "csv": parse_csv,
    "tse": parse_tse,
    "lbl": parse_lbl,
    "events_tsv": parse_events_tsv,
}
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


def detect_format(path):
    """Return the reader format name of ``path`` from its suffix, or None if unknown."""
    name = Path(path).name
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def bname_of(path):
    """Recording name of an annotation file: its name without the format suffix."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return Path(name).stem


def read_annotation(path, fmt=None):
    """Read one annotation file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    fmt : str, optional
        A key of :data:`READERS`; by default taken from the file suffix.

    Returns
    -------
    Annotation

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
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path}: unreadable: {error}") from None
    return READERS[fmt](text, str(path))


# --------------------------------------------------------------------------------------
# writers: format_<format>(annotation) -> str


def _sorted_term_events(annotation, biclass=True):
    """Term events sorted by time; refuses per-channel and overlapping events."""
    where = annotation.source or annotation.bname
    if not annotation.is_term:
        raise AnnotationError(f"{where}: per-channel events cannot be written as term events")
    events = annotation.to_biclass().events if biclass else annotation.events
    events = sorted(events, key=lambda e: (e.start_s, e.stop_s))
    for before, after in zip(events, events[1:]):
        if round(after.start_s, TIME_DECIMALS) < round(before.stop_s, TIME_DECIMALS):
            raise AnnotationError(f"{where}: overlapping events [{before.start_s}, "
                                  f"{before.stop_s}] and [{after.start_s}, {after.stop_s}] s")
    return events


def _filled(events, duration_s):
    """Events with the gaps between them filled by ``bckg`` (confidence 1)."""
    out, now = [], 0.0
    for event in events:
        if round(event.start_s, TIME_DECIMALS) > round(now, TIME_DECIMALS):
            out.append(Event(now, event.start_s, BCKG))
        out.append(event)
        now = event.stop_s
    if round(duration_s, TIME_DECIMALS) > round(now, TIME_DECIMALS):
        out.append(Event(now, duration_s, BCKG))
    return out


def format_csv_bi(annotation):
    """TUSZ v2 ``.csv_bi`` text: the term events, bi-class labels, sorted.

    Raises
    ------
    AnnotationError
        Per-channel or overlapping events.
    """
    lines = ["# version = csv_v1.0.0", f"# bname = {annotation.bname}",
             f"# duration = {annotation.duration_s:.4f} secs",
             "channel,start_time,stop_time,label,confidence"]
    lines += [f"{TERM},{e.start_s:.4f},{e.stop_s:.4f},{e.label},{e.confidence:.4f}"
              for e in _sorted_term_events(annotation)]
    return "\n".join(lines) + "\n"


def format_tse(annotation):
    """TUSZ v1 ``.tse`` text: bi-class term events with gaps filled by ``bckg``.

    The rows cover ``[0, duration_s]`` so that a reader recovers the duration.
    """
    lines = ["version = tse_v1.0.0", ""]
    lines += [f"{e.start_s:.4f} {e.stop_s:.4f} {e.label} {e.confidence:.4f}"
              for e in _filled(_sorted_term_events(annotation), annotation.duration_s)]
    return "\n".join(lines) + "\n"


def format_hyp(annotation):
    """Per-epoch hypothesis stream: label and confidence of every 1 s epoch.

    An epoch is ``seiz`` when seizure events cover at least half of it, and then carries the
    confidence of the seizure event covering most of it; otherwise ``bckg`` with the
    confidence of the explicit background event covering most of it, or 1.0. The last epoch
    is cut at the recording's end.
    """
    events = _filled(_sorted_term_events(annotation), annotation.duration_s)
    lines = ["# version = hyp_v1.0.0", f"# bname = {annotation.bname}",
             f"# duration = {annotation.duration_s:.4f} secs",
             f"# epoch_duration = {HYP_EPOCH_S:.4f} secs",
             "start_time,stop_time,label,confidence"]
    n_epochs = math.ceil(round(annotation.duration_s / HYP_EPOCH_S, TIME_DECIMALS))
    for k in range(n_epochs):
        start, stop = k * HYP_EPOCH_S, min((k + 1) * HYP_EPOCH_S, annotation.duration_s)
        covers = {SEIZ: [], BCKG: []}
        for event in events:
            overlap = min(stop, event.stop_s) - max(start, event.start_s)
            if overlap > 0:
                covers[event.label].append((overlap, event.confidence))
        seiz_s = sum(overlap for overlap, _ in covers[SEIZ])
        label = SEIZ if seiz_s >= (stop - start) / 2 else BCKG
        confidence = max(covers[label])[1]
        lines.append(f"{start:.4f},{stop:.4f},{label},{confidence:.4f}")
    return "\n".join(lines) + "\n"


def format_hyp_posteriors(annotation, posteriors, epoch_s=HYP_EPOCH_S):
    """Per-epoch hypothesis stream from a detector's per-epoch seizure posteriors.

    Each ``epoch_s`` epoch is labelled as :func:`format_hyp` labels it (``seiz`` when the
    annotation's seizure events cover at least half of it); its confidence is the
    posterior of that label, p for ``seiz`` and 1 − p for ``bckg``. Epochs beyond the
    posteriors (a partial last second) take the last posterior.
    """
    lines = format_hyp(annotation).splitlines()
    header = [line for line in lines if line.startswith("#") or line.startswith("start_time")]
    rows = [line for line in lines if line not in header]
    posteriors = list(posteriors)
    out = list(header)
    for k, row in enumerate(rows):
        start, stop, label, _ = row.split(",")
        p = float(posteriors[min(k, len(posteriors) - 1)]) if posteriors else 0.0
        confidence = p if label == SEIZ else 1.0 - p
        out.append(f"{start},{stop},{label},{confidence:.4f}")
    return "\n".join(out) + "\n"


def format_events_tsv(annotation):
    """BIDS / SzCORE ``events.tsv`` text: one ``sz`` row per seizure event.

    A seizure-free recording gets one ``bckg`` row spanning it. ``dateTime`` is filled when
    ``recording_start`` is known, else ``n/a``.
    """
    seizures = [e for e in _sorted_term_events(annotation) if e.label == SEIZ]
    rows = [(e.start_s, e.stop_s - e.start_s, "sz", f"{e.confidence:.4f}") for e in seizures]
    if not rows:
        rows = [(0.0, annotation.duration_s, BCKG, "n/a")]
    lines = ["\t".join(EVENTS_TSV_COLUMNS)]
    for onset, duration, event_type, confidence in rows:
        when = "n/a"
        if annotation.recording_start is not None:
            when = (annotation.recording_start + datetime.timedelta(seconds=onset)) \
                .strftime("%Y-%m-%d %H:%M:%S")
        lines.append("\t".join([f"{onset:.4f}", f"{duration:.4f}", event_type, confidence,
                                "n/a", when, f"{annotation.duration_s:.4f}"]))
    return "\n".join(lines) + "\n"


# Format name -> text formatter, and the file suffix each is written with.
WRITERS: dict[str, Callable[[Annotation], str]] = {
    "csv_bi": format_csv_bi,
    "tse": format_tse,
    "hyp": format_hyp,
    "events_tsv": format_events_tsv,
}
WRITER_SUFFIXES = {"csv_bi": ".csv_bi", "tse": ".tse", "hyp": ".hyp",
                   "events_tsv": "_events.tsv"}


def write_annotation(annotation, path, fmt):
    """Write ``annotation`` to ``path`` in format ``fmt``, atomically.

    The text goes to a temporary file in the same folder, renamed over ``path`` when
    complete, so a failed write leaves nothing behind and a re-run overwrites.

    Parameters
    ----------
    annotation : Annotation
    path : str or os.PathLike
    fmt : str
        A key of :data:`WRITERS`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(WRITERS)}")
    text = WRITERS[fmt](annotation)
    from neurokube.transforms.atomic_io import atomic_write_text  # Beam's FileSystems
    atomic_write_text(str(path), text)
    return Path(path)
