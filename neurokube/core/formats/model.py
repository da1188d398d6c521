"""The annotation model every format reads into and writes from: events, labels, checks.

Times are seconds from the start of the recording. Labels are kept as written (lower
case); :func:`biclass_label` maps every seizure type to ``seiz`` and rejects unknown
labels, and every :class:`Annotation` is validated on construction, so a bad file fails
when it is read, with its name in the error.
"""
import dataclasses
import datetime
import math
import os
from typing import Iterable, Sequence

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
    def is_term(self) -> bool:
        """bool: True when every event is a term (``TERM``) event."""
        return all(event.channel == TERM for event in self.events)

    def to_biclass(self) -> "Annotation":
        """Return a copy whose labels are mapped to ``seiz`` / ``bckg``."""
        where = self.source or self.bname
        events = tuple(dataclasses.replace(e, label=biclass_label(e.label, where))
                       for e in self.events)
        return dataclasses.replace(self, events=events)


def biclass_label(label: str, where: str = "annotation") -> str:
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


def parse_float(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise AnnotationError(f"{where}: not a finite number: {text!r}")
    return value


def annotation_ending_at_last_event(events: Sequence[Event],
                                    source: str | os.PathLike[str]) -> Annotation:
    if not events:
        raise AnnotationError(f"{source}: no events, so the duration is unknown")
    from neurokube.core.formats.registry import bname_of
    return Annotation(bname_of(source), max(e.stop_s for e in events), events,
                      source=str(source))


def sorted_term_events(annotation: Annotation, biclass: bool = True) -> list[Event]:
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


def filled_with_background(events: Iterable[Event], duration_s: float) -> list[Event]:
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
