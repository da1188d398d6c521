"""TUSZ v1 ``.lbl`` / ``.lbl_bi`` (read only): montage, symbol table and ``label = {level,
sublevel, start, stop, channel, [probabilities]}`` rows; channel -1 is the term channel."""
import re

from neurokube.core.formats.model import (
    TERM, Annotation, AnnotationError, Event, annotation_ending_at_last_event, parse_float)

_LBL_LINE = re.compile(r"^label\s*=\s*\{(.*)\[(.*)\]\s*\}\s*$")
_LBL_SYMBOL = re.compile(r"(\d+)\s*:\s*'([^']*)'")
_LBL_MONTAGE = re.compile(r"^montage\s*=\s*(-?\d+)\s*,\s*([^:]+):")


def parse_lbl(text: str, source: str) -> Annotation:
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
            probs = [parse_float(p, where) for p in match.group(2).split(",") if p.strip()]
            if not probs:
                raise AnnotationError(f"{where}: no probabilities: {line!r}")
            best = max(range(len(probs)), key=probs.__getitem__)
            if best not in symbols.get(level, {}):
                raise AnnotationError(f"{where}: symbol {best} is not in symbols[{level}]")
            name = TERM if channel == -1 else montage.get(channel, str(channel))
            events.append(Event(parse_float(head[2], where), parse_float(head[3], where),
                                symbols[level][best].lower(), probs[best], name))
    return annotation_ending_at_last_event(events, source)
