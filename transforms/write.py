"""Beam composites that write detections, dead letters and the run summary atomically.

Example Usage::

    written = detections | WriteDetections("results/", ["csv_bi", "tse"], meta)
    _ = dead | WriteDeadLetters("results/")
"""
import dataclasses
import io
import json
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import apache_beam as beam
import numpy as np

from neurokube.core.errors import DeadLetter
from neurokube.core.feature_spec import TCP_CHANNELS
from neurokube.core.formats import WRITER_SUFFIXES, WRITERS, Annotation, Event
from neurokube.core.formats.events_tsv import bids_stem
from neurokube.core.formats.hyp import format_hyp_posteriors
from neurokube.core.paths import (
    atomic_write_bytes, atomic_write_text, join, output_path, remove_if_present)
from neurokube.transforms.stages import Stage, counter, stage_of

if TYPE_CHECKING:
    from neurokube.models.config import P3Params
    from neurokube.transforms.detect import Detection

DEAD_LETTERS_FILE = "dead_letters.jsonl"
RESULT_META_SUFFIX = ".result.json"
POSTERIORS_SUFFIX = ".posteriors.npz"
# Formats `label` writes: the annotation formats (``csv``: per-channel events from P1),
# MNE's annotation text file, and the detector's posteriors per step.
FORMATS = tuple(WRITERS) + ("mne", "posteriors")
FORMAT_SUFFIXES = dict(WRITER_SUFFIXES, mne="_annotations.txt", posteriors=POSTERIORS_SUFFIX)

EVENTS_SIDECAR = {
    "onset": {"Description": "Onset of the event from the beginning of the recording",
              "Units": "s"},
    "duration": {"Description": "Duration of the event", "Units": "s"},
    "eventType": {"Description": "HED-SCORE label of the event",
                  "Levels": {"sz": "Seizure", "bckg": "Background: no seizure found"}},
    "confidence": {"Description": "Mean fused seizure posterior over the event (0 to 1)"},
    "channels": {"Description": "Channels involved (n/a: term-level event)"},
    "dateTime": {"Description": "Start date and time of the recording; onsets count from it"},
    "recordingDuration": {"Description": "Duration of the recording", "Units": "s"},
}


def format_path(output_dir: str, name: str, fmt: str) -> str:
    """Where format ``fmt`` of recording ``name`` is written (BIDS names for events_tsv)."""
    if fmt == "events_tsv":
        return bids_stem(output_path(output_dir, name, "")) + FORMAT_SUFFIXES[fmt]
    return output_path(output_dir, name, FORMAT_SUFFIXES[fmt])


def events_sidecar_path(events_tsv_path: str) -> str:
    """The BIDS ``events.json`` beside an ``events.tsv``."""
    return events_tsv_path[:-len(".tsv")] + ".json"


def result_paths(output_dir: str, name: str) -> list[str]:
    """Every file a result of recording ``name`` may have: each format's file, the BIDS
    sidecar and the result record (written last)."""
    paths = [format_path(output_dir, name, fmt) for fmt in FORMATS]
    paths.append(events_sidecar_path(format_path(output_dir, name, "events_tsv")))
    return paths + [output_path(output_dir, name, RESULT_META_SUFFIX)]


def detection_annotation(detection: "Detection", bname: str) -> Annotation:
    """The seizure events of a detection as a term :class:`Annotation`."""
    import datetime
    events = [Event(start, stop, "seiz", confidence)
              for start, stop, confidence in detection.events]
    start = datetime.datetime.fromisoformat(detection.start) if detection.start else None
    return Annotation(bname=bname, duration_s=detection.duration_s, events=events,
                      source=detection.path, recording_start=start)


def channel_annotation(detection: "Detection", bname: str, params: "P3Params",
                       step_s: float) -> Annotation:
    """The per-channel events of a detection as an Annotation, laid out as TUSZ's ``.csv``:
    each analysed channel covered from 0 to the end, ``seiz`` where its P1 is raised within
    a term event and ``bckg`` elsewhere. Masked channels have no rows."""
    from neurokube.core.formats.model import filled_with_background
    from neurokube.models.postprocess import channel_events
    by_channel: dict[str, list[Event]] = {
        name: [] for name, kept in zip(TCP_CHANNELS, detection.mask) if kept}
    for channel, s, e, c in channel_events(detection.p1, detection.mask, detection.events,
                                           params, step_s, TCP_CHANNELS):
        by_channel[channel].append(Event(s, e, "seiz", c, channel))
    events = [dataclasses.replace(event, channel=channel)
              for channel, seizures in by_channel.items()
              for event in filled_with_background(seizures, detection.duration_s)]
    return Annotation(bname=bname, duration_s=detection.duration_s, events=events,
                      source=detection.path)


