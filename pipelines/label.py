"""The label job: EDF recordings -> seizure events per recording + dead letters + run.json.

Example::

    with beam.Pipeline(options=options) as p:
        build_label_pipeline(p, inputs, "results/", bundle, handler, formats=["csv_bi"])
"""
import platform

import apache_beam as beam

from neurokube import __version__
from neurokube.transforms.atomic_io import check_output_location, join
from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, DeadLetter
from neurokube.transforms.detect import DetectSeizures, PrepareModelInputs
from neurokube.transforms.event_writers import WriteDetections
from neurokube.transforms.fingerprint import SKIPPED, FingerprintRecordings
from neurokube.transforms.writers import WriteDeadLetters, WriteRunSummary

RUN_FILE = "run.json"
# Recordings up to an hour are processed whole; longer ones in 20-minute chunks, which
# keeps a worker under 2 GB even for 24-hour, 512 Hz recordings.
DEFAULT_CHUNK_S = 1200.0
DEFAULT_WHOLE_MAX_S = 3600.0


def build_label_pipeline(p, inputs, output_dir, bundle, handler, formats=("csv_bi",),
                         chunk_s=DEFAULT_CHUNK_S, options_record=None, incremental=False,
                         whole_max_s=DEFAULT_WHOLE_MAX_S):
    """Wire the label job into pipeline ``p``.

    Parameters
    ----------
    p : beam.Pipeline
    inputs : InputSet
        Recordings and the root their output paths are relative to.
    output_dir : str
    bundle : ModelBundle
        The model (its feature spec, config and P3 parameters are used here; the
        handler loads the same bundle on the workers).
    handler : DetectorModelHandler
    formats : sequence of str
        Event-file formats; ``csv_bi`` is always written.
    chunk_s : float
        Chunk length for recordings longer than ``whole_max_s``, s.
    whole_max_s : float
        Recordings up to this long are processed whole, s.
    options_record : dict, optional
        Options to record in ``run.json``.
    incremental : bool
        Skip recordings whose ``<bname>.result.json`` names the same input fingerprint,
        model version and formats (counted as ``skipped_unchanged`` in ``run.json``).

    Every input ends as exactly one of: a result, a dead letter, a skipped recording.

    Raises
    ------
    FileNotFoundError
        ``output_dir`` is in a bucket that does not exist (checked before anything runs).

    Returns
    -------
    dict
        ``{MAIN: (path, duration_s) written, DEAD_LETTER: dead letters,
        SKIPPED: paths skipped as unchanged}``.
    """
    check_output_location(output_dir)
    formats = ["csv_bi"] + [f for f in dict.fromkeys(formats) if f != "csv_bi"]
    meta = {"model_version": bundle.version, "neurokube_version": __version__}
    paths = (p
             | "ListRecordings" >> beam.Create(list(inputs.paths)).with_output_types(str)
             | "Distribute" >> beam.Reshuffle())
    todo = paths | "Fingerprint" >> FingerprintRecordings(
        output_dir, inputs.root, bundle.version, formats, incremental)
    prepared = todo[MAIN] | "PrepareInputs" >> PrepareModelInputs(bundle.feature_spec,
                                                             bundle.config, chunk_s,
                                                             max(chunk_s, whole_max_s))
    found = prepared[MAIN] | "Detect" >> DetectSeizures(handler, bundle.p3,
                                                        bundle.config.step_s)
    written = found[MAIN] | "Write" >> WriteDetections(output_dir, inputs.root, formats, meta)
    dead = ((todo[DEAD_LETTER], prepared[DEAD_LETTER], found[DEAD_LETTER], written[DEAD_LETTER])
            | "AllDeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
    _ = dead | "WriteDeadLetters" >> WriteDeadLetters(output_dir)
    hours = written[MAIN] | "EegHours" >> beam.Map(lambda kv: kv[1] / 3600.0)
    recordings_failed = (dead | "FailedPaths" >> beam.Map(lambda d: d.path)
                         | "DistinctFailed" >> beam.Distinct())
    _ = ({"results": written[MAIN], "dead_letters": recordings_failed,
          SKIPPED: todo[SKIPPED]}
         | "Summary" >> WriteRunSummary(join(output_dir, RUN_FILE), {
             "inputs": len(inputs.paths), "input_root": inputs.root,
             "incremental": bool(incremental),
             "model_version": bundle.version, "formats": sorted(set(formats) | {"csv_bi"}),
             "chunk_s": chunk_s, "whole_max_s": max(chunk_s, whole_max_s),
             "options": options_record or {},
             "versions": {"neurokube": __version__, "apache_beam": beam.__version__,
                          "python": platform.python_version()}},
             sums={"eeg_hours": hours}))
    return {MAIN: written[MAIN], DEAD_LETTER: dead, SKIPPED: todo[SKIPPED]}
