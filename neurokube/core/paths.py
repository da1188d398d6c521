"""Every byte in and out: local paths and ``gs://`` (any Beam FileSystems URL).

The one module of the core that talks to storage (through Beam's ``FileSystems``, the
only Beam API the core uses). Writes are atomic and idempotent: a result is written under
a temporary name in the same folder, then renamed over the final name, so readers never
see a half-written file, a failed write leaves nothing under the final name, and a
re-run overwrites instead of duplicating.

Example::

    atomic_write_bytes("out/a.npz", payload)
    text = read_text("gs://bucket/ref/a.csv_bi")
"""
import contextlib
import os
import shutil
import tempfile
import uuid
from typing import Iterator, Sequence

from apache_beam.io.filesystems import FileSystems

TMP_MARKER = ".tmp-"
_COPY_CHUNK_BYTES = 16 << 20


def is_local(path: str | os.PathLike[str]) -> bool:
    """True for a local path or a ``file://`` URL."""
    return "://" not in str(path) or str(path).startswith("file://")


def local_path(path: str | os.PathLike[str]) -> str:
    """A local path without its ``file://`` scheme."""
    path = str(path)
    return path[len("file://"):] if path.startswith("file://") else path


def join(root: str | os.PathLike[str], *parts: str) -> str:
    """Join path parts with '/' for URLs and with the OS separator for local paths."""
    if is_local(root):
        return os.path.join(local_path(root), *parts)
    return "/".join([str(root).rstrip("/"), *[p.strip("/") for p in parts]])


def exists(path: str | os.PathLike[str]) -> bool:
    """Whether a local file or FileSystems object exists."""
    return os.path.exists(local_path(path)) if is_local(path) else FileSystems.exists(str(path))


@contextlib.contextmanager
def local_copy(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a local file name for ``path``: the path itself, or a staged temporary copy."""
    if is_local(path):
        yield local_path(path)
        return
    if not FileSystems.exists(str(path)):
        raise FileNotFoundError(f"no such object: {path}")
    suffix = os.path.splitext(str(path))[1] or ".edf"
    fd, tmp = tempfile.mkstemp(prefix="neurokube-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as dst, FileSystems.open(str(path)) as src:
            shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
        yield tmp
    finally:
        os.unlink(tmp)


def _atomic_write(path, write):
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    A failure removes the temporary file and leaves ``path`` as it was.
    """
    path = local_path(path) if is_local(path) else str(path)
    folder, name = path.rsplit("/", 1) if "/" in path else (".", path)
    tmp = f"{folder}/{TMP_MARKER}{uuid.uuid4().hex[:12]}-{name}"
    if is_local(path):
        os.makedirs(folder, exist_ok=True)
        try:
            with open(tmp, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path
    try:
        with FileSystems.create(tmp) as handle:
            write(handle)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` atomically (temporary name, then rename).

    Parameters
    ----------
    path : str
        Final local path or FileSystems URL; missing local folders are created.
    data : bytes
    """
    return _atomic_write(path, lambda handle: handle.write(data))


def atomic_copy_from_local(local_file: str, path: str | os.PathLike[str]) -> str:
    """Copy a local file to ``path`` (local or remote) atomically, streaming."""
    def copy(handle):
        with open(local_file, "rb") as src:
            shutil.copyfileobj(src, handle, _COPY_CHUNK_BYTES)
    return _atomic_write(path, copy)


def check_output_location(output_dir: str | os.PathLike[str]) -> str:
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
        os.makedirs(local_path(output_dir), exist_ok=True)
    return output_dir


def atomic_write_text(path: str | os.PathLike[str], text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_if_present(path: str | os.PathLike[str]) -> None:
    """Delete a local file or FileSystems object if it exists."""
    if exists(path):
        FileSystems.delete([str(path)])


def match_remote(pattern: str) -> list[str]:
    """Sorted URLs of the FileSystems objects that match a glob ``pattern`` (``**`` spans
    folders)."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def download_files(url: str, names: Sequence[str], dest: str) -> list[str]:
    """Copy those of the objects ``url``/NAME (``names``) that exist into the local folder
    ``dest``; returns the names copied."""
    os.makedirs(dest, exist_ok=True)
    copied = []
    for name in names:
        source = join(url, name)
        if FileSystems.exists(source):
            with open(os.path.join(dest, name), "wb") as dst, FileSystems.open(source) as src:
                shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
            copied.append(name)
    return copied


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole local file or FileSystems object."""
    if is_local(path):
        with open(local_path(path), "rb") as handle:
            return handle.read()
    with FileSystems.open(str(path)) as handle:
        return handle.read()


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a whole UTF-8 text file, local or remote."""
    return read_bytes(path).decode("utf-8")


def output_path(output_dir: str | os.PathLike[str], name: str, suffix: str) -> str:
    """Where a recording's output with ``suffix`` goes: ``output_dir/<name without its
    extension><suffix>``.

    ``name`` is a :class:`~neurokube.core.sources.Source` name (relative, no ``..``);
    the result is checked to lie under ``output_dir``.
    """
    stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
    parts = [p for p in stem.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"recording name {name!r} is not a safe relative path")
    parts[-1] += suffix
    return join(str(output_dir), *parts)