def mne_txt(detection: "Detection") -> str:
    """Events in MNE's annotation text format (what ``Annotations.save`` writes to
    ``.txt``), which ``mne.read_annotations`` reads: onset and duration in seconds from the
    first sample, description ``seizure`` and the confidence as an extra column.

    No ``orig_time`` line, so the onsets stay relative to the first sample, also for
    recordings whose start date is anonymised. (MNE reads float onsets in a ``.csv`` as
    milliseconds, hence the text format.)
    """
    lines = ["# MNE-Annotations", "# onset, duration, description, confidence"]
    lines += [f"{s:.4f}, {e - s:.4f}, seizure, {c:.4f}" for s, e, c in detection.events]
    return "\n".join(lines) + "\n"


def posteriors_bytes(detection: "Detection", step_s: float) -> bytes:
    """The ``.posteriors.npz`` payload: P1 per TCP channel (rows named by ``channels``),
    P2 and the fused posterior per step (step k covers [k, k + 1) · ``step_s`` seconds)."""
    buffer = io.BytesIO()
    np.savez(buffer, p1=detection.p1.astype(np.float32), p2=detection.p2.astype(np.float32),
             fused=detection.fused.astype(np.float32), mask=np.asarray(detection.mask, bool),
             channels=np.asarray(TCP_CHANNELS),
             step_s=np.float64(step_s), duration_s=np.float64(detection.duration_s))
    return buffer.getvalue()


def format_detection(detection: "Detection", bname: str, fmt: str, step_s: float = 1.0,
                     params: "P3Params | None" = None) -> str | bytes:
    """The file content of one output format of a detection (str or bytes)."""
    if fmt == "posteriors":
        return posteriors_bytes(detection, step_s)
    if fmt == "mne":
        return mne_txt(detection)
    if fmt == "csv":
        return WRITERS["csv"](channel_annotation(detection, bname, params, step_s))
    annotation = detection_annotation(detection, bname)
    if fmt == "hyp":
        return format_hyp_posteriors(annotation, detection.fused)
    return WRITERS[fmt](annotation)


class _WriteOne:
    def __init__(self, output_dir, formats, meta, step_s, params):
        self._output_dir, self._formats = output_dir, formats
        self._meta, self._step_s, self._params = meta, step_s, params
        self._written = counter("results_written")

    def __call__(self, detection):
        base = output_path(self._output_dir, detection.path, "")
        bname = base.replace("\\", "/").rsplit("/", 1)[-1]
        with stage_of("write"):
            for fmt in self._formats:
                content = format_detection(detection, bname, fmt, self._step_s, self._params)
                path = format_path(self._output_dir, detection.path, fmt)
                if isinstance(content, bytes):
                    atomic_write_bytes(path, content)
                else:
                    atomic_write_text(path, content)
                if fmt == "events_tsv":
                    atomic_write_text(events_sidecar_path(path),
                                      json.dumps(EVENTS_SIDECAR, indent=1) + "\n")
            self._remove_formats_of_an_earlier_result(base, detection.path)
            # Written last: its presence marks a complete result (used by --incremental).
            masked = [name for name, kept in zip(TCP_CHANNELS, detection.mask) if not kept]
            record = dict(self._meta, source=detection.path, duration_s=detection.duration_s,
                          montage=detection.montage, masked_channels=masked,
                          events=len(detection.events),
                          formats=list(self._formats),
                          input_fingerprint=detection.fingerprint)
            atomic_write_text(base + RESULT_META_SUFFIX,
                              json.dumps(record, sort_keys=True) + "\n")
        self._written.inc()
        yield detection.path, detection.duration_s


    def _remove_formats_of_an_earlier_result(self, base, name):
        """Files an earlier result wrote in formats not asked for now would contradict
        this one. Its record lists them: one lookup per recording, not one per format."""
        from neurokube.transforms.fingerprint import read_result_meta
        earlier = read_result_meta(base + RESULT_META_SUFFIX) or {}
        for fmt in sorted(set(earlier.get("formats") or ()) - set(self._formats)):
            if fmt in FORMAT_SUFFIXES:
                path = format_path(self._output_dir, name, fmt)
                remove_if_present(path)
                if fmt == "events_tsv":
                    remove_if_present(events_sidecar_path(path))


