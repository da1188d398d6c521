"""Atomic, idempotent file writes on local disks and Beam FileSystems (``gs://``...).

A result is written under a temporary name in the same folder, then renamed over the
final name: readers never see a half-written file, a failed write leaves nothing under
the final name, and a re-run overwrites instead of duplicating.

Example::

    atomic_write_bytes("out/a.npz", payload)
"""
import os
import uuid

from apache_beam.io.filesystems import FileSystems

from neurokube.transforms.edf_io import is_local

TMP_MARKER = ".tmp-"


def join(root, *parts):
    """Join path parts with '/' for URLs and with the OS separator for local paths."""
    if is_local(root):
        return os.path.join(root, *parts)
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts]])


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (temporary name, then rename).

    Parameters
    ----------
    path : str
        Final local path or FileSystems URL; missing local folders are created.
    data : bytes
    """
    path = str(path)
    folder, name = path.rsplit("/", 1) if "/" in path else (".", path)
    tmp = f"{folder}/{TMP_MARKER}{uuid.uuid4().hex[:12]}-{name}"
    if is_local(path):
        os.makedirs(folder, exist_ok=True)
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path
    try:
        with FileSystems.create(tmp) as handle:
            handle.write(data)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise
    return path


def check_output_location(output_dir):
    """Fail fast, before a pipeline starts, if ``output_dir`` cannot hold results.

    A ``gs://`` output needs its bucket to exist (buckets are never created here); a
    local output folder is created if missing.

    Raises
    ------
    FileNotFoundError
        The bucket does not exist; the message names it.
    """
    output_dir = str(output_dir)
    if output_dir.startswith("gs://"):
        bucket = output_dir[len("gs://"):].split("/", 1)[0]
        if not bucket:
            raise ValueError(f"output {output_dir!r} names no bucket")
        from apache_beam.io.gcp.gcsio import GcsIO
        if GcsIO().get_bucket(bucket) is None:
            raise FileNotFoundError(f"output bucket gs://{bucket} does not exist (create it "
                                    f"first; output {output_dir})")
    elif is_local(output_dir):
        os.makedirs(output_dir[len("file://"):] if output_dir.startswith("file://")
                    else output_dir, exist_ok=True)
    return output_dir


def atomic_write_text(path, text):
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_bytes(path):
    """Read a whole local file or FileSystems object."""
    with FileSystems.open(str(path)) as handle:
        return handle.read()
