"""Writing detections as event files: ``.csv_bi`` always, ``.tse``, ``.hyp``, ``events.tsv``.

Example Usage::

    written = detections | WriteDetections("results/", inputs.root, ["csv_bi", "tse"], meta)
"""
import json

import apache_beam as beam

from neurokube.transforms.annotations import (
    WRITER_SUFFIXES, WRITERS, Annotation, Event, format_hyp_posteriors)
from neurokube.transforms.atomic_io import atomic_write_text
from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, StageDoFn, counter
from neurokube.transforms.writers import output_path

FORMATS = tuple(WRITERS)
RESULT_META_SUFFIX = ".result.json"


def detection_annotation(detection, bname):
    events = [Event(start, stop, "seiz", confidence) for start, stop, confidence in
              detection.events]
    return Annotation(bname=bname, duration_s=detection.duration_s, events=events,
                      source=detection.path)


def format_detection(detection, bname, fmt):
    annotation = detection_annotation(detection, bname)
    if fmt == "hyp":
        return format_hyp_posteriors(annotation, detection.fused)
    return WRITERS[fmt](annotation)


class _WriteFn(StageDoFn):
    stage = "write"

    def __init__(self, output_dir, root, formats, meta):
        super().__init__()
        self._output_dir, self._root = output_dir, root
        self._formats, self._meta = formats, meta
        self._written = counter("results_written")

    def run(self, detection):
        base = output_path(self._output_dir, detection.path, self._root, "")
        bname = base.replace("\\", "/").rsplit("/", 1)[-1]
        texts = {fmt: format_detection(detection, bname, fmt) for fmt in self._formats}
        for fmt, text in texts.items():
            atomic_write_text(base + WRITER_SUFFIXES[fmt], text)
        # Written last: its presence marks a complete result (used by --incremental).
        record = dict(self._meta, source=detection.path, duration_s=detection.duration_s,
                      montage=detection.montage, events=len(detection.events),
                      formats=list(self._formats), input_fingerprint=detection.fingerprint)
        atomic_write_text(base + RESULT_META_SUFFIX, json.dumps(record, sort_keys=True) + "\n")
        self._written.inc()
        yield detection.path, detection.duration_s


class WriteDetections(beam.PTransform):
    """:class:`Detection` -> event files per recording; emits (path, duration_s) written.

    Parameters
    ----------
    output_dir : str
    root : str
        Input root; outputs keep the recordings' paths relative to it.
    formats : sequence of str
        Any of ``csv_bi``, ``tse``, ``hyp``, ``events_tsv``; ``csv_bi`` is always written.
    meta : dict
        JSON-able record stored beside each result (model version, ...). The record,
        ``<bname>.result.json``, is written last and also holds the source, the formats
        and the input's ``input_fingerprint``: ``--incremental`` reads it.
    """

    def __init__(self, output_dir, root, formats, meta):
        super().__init__()
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown formats {unknown}; choose from {list(FORMATS)}")
        formats = ["csv_bi"] + [f for f in dict.fromkeys(formats) if f != "csv_bi"]
        self._fn = _WriteFn(str(output_dir), str(root), tuple(formats), dict(meta))

    def expand(self, detections):
        out = detections | "WriteEventFiles" >> beam.ParDo(self._fn).with_outputs(
            DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], DEAD_LETTER: out[DEAD_LETTER]}
