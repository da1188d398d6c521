"""Application flags of every NeuroKube job, as one Beam ``PipelineOptions`` subclass.

Runner flags (``--runner``, ``--direct_num_workers``...) stay Beam's own and usually
come from ``runner_configs/``; the flags here describe the job. The same definitions
feed the ``neurokube`` subcommands' ``--help``.

Example::

    opts = PipelineOptions(["--input", "corpus/", "--output", "out/"]).view_as(NeuroKubeOptions)
"""
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.transforms.feature_spec import FeatureSpec


def add_io_arguments(parser):
    parser.add_argument("--input", dest="input",
                        help="recordings: a glob pattern, a folder (searched recursively for "
                             "*.edf) or a list file (.list/.txt, one path or URL per line); "
                             "local paths or gs:// URLs")
    parser.add_argument("--output", dest="output",
                        help="output folder (local path or gs:// URL)")
    parser.add_argument("--feature_spec", dest="feature_spec", default=None,
                        help="JSON file with a feature specification (default: the "
                             "reference front end, or the model's for label)")


class NeuroKubeOptions(PipelineOptions):
    """Job flags shared by the NeuroKube pipelines."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_io_arguments(parser)


def require(options, *names):
    """Raise a clear error when required application flags are missing."""
    missing = [f"--{n}" for n in names if not getattr(options, n, None)]
    if missing:
        raise ValueError(f"missing required flag(s): {', '.join(missing)}")


def load_feature_spec(path):
    """The reference :class:`FeatureSpec`, or the one stored as JSON at ``path``."""
    if not path:
        return FeatureSpec()
    from neurokube.transforms.atomic_io import read_bytes
    return FeatureSpec.from_json(read_bytes(path).decode("utf-8"))
