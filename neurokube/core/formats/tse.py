"""TUSZ v1 ``.tse`` / ``.tse_bi``: ``version = tse_v1.0.0`` then ``start stop label
confidence`` rows covering the whole recording (term level)."""
from neurokube.core.formats.model import (
    Annotation, AnnotationError, Event, annotation_ending_at_last_event, filled_with_background,
    parse_float, sorted_term_events)


def parse_tse(text: str, source: str) -> Annotation:
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
        confidence = parse_float(parts[3], where) if len(parts) > 3 else 1.0
        events.append(Event(parse_float(parts[0], where), parse_float(parts[1], where),
                            parts[2].lower(), confidence))
    return annotation_ending_at_last_event(events, source)


def format_tse(annotation: Annotation) -> str:
    """TUSZ v1 ``.tse`` text: bi-class term events with gaps filled by ``bckg``.

    The rows cover ``[0, duration_s]`` so that a reader recovers the duration.
    """
    lines = ["version = tse_v1.0.0", ""]
    lines += [f"{e.start_s:.4f} {e.stop_s:.4f} {e.label} {e.confidence:.4f}"
              for e in filled_with_background(sorted_term_events(annotation), annotation.duration_s)]
    return "\n".join(lines) + "\n"
