"""The featurize job: EDF recordings -> LFCC feature files + dead letters.

Example::

    with beam.Pipeline(options=options) as p:
        build_featurize_pipeline(p, inputs, output_dir, spec)
"""
import platform

import apache_beam as beam

from neurokube import __version__
from neurokube.transforms.atomic_io import atomic_write_text, join
from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, DeadLetter
from neurokube.transforms.featurize import Featurize
from neurokube.transforms.writers import WriteDeadLetters, WriteFeatureFiles, WriteRunSummary

FEATURE_SPEC_FILE = "feature_spec.json"
SUMMARY_FILE = "featurize_run.json"


def build_featurize_pipeline(p, inputs, output_dir, spec):
    """Wire the featurize job into pipeline ``p``.

    Parameters
    ----------
    p : beam.Pipeline
    inputs : InputSet
        Recordings and the root their output paths are relative to.
    output_dir : str
    spec : FeatureSpec

    Returns
    -------
    dict
        ``{MAIN: source paths written, DEAD_LETTER: dead letters}``.
    """
    atomic_write_text(join(output_dir, FEATURE_SPEC_FILE), spec.to_json() + "\n")
    paths = (p
             | "ListRecordings" >> beam.Create(list(inputs.paths)).with_output_types(str)
             | "Distribute" >> beam.Reshuffle())
    feats = paths | "Featurize" >> Featurize(spec)
    written = feats[MAIN] | "Write" >> WriteFeatureFiles(output_dir, inputs.root, spec)
    dead = ((feats[DEAD_LETTER], written[DEAD_LETTER])
            | "AllDeadLetters" >> beam.Flatten().with_output_types(DeadLetter))
    _ = dead | "WriteDeadLetters" >> WriteDeadLetters(output_dir)
    _ = ({"results": written[MAIN], "dead_letters": dead}
         | "Summary" >> WriteRunSummary(join(output_dir, SUMMARY_FILE), {
             "inputs": len(inputs.paths), "input_root": inputs.root,
             "feature_spec": spec.to_dict(), "neurokube_version": __version__,
             "apache_beam_version": beam.__version__, "python": platform.python_version()}))
    return {MAIN: written[MAIN], DEAD_LETTER: dead}
