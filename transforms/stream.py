"""Beam streaming composites: watch a folder for EDFs that appear and grow; label them.

:class:`WatchRecordings` is a splittable DoFn that lists a folder (local or ``gs://``)
every ``poll_s`` and emits, per recording, an :class:`Observation` each time its size or
modification time changes, and a final one once it has not changed for ``settle_s``. With
``until_idle_s`` it finalises every recording and ends after that long without any
change (tests, and batches run as streams); without it, it runs until cancelled.

:class:`LabelGrowingRecordings` keys observations by recording and keeps one
:class:`~neurokube.models.streaming.RecordingStream` per key in Beam state: each
observation labels the seconds that have become complete and rewrites, atomically,
``<bname>.csv_bi`` (the events so far; an event still open runs to the data labelled) and
``<bname>.events.jsonl`` (every decision so far, one JSON line each: each rewrite adds
lines and never changes earlier ones, unless the recording is labelled anew).
A recording that cannot be read when final (a header whose record count the file does not
hold included, as in ``label``), or that shrinks, becomes one dead letter
(``<name>.dead_letter.json`` in the run's records folder at once, and on the
``DEAD_LETTER`` output) and its results so far are removed; the others go on. A finished
recording gets a ``<name>.finished.json`` record there. One that grows again after it was
finalised (a pause longer than ``settle_s``) is labelled anew from its start, so its
results always cover the whole file. (No global aggregation: the job may never end.)

Example Usage::

    observations = p | WatchRecordings("incoming/", poll_s=5, until_idle_s=None)
    out = observations | LabelGrowingRecordings("models/reference_causal", "labels/",
                                                "labels/runs/RUN/stream")
"""
import datetime
import json
import logging
import time
import typing

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Duration, Timestamp

from neurokube.core.errors import RecordingError
from neurokube.core.formats import WRITER_SUFFIXES, WRITERS, Annotation, Event
from neurokube.core.paths import atomic_write_text, join, output_path, remove_if_present
from neurokube.core.sources import (RECORDING_SUFFIXES, named_later, safe_name,
                                    unique_names)
from neurokube.transforms.stages import DEAD_LETTER, MAIN, counter, dead_letter

EVENTS_LOG_SUFFIX = ".events.jsonl"
DEAD_LETTER_SUFFIX = ".dead_letter.json"
FINISHED_SUFFIX = ".finished.json"
_LOG = logging.getLogger(__name__)


class Observation(typing.NamedTuple):
    """What the watcher saw of one recording: its path, size (bytes), modification time
    (s since the epoch), and whether it is final (unchanged for ``settle_s``, or the job
    ends)."""

    path: str
    size: int
    mtime: float
    final: bool


class _PollRounds(beam.transforms.core.RestrictionProvider):
    """Poll rounds 0, 1, 2, ... as an offset range (the watcher claims one per poll)."""

    def initial_restriction(self, element):
        return OffsetRange(0, 2 ** 62)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return 1

    def truncate(self, element, restriction):  # on drain: stop polling
        return None


def list_recordings_now(folder: str) -> list[tuple[str, int, float]]:
    """[(path, size, mtime)] of the ``*.edf`` and ``*.bdf`` files (any case) under
    ``folder`` (recursive), sorted."""
    pattern = join(folder.rstrip("/"), "**")
    found = []
    for result in FileSystems.match([pattern]):
        for meta in result.metadata_list:
            if meta.path.lower().endswith(RECORDING_SUFFIXES):
                found.append((meta.path, int(meta.size_in_bytes),
                              float(meta.last_updated_in_seconds or 0.0)))
    return sorted(found)


