"""Beam composites from listed recordings to LFCC feature files, with dead letters.

Example Usage::

    accepted = sources | "Listed" >> AcceptListed()
    written = accepted[MAIN] | Featurize(spec, "features/", chunk_s=1200, whole_max_s=3600)
    written[MAIN]          # names of the recordings written
"""
from typing import Iterator

import apache_beam as beam

from neurokube.core.edf import open_recording
from neurokube.core.errors import RecordingError
from neurokube.core.feature_files import write_feature_file
from neurokube.core.feature_spec import FeatureSpec
from neurokube.core.feature_stream import iter_feature_chunks
from neurokube.core.paths import output_path
from neurokube.core.sources import InputSet, Source
from neurokube.transforms.stages import Stage, counter, distribution, stage_of

FEATURE_SUFFIX = ".npz"


def accept_listed(source: Source) -> Iterator[Source]:
    """Pass a listed source on, or fail it (stage ``list``) with the problem found."""
    if source.problem:
        raise RecordingError(source.problem, stage="list")
    yield source


class AcceptListed(beam.PTransform):
    """Sources -> ``{MAIN: sources that can be opened, DEAD_LETTER: the others}``."""

    def expand(self, sources):
        return sources | "AcceptListed" >> Stage("list", accept_listed, output_type=Source)


class ReadSources(beam.PTransform):
    """An :class:`~neurokube.core.sources.InputSet` -> the job's sources, spread over the
    workers: ``{MAIN: sources that can be opened, DEAD_LETTER: the others}``.

    Example Usage::

        accepted = p | ReadSources(list_recordings("corpus/edf"))
    """

    def __init__(self, inputs: InputSet) -> None:
        super().__init__()
        self._sources = list(inputs.sources)

    def expand(self, pbegin):
        return (pbegin
                | "ListRecordings" >> beam.Create(self._sources)
                | "Distribute" >> beam.Reshuffle()
                | "Accept" >> AcceptListed())


class _FeaturizeOne:
    """Read, montage, filter and featurize one recording; stream its feature file out."""

    def __init__(self, spec, output_dir, chunk_s, whole_max_s):
        self._spec, self._output_dir = spec, output_dir
        self._chunk_s, self._whole_max_s = chunk_s, whole_max_s
        self._done = counter("recordings_featurized")
        self._frames = counter("feature_frames")
        self._eeg_ms = distribution("recording_duration_ms")

    def __call__(self, source: Source):
        path = output_path(self._output_dir, source.name, FEATURE_SUFFIX)
        with open_recording(source.url, self._spec) as src:
            chunks = iter_feature_chunks(src, self._spec, self._chunk_s, self._whole_max_s)
            with stage_of("write", when=(OSError,)):
                write_feature_file(path, chunks, self._spec, source=source.name)
            duration_s = src.duration_s
        self._done.inc()
        self._frames.inc(int(duration_s / self._spec.frame_s))
        self._eeg_ms.update(int(duration_s * 1000))
        yield source.name


class Featurize(beam.PTransform):
    """Sources -> one ``.npz`` feature file each under ``output_dir`` (bounded memory).

    Returns ``{MAIN: names written, DEAD_LETTER: dead letters}``; a failure is reported
    with the stage where it happened (``read``, ``montage``, ``features``, ``write``).

    Example Usage::

        written = sources | Featurize(FeatureSpec(), "features/", 1200, 3600)
    """

    def __init__(self, spec: FeatureSpec, output_dir: str, chunk_s: float,
                 whole_max_s: float) -> None:
        super().__init__()
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"spec must be a FeatureSpec, got {type(spec).__name__}")
        if not output_dir:
            raise ValueError("output_dir is required")
        self._fn = _FeaturizeOne(spec, str(output_dir), float(chunk_s), float(whole_max_s))

    def expand(self, sources):
        return sources | "ComputeAndWrite" >> Stage("features", self._fn, output_type=str)
