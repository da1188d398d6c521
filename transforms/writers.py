"""Beam composites that write results, dead letters and the run summary atomically.

Example Usage::

    written = feats | WriteFeatureFiles(output_dir, inputs.root, spec)
    _ = dead | WriteDeadLetters(output_dir)
"""
import io
import json

import apache_beam as beam
import numpy as np

from neurokube.transforms.atomic_io import atomic_write_bytes, atomic_write_text, join
from neurokube.transforms.dead_letters import (
    DEAD_LETTER, MAIN, DeadLetter, StageDoFn, counter)
from neurokube.transforms.sources import relative_path

DEAD_LETTERS_FILE = "dead_letters.jsonl"


def output_path(output_dir, source, root, suffix):
    """``output_dir/<source's folder relative to root>/<bname><suffix>``."""
    rel = relative_path(source, root)
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    return join(output_dir, stem + suffix)


def feature_file_bytes(rec, spec):
    """The ``.npz`` payload of one :class:`FeatureRecording`."""
    buffer = io.BytesIO()
    np.savez(buffer, features=rec.features.astype(np.float32, copy=False),
             channels=np.array(rec.channels), mask=np.asarray(rec.mask, dtype=bool),
             frame_s=np.float64(rec.frame_s), duration_s=np.float64(rec.duration_s),
             montage=np.array(rec.montage), source=np.array(rec.path),
             feature_spec=np.array(spec.to_json()))
    return buffer.getvalue()


class _WriteFeaturesFn(StageDoFn):
    stage = "write"

    def __init__(self, output_dir, root, spec):
        super().__init__()
        self._output_dir, self._root, self._spec = output_dir, root, spec
        self._written = counter("results_written")

    def run(self, rec):
        path = output_path(self._output_dir, rec.path, self._root, ".npz")
        atomic_write_bytes(path, feature_file_bytes(rec, self._spec))
        self._written.inc()
        yield rec.path


class WriteFeatureFiles(beam.PTransform):
    """:class:`FeatureRecording` -> one ``.npz`` each; emits the source paths written.

    Returns ``{MAIN: source paths, DEAD_LETTER: write failures}``.

    Example Usage::

        written = feats | WriteFeatureFiles("out/", inputs.root, FeatureSpec())
    """

    def __init__(self, output_dir, root, spec):
        super().__init__()
        if not output_dir:
            raise ValueError("output_dir is required")
        self._fn = _WriteFeaturesFn(str(output_dir), str(root), spec)

    def expand(self, feats):
        outputs = feats | "WriteNpz" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main=MAIN)
        return {MAIN: outputs[MAIN], DEAD_LETTER: outputs[DEAD_LETTER]}


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

    def __init__(self, output_dir):
        super().__init__()
        self._path = join(str(output_dir), DEAD_LETTERS_FILE)

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

    def __init__(self, path, extra, sums=None):
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


__all__ = ["DeadLetter", "WriteDeadLetters", "WriteFeatureFiles", "WriteRunSummary",
           "output_path", "DEAD_LETTERS_FILE"]