class _WatchFn(beam.DoFn):
    def __init__(self, poll_s, settle_s, until_idle_s):
        self._poll_s, self._settle_s, self._until_idle_s = poll_s, settle_s, until_idle_s

    def _name(self, folder, path):
        if path not in self._names:
            # Named once, at first sight, apart from every name given before: x.edf and a
            # later x.EDF or x.bdf must not write the same outputs.
            self._names[path] = unique_names([*self._names.values(),
                                              safe_name(path, folder)])[-1]

    def _keyed(self, path, size, mtime, final):
        return self._names[path], Observation(path, size, mtime, final)

    def setup(self):
        self._seen, self._changed_at, self._final = {}, {}, set()
        self._names = {}
        self._last_change = time.time()

    def _round(self, folder, now):
        out, listed = [], list_recordings_now(folder)
        for path, _, _ in sorted(listed, key=lambda found: named_later(found[0])):
            self._name(folder, path)  # as label names them: an .edf before its twins
        for path, size, mtime in listed:
            if self._seen.get(path) != (size, mtime):
                self._seen[path], self._changed_at[path] = (size, mtime), now
                self._last_change = now
                self._final.discard(path)  # it grew again after being final
                out.append(self._keyed(path, size, mtime, False))
            elif path not in self._final and now - self._changed_at[path] >= self._settle_s:
                self._final.add(path)
                out.append(self._keyed(path, size, mtime, True))
        return out

    @beam.DoFn.unbounded_per_element()
    def process(self, folder, tracker=beam.DoFn.RestrictionParam(_PollRounds()),
                watermark=beam.DoFn.WatermarkEstimatorParam(
                    ManualWatermarkEstimator.default_provider())):
        position = tracker.current_restriction().start
        if not tracker.try_claim(position):
            return
        now = time.time()
        stamp = Timestamp.of(now)
        for element in self._round(folder, now):
            yield beam.window.TimestampedValue(element, stamp)
        watermark.set_watermark(stamp)
        if self._until_idle_s is not None and now - self._last_change >= self._until_idle_s:
            for path, (size, mtime) in sorted(self._seen.items()):
                if path not in self._final:
                    self._final.add(path)
                    yield beam.window.TimestampedValue(
                        self._keyed(path, size, mtime, True), stamp)
            tracker.try_claim(tracker.current_restriction().stop)  # no more rounds
            return
        tracker.defer_remainder(Duration(self._poll_s))


