"""Seizure annotation formats: one module per format, one registry of suffixes.

- ``csv_bi`` / ``csv``: TUSZ v2 (:mod:`.csv_bi`); ``tse``: TUSZ v1 (:mod:`.tse`);
  ``lbl``: TUSZ v1 labels, read only (:mod:`.lbl`); ``events_tsv``: BIDS / SzCORE
  (:mod:`.events_tsv`); ``hyp``: the per-epoch hypothesis stream, write only (:mod:`.hyp`).

Example::

    from neurokube.core.formats import read_annotation, WRITERS
    ann = read_annotation("ref/aaaaaasf_s001_t000.csv_bi")
    text = WRITERS["events_tsv"](ann)
"""
from neurokube.core.formats.hyp import HYP_EPOCH_S, format_hyp_posteriors
from neurokube.core.formats.model import (
    BCKG, SEIZ, SEIZURE_TYPES, TERM, TIME_DECIMALS, Annotation, AnnotationError, Event,
    biclass_label)
from neurokube.core.formats.registry import (
    READERS, SUFFIXES, WRITER_SUFFIXES, WRITERS, bname_of, detect_format, read_annotation,
    write_annotation)

__all__ = ["Annotation", "AnnotationError", "BCKG", "Event", "HYP_EPOCH_S", "READERS",
           "SEIZ", "SEIZURE_TYPES", "SUFFIXES", "TERM", "TIME_DECIMALS", "WRITERS",
           "WRITER_SUFFIXES", "biclass_label", "bname_of", "detect_format",
           "format_hyp_posteriors", "read_annotation", "write_annotation"]
