"""BIDS / SzCORE ``*_events.tsv`` with HED-SCORE labels (``sz``, ``sz_*``, ``bckg``), term
level."""
from neurokube.core.formats.model import (
    BCKG, SEIZ, Annotation, AnnotationError, Event, parse_float, sorted_term_events)

# BIDS: recording ``..._eeg.edf`` has its events in ``..._events.tsv`` (+ ``.json``).
BIDS_EEG_SUFFIX = "_eeg"


def bids_stem(stem: str) -> str:
    """A recording's stem as its BIDS events file is named: without a trailing ``_eeg``."""
    return stem[:-len(BIDS_EEG_SUFFIX)] if stem.endswith(BIDS_EEG_SUFFIX) else stem


EVENTS_TSV_COLUMNS = ("onset", "duration", "eventType", "confidence", "channels", "dateTime",
                      "recordingDuration")


def parse_events_tsv(text: str, source: str) -> Annotation:
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
        durations.add(parse_float(row["recordingDuration"], where))
        onset = parse_float(row["onset"], where)
        confidence = row.get("confidence", "n/a")
        events.append(Event(onset, onset + parse_float(row["duration"], where),
                            row["eventType"].lower(),
                            1.0 if confidence in ("n/a", "") else parse_float(confidence, where)))
    if len(durations) != 1:
        raise AnnotationError(f"{source}: needs one recordingDuration, found {sorted(durations)}")
    from neurokube.core.formats.registry import bname_of
    return Annotation(bname_of(source), durations.pop(), events, source=str(source))


def format_events_tsv(annotation: Annotation) -> str:
    """BIDS / SzCORE ``events.tsv`` text: one ``sz`` row per seizure event.

    A seizure-free recording gets one ``bckg`` row spanning it. ``dateTime`` is the start of
    the recording (as epilepsy2bids and SzCORE define it: onsets count from it) on every
    row when ``recording_start`` is known, else ``n/a``.
    """
    seizures = [e for e in sorted_term_events(annotation) if e.label == SEIZ]
    rows = [(e.start_s, e.stop_s - e.start_s, "sz", f"{e.confidence:.4f}") for e in seizures]
    if not rows:
        rows = [(0.0, annotation.duration_s, BCKG, "n/a")]
    lines = ["\t".join(EVENTS_TSV_COLUMNS)]
    when = "n/a"
    if annotation.recording_start is not None:
        when = annotation.recording_start.strftime("%Y-%m-%d %H:%M:%S")
    for onset, duration, event_type, confidence in rows:
        lines.append("\t".join([f"{onset:.4f}", f"{duration:.4f}", event_type, confidence,
                                "n/a", when, f"{annotation.duration_s:.4f}"]))
    return "\n".join(lines) + "\n"
