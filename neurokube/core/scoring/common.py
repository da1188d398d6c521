"""What every scorer shares: the NEDC view of a recording and the counts a scorer returns.

NEDC v6.0.0 prepares each file the same way before any scoring (``nedc_eeg_eval_common``):
term events are sorted by (start, stop), every gap is filled with ``bckg`` and runs of
consecutive events with the same label are merged. Touching same-label events therefore
become one event; overlapping ones stay separate (a filler between them runs backwards in
time, as in NEDC). :class:`Timeline` reproduces that sequence exactly.
"""
import dataclasses

from neurokube.core.formats import BCKG, SEIZ, TIME_DECIMALS, Annotation

LABELS = (SEIZ, BCKG)
SECONDS_PER_DAY = 86400.0


class ScoringError(ValueError):
    """A reference/hypothesis set that cannot be scored honestly; names the files."""


@dataclasses.dataclass(frozen=True)
class Counts:
    """Per-label totals of one scorer (floats: TAES gives partial credit).

    ``misses`` and ``false_alarms`` follow NEDC's definitions for each scorer; sensitivity is
    ``hits / (hits + misses)``.
    """
    targets: float = 0
    hits: float = 0
    misses: float = 0
    false_alarms: float = 0

    def __add__(self, other):
        return Counts(*(a + b for a, b in zip(dataclasses.astuple(self),
                                              dataclasses.astuple(other))))


@dataclasses.dataclass(frozen=True)
class Timeline:
    """A recording as NEDC scores it: ordered ``(start_s, stop_s, label)`` with ``bckg`` fill.

    Build it with :meth:`from_annotation`. ``events`` covers ``[0, duration]``; its last stop
    is the duration NEDC adds to the total.
    """
    events: tuple

    @classmethod
    def from_annotation(cls, annotation: Annotation) -> "Timeline":
        """NEDC's augmented, merged event sequence of a term annotation.

        Parameters
        ----------
        annotation : neurokube.core.formats.Annotation
            Term-level annotation (labels are mapped to ``seiz`` / ``bckg`` here).
        """
        ann = annotation.to_biclass()
        events = sorted(((e.start_s, e.stop_s, e.label) for e in ann.events),
                        key=lambda e: (e[0], e[1]))
        if not events:
            return cls(((0.0, round(ann.duration_s, TIME_DECIMALS), BCKG),))
        filled, now = [], 0.0
        for start, stop, label in events:
            if now != round(start, TIME_DECIMALS):
                filled.append((now, round(start, TIME_DECIMALS), BCKG))
            filled.append((start, stop, label))
            now = round(stop, TIME_DECIMALS)
        duration = round(ann.duration_s, TIME_DECIMALS)
        if now != duration:
            filled.append((now, duration, BCKG))
        merged = [filled[0]]
        for start, stop, label in filled[1:]:
            if label == merged[-1][2]:
                merged[-1] = (merged[-1][0], stop, label)
            else:
                merged.append((start, stop, label))
        return cls(tuple(merged))

    @property
    def duration_s(self) -> float:
        """float: the end of the last event, the duration NEDC totals (seconds)."""
        return self.events[-1][1]

    def of_label(self, label: str) -> list[tuple[float, float]]:
        """``[(start_s, stop_s), ...]`` of one label, in timeline order."""
        return [(start, stop) for start, stop, lab in self.events if lab == label]


def sensitivity(counts: Counts) -> float:
    """``hits / (hits + misses)``, 0 when there is nothing to find."""
    found = counts.hits + counts.misses
    return counts.hits / found if found else 0.0
