"""Feature files (``.npz``): written chunk by chunk in bounded memory, read back whole.

Keys: ``features`` (float32, present channels × frames × 26, un-normalised), ``channels``
(their TCP names), ``mask`` (bool, 22), ``reference`` (per present channel, the
recording's median E_f and c1..c7, see
:class:`~neurokube.core.feature_stream.RecordingStats`), ``flat_channels``,
``frame_s``, ``duration_s``, ``montage``, ``source`` (the recording, relative to the
input root) and ``feature_spec`` (JSON). The features of a long recording never sit in
memory whole: each chunk is appended to a local scratch file, then every channel's rows
are copied into the archive's ``features`` member.

Example::

    write_feature_file("out/a.npz", chunks, spec, source="s001/a.edf")
    data = read_feature_file("out/a.npz")      # dict of arrays
"""
import io
import os
import tempfile
import zipfile
from typing import Iterable

import numpy as np

from neurokube.core.feature_spec import TCP_CHANNELS, FeatureSpec
from neurokube.core.feature_stream import FeatureChunk
from neurokube.core.paths import atomic_copy_from_local, read_bytes

_NPY_VERSION = (2, 0)
# Fixed member times: the same features give the same bytes (re-runs compare equal).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _member(name):
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    return info


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), version=_NPY_VERSION)
    return buffer.getvalue()


def write_feature_file(path: str, chunks: Iterable[FeatureChunk], spec: FeatureSpec,
                       source: str) -> str:
    """Write the feature file of one recording from its chunks (in order), atomically.

    Parameters
    ----------
    path : str
        Final local path or FileSystems URL.
    chunks : iterable of FeatureChunk
        From :func:`~neurokube.core.feature_stream.iter_feature_chunks` (context 0).
    spec : FeatureSpec
    source : str
        Recording name stored in the file.
    """
    with tempfile.TemporaryDirectory(prefix="neurokube-npz-") as scratch:
        raw_path = os.path.join(scratch, "features.raw")
        spans, last = [], None
        with open(raw_path, "wb") as raw:
            for chunk in chunks:
                own = chunk.features[chunk.stats.mask][
                    :, chunk.lo_frame - chunk.first_frame:chunk.hi_frame - chunk.first_frame]
                spans.append((raw.tell(), own.shape[1]))
                raw.write(np.ascontiguousarray(own, np.float32).tobytes())
                last = chunk
        stats = last.stats
        n_channels = int(stats.mask.sum())
        n_frames = sum(n for _, n in spans)
        archive = os.path.join(scratch, "features.npz")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as npz:
            with npz.open(_member("features.npy"), "w", force_zip64=True) as member, \
                    open(raw_path, "rb") as raw:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                          "fortran_order": False,
                          "shape": (n_channels, n_frames, spec.n_features)}
                np.lib.format.write_array_header_2_0(member, header)
                row_bytes = spec.n_features * 4
                for c in range(n_channels):  # channel-major: each channel's rows in turn
                    for offset, n in spans:
                        raw.seek(offset + c * n * row_bytes)
                        member.write(raw.read(n * row_bytes))
            others = {
                "channels": np.array([n for n, m in zip(TCP_CHANNELS, stats.mask) if m]),
                "mask": np.asarray(stats.mask, bool),
                "reference": stats.reference[stats.mask].astype(np.float32),
                "flat_channels": np.array(stats.flat_channels, dtype=str),
                "frame_s": np.float64(spec.frame_s),
                "duration_s": np.float64(last.duration_s),
                "montage": np.array(stats.montage), "source": np.array(source),
                "feature_spec": np.array(spec.to_json())}
            for key, value in others.items():
                npz.writestr(_member(f"{key}.npy"), _npy_bytes(value))
        return atomic_copy_from_local(archive, path)


def read_feature_file(path: str) -> dict[str, np.ndarray]:
    """All arrays of a feature file (local or remote), as a dict."""
    with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
