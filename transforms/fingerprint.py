"""Input fingerprints and the ``--incremental`` skip: redo only what changed.

A fingerprint is a hash of a recording's *content*, never of its name or time stamps:

- ``gs://`` objects: the object's CRC32C that GCS keeps (Beam's
  ``FileSystems.checksum`` returns it; no download) plus its size in bytes,
  ``gcs-crc32c:<base64>:<bytes>``;
- anything else (local files, other file systems, whose ``FileSystems.checksum`` is
  the size only or an ETag that is not a content hash for multipart uploads): SHA-256
  of the bytes, streamed, ``sha256:<hex>``.

Each result's ``<bname>.result.json`` records it with the model version; an incremental
run skips a recording whose record names the same fingerprint, model version and (at
least) the requested formats.

Example Usage::

    todo = paths | FingerprintRecordings(out, inputs.root, bundle.version, formats,
                                         incremental=True)
    todo[MAIN]       # (path, fingerprint) to process
    todo[SKIPPED]    # paths whose results are current
"""
import hashlib
import json
import logging

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, StageDoFn, counter
from neurokube.transforms.edf_io import is_local
from neurokube.transforms.event_writers import RESULT_META_SUFFIX
from neurokube.transforms.writers import output_path

SKIPPED = "skipped_unchanged"
_READ_BYTES = 8 << 20
_LOG = logging.getLogger(__name__)


def _missing(path):
    return FileNotFoundError(f"no such object: {path}")


def fingerprint(path):
    """Content fingerprint of one recording (see the module docstring).

    Raises
    ------
    FileNotFoundError
        The file or object does not exist (``no such object: <path>``).
    """
    path = str(path)
    if path.startswith("gs://"):
        if not FileSystems.exists(path):
            raise _missing(path)
        crc = FileSystems.checksum(path)
        if not crc:  # an object without a stored CRC32C: hash its bytes instead
            return _sha256(path)
        size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
        return f"gcs-crc32c:{crc}:{size}"
    return _sha256(path)


def _sha256(path):
    digest = hashlib.sha256()
    local = path[len("file://"):] if path.startswith("file://") else path
    try:
        handle = open(local, "rb") if is_local(path) else FileSystems.open(path)
    except FileNotFoundError as exc:
        raise _missing(path) from exc
    with handle:
        for block in iter(lambda: handle.read(_READ_BYTES), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def result_meta_path(output_dir, source, root):
    """Where :mod:`~neurokube.transforms.event_writers` records a recording's result."""
    return output_path(output_dir, source, root, RESULT_META_SUFFIX)


def read_result_meta(path):
    """The JSON record at ``path``, or None if absent or unreadable (then: redo)."""
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        _LOG.warning("ignoring unreadable result record %s: %s", path, exc)
        return None


def is_current(meta, fingerprint_, model_version, formats):
    """Whether a result record answers for this input content, model and formats."""
    return (meta is not None and meta.get("input_fingerprint") == fingerprint_
            and meta.get("model_version") == model_version
            and set(formats) <= set(meta.get("formats") or ()))


class _FingerprintFn(StageDoFn):
    stage = "read"

    def __init__(self, output_dir, root, model_version, formats, incremental):
        super().__init__()
        self._output_dir, self._root = output_dir, root
        self._model_version, self._formats = model_version, tuple(formats)
        self._incremental = incremental
        self._skipped = counter("recordings_skipped_unchanged")

    def run(self, path):
        fp = fingerprint(path)
        if self._incremental:
            meta = read_result_meta(result_meta_path(self._output_dir, path, self._root))
            if is_current(meta, fp, self._model_version, self._formats):
                self._skipped.inc()
                yield beam.pvalue.TaggedOutput(SKIPPED, path)
                return
        yield path, fp


class FingerprintRecordings(beam.PTransform):
    """Paths -> ``(path, fingerprint)``; with ``incremental``, current results are skipped.

    Parameters
    ----------
    output_dir : str
    root : str
        Input root (outputs keep the recordings' paths relative to it).
    model_version : str
    formats : sequence of str
        Formats this run writes; a result lacking one of them is redone.
    incremental : bool

    Returns ``{MAIN: (path, fingerprint), SKIPPED: paths, DEAD_LETTER: unreadable inputs}``.

    Example Usage::

        todo = paths | FingerprintRecordings("out/", root, "3f2a...", ["csv_bi"], True)
    """

    def __init__(self, output_dir, root, model_version, formats, incremental=False):
        super().__init__()
        if not output_dir:
            raise ValueError("output_dir is required")
        self._fn = _FingerprintFn(str(output_dir), str(root), str(model_version),
                                  tuple(formats), bool(incremental))

    def expand(self, paths):
        out = paths | "Fingerprint" >> beam.ParDo(self._fn).with_outputs(
            SKIPPED, DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], SKIPPED: out[SKIPPED], DEAD_LETTER: out[DEAD_LETTER]}


__all__ = ["FingerprintRecordings", "SKIPPED", "fingerprint", "is_current",
           "read_result_meta", "result_meta_path"]
