"""Job flags shared by the ``neurokube`` subcommands (runner flags stay Beam's own).

Runner settings (``--runner``, ``--direct_num_workers``...) come from ``runner_configs/``
and explicit Beam flags; the flags here describe the job.

Example::

    parser = argparse.ArgumentParser()
    add_io_arguments(parser)
"""
from neurokube.transforms.feature_spec import FeatureSpec


def add_io_arguments(parser):
    parser.add_argument("--input", dest="input",
                        help="recordings: a glob pattern, a folder (searched recursively for "
                             "*.edf) or a list file (.list/.txt, one path or URL per line); "
                             "local paths or gs:// URLs")
    parser.add_argument("--output", dest="output",
                        help="output folder (local path or gs:// URL)")


def require(options, *names):
    """Raise a clear error when required flags are missing."""
    missing = [f"--{n}" for n in names if not getattr(options, n, None)]
    if missing:
        raise ValueError(f"missing required flag(s): {', '.join(missing)}")


def load_feature_spec(path):
    """The reference :class:`FeatureSpec`, or the one stored as JSON at ``path``."""
    if not path:
        return FeatureSpec()
    from neurokube.transforms.atomic_io import read_bytes
    return FeatureSpec.from_json(read_bytes(path).decode("utf-8"))
