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

With ``--incremental`` off no fingerprint is computed (the record then says ``null``):
hashing every byte of a corpus is only worth it when a later run will compare.

Example Usage::

    todo = sources | FingerprintRecordings(out, bundle.version, formats, incremental=True)
    todo[MAIN]       # (Source, fingerprint) to process
    todo[SKIPPED]    # names whose results are current
"""
import hashlib
import json
import logging
import os
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from neurokube.core.edf_header import check_regular_file
from neurokube.core.paths import is_local, local_path, output_path
from neurokube.transforms.stages import DEAD_LETTER, MAIN, StageFn, counter
from neurokube.transforms.write import RESULT_META_SUFFIX, format_path

SKIPPED = "skipped_unchanged"
_READ_BYTES = 8 << 20
_LOG = logging.getLogger(__name__)


def _missing(path):
    return FileNotFoundError(f"no such object: {path}")


def fingerprint(path: str | os.PathLike[str]) -> str:
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
    if is_local(path):
        check_regular_file(local_path(path))  # never hash a FIFO or a device: no end
    try:
        handle = open(local_path(path), "rb") if is_local(path) else FileSystems.open(path)
    except FileNotFoundError as exc:
        raise _missing(path) from exc
    with handle:
        for block in iter(lambda: handle.read(_READ_BYTES), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def result_meta_path(output_dir: str, name: str) -> str:
    """Where :mod:`~neurokube.transforms.write` records a recording's result."""
    return output_path(output_dir, name, RESULT_META_SUFFIX)


def read_result_meta(path: str) -> dict[str, Any] | None:
    """The JSON record at ``path``, or None if absent or unreadable (then: redo)."""
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        _LOG.warning("ignoring unreadable result record %s: %s", path, exc)
        return None


def is_current(meta: dict[str, Any] | None, fingerprint_: str | None, model_version: str,
               formats: Iterable[str]) -> bool:
    """Whether a result record answers for this input content, model and formats."""
    return (meta is not None and meta.get("input_fingerprint") == fingerprint_
            and meta.get("model_version") == model_version
            and set(formats) <= set(meta.get("formats") or ()))


def outputs_present(output_dir: str, name: str, formats: Iterable[str]) -> bool:
    """Whether every output file of ``formats`` exists for the recording ``name``."""
    return all(FileSystems.exists(format_path(output_dir, name, fmt)) for fmt in formats)


class _FingerprintOne:
    def __init__(self, output_dir, model_version, formats, incremental):
        self._output_dir = output_dir
        self._model_version, self._formats = model_version, tuple(formats)
        self._incremental = incremental
        self._skipped = counter("recordings_skipped_unchanged")

    def __call__(self, source):
        if not self._incremental:
            yield source, None
            return
        fp = fingerprint(source.url)
        meta = read_result_meta(result_meta_path(self._output_dir, source.name))
        if is_current(meta, fp, self._model_version, self._formats) and outputs_present(
                self._output_dir, source.name, self._formats):
            self._skipped.inc()
            yield beam.pvalue.TaggedOutput(SKIPPED, source.name)
            return
        yield source, fp


class FingerprintRecordings(beam.PTransform):
    """Sources -> ``(Source, fingerprint)``; with ``incremental``, current results are skipped.

    A result is current when its record names the same fingerprint, model version and
    formats and every one of its output files is present.

    Parameters
    ----------
    output_dir : str
    model_version : str
    formats : sequence of str
        Formats this run writes; a result lacking one of them is redone.
    incremental : bool

    Returns ``{MAIN: (Source, fingerprint), SKIPPED: names, DEAD_LETTER: unreadable inputs}``.

    Example Usage::

        todo = sources | FingerprintRecordings("out/", "3f2a...", ["csv_bi"], True)
    """

    def __init__(self, output_dir: str, model_version: str, formats: Iterable[str],
                 incremental: bool = False) -> None:
        super().__init__()
        if not output_dir:
            raise ValueError("output_dir is required")
        self._fn = StageFn("read", _FingerprintOne(str(output_dir), str(model_version),
                                                   tuple(formats), bool(incremental)))

    def expand(self, sources):
        out = sources | "Fingerprint" >> beam.ParDo(self._fn).with_outputs(
            SKIPPED, DEAD_LETTER, main=MAIN)
        return {MAIN: out[MAIN], SKIPPED: out[SKIPPED], DEAD_LETTER: out[DEAD_LETTER]}


__all__ = ["FingerprintRecordings", "SKIPPED", "fingerprint", "is_current",
           "outputs_present", "read_result_meta", "result_meta_path"]