class WriteDetections(beam.PTransform):
    """:class:`Detection` -> event files per recording; emits (name, duration_s) written.

    Parameters
    ----------
    output_dir : str
    formats : sequence of str
        Any of :data:`FORMATS`; ``csv_bi`` is always written.
    meta : dict
        JSON-able record stored beside each result (model version, ...). The record,
        ``<bname>.result.json``, is written last and also holds the source, the montage,
        the TCP channels masked (not buildable from the file, or flat), the formats and
        the input's ``input_fingerprint``: ``--incremental`` reads it.
    step_s : float
        The detector's step, s (recorded in ``.posteriors.npz``).
    params : P3Params, optional
        For the per-channel events (``csv``).
    """

    def __init__(self, output_dir: str, formats: Sequence[str], meta: Mapping[str, Any],
                 step_s: float = 1.0, params: "P3Params | None" = None) -> None:
        super().__init__()
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown formats {unknown}; choose from {list(FORMATS)}")
        formats = ["csv_bi"] + [f for f in dict.fromkeys(formats) if f != "csv_bi"]
        if "csv" in formats and params is None:
            raise ValueError("the per-channel csv format needs the P3 parameters")
        self._fn = _WriteOne(str(output_dir), tuple(formats), dict(meta), float(step_s), params)

    def expand(self, detections):
        return detections | "WriteEventFiles" >> Stage("write", self._fn)


def _write_dead_letters(letters, path):
    # A recording cut into chunks may fail in several of them: keep one record per path.
    unique = {}
    for letter in sorted(letters, key=lambda d: (d.path, d.stage, d.reason)):
        unique.setdefault(letter.path, letter)
    lines = [letter.to_json() for letter in unique.values()]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    yield path


class WriteDeadLetters(beam.PTransform):
    """All :class:`DeadLetter` records -> ``output_dir/dead_letters.jsonl`` (sorted by path).

    The file is always written, empty when every recording succeeded, so a re-run
    replaces the previous run's list. One record per path: a recording processed in
    chunks that failed in several of them still appears once.

    Example Usage::

        _ = dead | WriteDeadLetters("out/")
    """

    def __init__(self, output_dir: str, file_name: str = DEAD_LETTERS_FILE) -> None:
        super().__init__()
        self._path = join(str(output_dir), file_name)

    def expand(self, letters):
        return (letters
                | "CollectDeadLetters" >> beam.combiners.ToList()
                | "WriteJsonl" >> beam.FlatMap(_write_dead_letters, self._path))


def _write_summary(counts, path, extra):
    summary = dict(extra)
    summary.update(counts)
    atomic_write_text(path, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    yield summary


class WriteRunSummary(beam.PTransform):
    """Counts (and sums) of PCollections -> a JSON summary file.

    Takes a dict ``{name: PCollection}``: each is counted under ``name``. ``sums`` maps
    further names to PCollections of numbers that are added up. ``extra`` is a JSON-able
    dict merged into the summary (inputs, options, versions...).
    """

    def __init__(self, path: str, extra: Mapping[str, Any],
                 sums: Mapping[str, beam.PCollection] | None = None) -> None:
        super().__init__()
        self._path, self._extra = str(path), dict(extra)
        self._sums = dict(sums or {})

    def expand(self, named):
        counts = [
            (pcoll | f"Count{name.title()}" >> beam.combiners.Count.Globally()
             | f"Key{name.title()}" >> beam.Map(lambda n, k=name: (k, n)))
            for name, pcoll in sorted(named.items())]
        counts += [
            (pcoll | f"Sum{name.title()}" >> beam.CombineGlobally(sum)
             | f"KeySum{name.title()}" >> beam.Map(lambda n, k=name: (k, n)))
            for name, pcoll in sorted(self._sums.items())]
        return (counts | "FlattenCounts" >> beam.Flatten()
                | "CollectCounts" >> beam.combiners.ToDict()
                | "WriteSummary" >> beam.FlatMap(_write_summary, self._path, self._extra))


__all__ = ["DEAD_LETTERS_FILE", "DeadLetter", "FORMATS", "RESULT_META_SUFFIX", "format_path",
           "WriteDeadLetters", "WriteDetections", "WriteRunSummary"]