class WatchRecordings(beam.PTransform):
    """A folder (local or ``gs://``) -> (name, :class:`Observation`) as files appear and
    grow, ``name`` being the path below the folder (see the module doc). ``poll_s``,
    ``settle_s``, ``until_idle_s`` in seconds."""

    def __init__(self, folder: str, poll_s: float = 5.0, settle_s: float = 60.0,
                 until_idle_s: float | None = None) -> None:
        super().__init__()
        if poll_s <= 0 or settle_s < 0 or (until_idle_s is not None and until_idle_s < 0):
            raise ValueError("poll_s must be > 0, settle_s and until_idle_s >= 0")
        self._folder = str(folder)
        self._fn = _WatchFn(float(poll_s), float(settle_s),
                            None if until_idle_s is None else float(until_idle_s))

    def expand(self, pbegin):
        return (pbegin | "Start" >> beam.Impulse()
                | "Folder" >> beam.Map(lambda _, folder=self._folder: folder)
                | "Poll" >> beam.ParDo(self._fn))


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class _LabelGrowingFn(beam.DoFn):
    STREAM = ReadModifyWriteStateSpec("stream", PickleCoder())

    def __init__(self, model_dir, output_dir, records_dir, engine, expected_version):
        self._model_dir, self._output_dir, self._engine = model_dir, output_dir, engine
        self._records_dir, self._expected_version = records_dir, expected_version

    def setup(self):
        from neurokube.models.bundle import load_expected
        bundle = load_expected(self._model_dir, self._engine, self._expected_version)
        self._bundle, self._detector = bundle, bundle.detector()
        self._labelled = counter("stream_seconds_labelled")
        self._dead = counter("dead_letters_stream")

    def process(self, element, stream_state=beam.DoFn.StateParam(STREAM)):
        from neurokube.core.edf import open_recording
        from neurokube.models.streaming import RecordingStream
        name, seen = element
        stream = stream_state.read()
        if stream is not None and stream.final and not seen.final \
                and seen.size > stream.bytes_seen:
            _LOG.warning("%s grew after it was finalised: labelling it again from its start "
                         "(a pause longer than --settle_s)", name)
            remove_if_present(output_path(self._records_dir, name, FINISHED_SUFFIX))
            stream = None
        if stream is None:
            bundle = self._bundle
            stream = RecordingStream(name, bundle.feature_spec, bundle.config, bundle.p3)
        if stream.final or stream.dead:
            return
        done_before = stream.steps_done
        try:
            if seen.size < stream.bytes_seen:
                raise RecordingError(f"file truncated while being followed: {seen.size} "
                                     f"bytes, {stream.bytes_seen} before", stage="read")
            stream.bytes_seen = seen.size
            # Once final, the header must hold as in `label`: a stated record count the
            # file does not reach is a truncated copy, not a finished recording.
            with open_recording(seen.path, self._bundle.feature_spec,
                                growing=not seen.final) as src:
                new = stream.advance(src, self._detector, final=seen.final, now=_now_iso())
        except (RecordingError, FileNotFoundError, OSError) as exc:
            truncated = "truncated while being followed" in str(exc)
            if not (seen.final or truncated):
                return  # a file caught mid-write: the next observation tries again
            stream.dead = True
            stream_state.write(stream)
            letter = dead_letter(name, "stream", exc)
            atomic_write_text(output_path(self._records_dir, name, DEAD_LETTER_SUFFIX),
                              letter.to_json() + "\n")
            for suffix in (WRITER_SUFFIXES["csv_bi"], EVENTS_LOG_SUFFIX):
                remove_if_present(output_path(self._output_dir, name, suffix))
            self._dead.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
            return
        self._labelled.inc(stream.steps_done - done_before)
        stream_state.write(stream)
        if new or seen.final or stream.steps_done > done_before:
            self._write(name, stream)
        if stream.final:
            record = {"path": name, "duration_s": stream.duration_s,
                      "events": len(stream.online.events),
                      "model_version": self._bundle.version}
            atomic_write_text(output_path(self._records_dir, name, FINISHED_SUFFIX),
                              json.dumps(record, sort_keys=True) + "\n")
            yield name, stream.duration_s, len(stream.online.events)

    def _write(self, name, stream):
        base = output_path(self._output_dir, name, "")
        bname = base.replace("\\", "/").rsplit("/", 1)[-1]
        duration = stream.duration_s if stream.final else float(stream.steps_done)
        events = [Event(start, stop, "seiz", confidence)
                  for start, stop, confidence in stream.events()]
        text = WRITERS["csv_bi"](Annotation(bname=bname, duration_s=duration, events=events,
                                            source=name))
        atomic_write_text(base + WRITER_SUFFIXES["csv_bi"], text)
        lines = "".join(json.dumps(d, sort_keys=True) + "\n" for d in stream.decisions)
        atomic_write_text(base + EVENTS_LOG_SUFFIX, lines)


class LabelGrowingRecordings(beam.PTransform):
    """(name, :class:`Observation`) -> ``{MAIN: (name, duration_s, events) per finished
    recording, DEAD_LETTER: dead letters}``; writes the event files as it goes, and a
    record per finished recording (``<name>.finished.json``) or dead letter
    (``<name>.dead_letter.json``) under ``records_dir`` (see the module doc).
    ``model_dir`` is a causal bundle's location (:func:`~neurokube.models.bundle.
    bundle_location`); ``engine``: ``numpy`` or ``keras``; ``expected_version``: the
    version the job was built for (a worker that loads another fails)."""

    def __init__(self, model_dir: str, output_dir: str, records_dir: str,
                 engine: str = "numpy", expected_version: str | None = None) -> None:
        super().__init__()
        self._fn = _LabelGrowingFn(str(model_dir), str(output_dir), str(records_dir), engine,
                                   expected_version)

    def expand(self, observations):
        return observations | "Label" >> beam.ParDo(self._fn).with_outputs(
            DEAD_LETTER, main=MAIN)
