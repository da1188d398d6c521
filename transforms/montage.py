"""Signal preparation: channel labels, montage kind, resampling and the TCP montage.

Pure NumPy/SciPy functions (no Beam), following ``../shared/docs/algorithm.md`` §1.
Channels are looked up by label, never by position.

Example::

    kind = montage_kind(labels, path)             # 'AR', 'LE', 'AR_A' or 'LE_A'
    tcp = to_tcp(signals_uv, labels, fs_hz, spec)   # TcpSignals, 250 Hz, 22 or 20 channels
"""
import dataclasses
import fractions
import math
import re

import numpy as np
from scipy import signal as sp_signal

from neurokube.transforms.dead_letters import RecordingError
from neurokube.transforms.feature_spec import EAR_ELECTRODES, TCP_CHANNELS, TCP_MONTAGE

MONTAGE_KINDS = ("AR", "LE", "AR_A", "LE_A")
# TUSZ folder names that state the reference.
_FOLDER_KINDS = {"01_tcp_ar": "AR", "02_tcp_le": "LE", "03_tcp_ar_a": "AR_A",
                 "04_tcp_le_a": "LE_A"}
_SUFFIX_REFERENCE = {"-REF": "AR", "-AVG": "AR", "-AR": "AR", "-LE": "LE"}
MONTAGE_ELECTRODES = frozenset(e for pair in TCP_MONTAGE for e in pair)


@dataclasses.dataclass
class TcpSignals:
    """A recording in the TCP montage.

    Attributes
    ----------
    data_uv : np.ndarray
        float32, shape (n_channels, n_samples), µV at ``fs_hz``; the channels present.
    channels : tuple of str
        TCP channel names in montage order (22, or 20 without A1/A2).
    mask : np.ndarray
        bool, shape (22,): which of the 22 TCP channels are present.
    fs_hz : int
        Sampling rate after resampling.
    montage : str
        One of :data:`MONTAGE_KINDS`.
    """

    data_uv: np.ndarray
    channels: tuple
    mask: np.ndarray
    fs_hz: int
    montage: str

    @property
    def duration_s(self):
        return self.data_uv.shape[1] / self.fs_hz


def normalise_label(label, spec):
    """Normalise an EDF channel label: ``'EEG Fp1-REF'`` -> ``'FP1'``, ``'T7'`` -> ``'T3'``."""
    name = re.sub(r"\s+", "", str(label).upper())
    for prefix in spec.label_prefixes_dropped:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
    for suffix in spec.label_suffixes_dropped:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return dict(spec.label_aliases).get(name, name)


def label_reference(label):
    """The reference a raw label states (``'AR'``, ``'LE'``) or None when it states none."""
    name = re.sub(r"\s+", "", str(label).upper())
    for suffix, kind in _SUFFIX_REFERENCE.items():
        if name.endswith(suffix):
            return kind
    return None


def is_montage_electrode(normalised, spec):
    """Whether a normalised label names an electrode of the TCP montage (not a non-EEG channel)."""
    if any(marker in normalised for marker in spec.non_eeg_markers):
        return False
    return normalised in MONTAGE_ELECTRODES


def folder_montage_kind(path):
    """The montage kind a TUSZ folder name states (``01_tcp_ar`` -> ``'AR'``), else None."""
    for part in reversed(re.split(r"[\\/]", str(path))):
        if part.lower() in _FOLDER_KINDS:
            return _FOLDER_KINDS[part.lower()]
    return None


def montage_kind(raw_labels, path, spec):
    """Montage kind from the labels (reference suffix, A1/A2 presence) and the folder name.

    The labels decide the reference when they state one (the majority suffix of the
    montage electrodes); otherwise the folder name; otherwise average reference. The
    ``_A`` variants are those without both A1 and A2.
    """
    electrodes = {}
    for raw in raw_labels:
        name = normalise_label(raw, spec)
        if is_montage_electrode(name, spec):
            electrodes.setdefault(name, raw)
    refs = [label_reference(raw) for raw in electrodes.values()]
    refs = [r for r in refs if r is not None]
    folder_kind = folder_montage_kind(path)
    if refs:
        reference = max(sorted(set(refs)), key=refs.count)
    elif folder_kind is not None:
        reference = folder_kind.split("_")[0]
    else:
        reference = "AR"
    has_ears = all(e in electrodes for e in EAR_ELECTRODES)
    return reference if has_ears else f"{reference}_A"


def resample_ratio(fs_hz, spec):
    """(up, down) of the polyphase resampler taking ``fs_hz`` to ``spec.target_fs_hz``.

    Raises
    ------
    RecordingError
        If the rate is below ``spec.min_fs_hz`` or needs a factor above
        ``spec.max_resample_factor``.
    """
    if not math.isfinite(fs_hz) or fs_hz < spec.min_fs_hz:
        raise RecordingError(
            f"unsupported sampling rate {fs_hz:g} Hz (minimum {spec.min_fs_hz:g} Hz)")
    ratio = fractions.Fraction(spec.target_fs_hz) / fractions.Fraction(fs_hz).limit_denominator(
        spec.max_resample_factor)
    if abs(float(fractions.Fraction(spec.target_fs_hz) / ratio) - fs_hz) > 1e-6 * fs_hz or max(
            ratio.numerator, ratio.denominator) > spec.max_resample_factor:
        raise RecordingError(
            f"unsupported sampling rate {fs_hz:g} Hz: no polyphase ratio to "
            f"{spec.target_fs_hz} Hz with factors up to {spec.max_resample_factor}")
    return ratio.numerator, ratio.denominator


def resample(x, fs_hz, spec):
    """Resample (channels, samples) float64 µV from ``fs_hz`` to ``spec.target_fs_hz``."""
    up, down = resample_ratio(fs_hz, spec)
    if up == down:
        return np.asarray(x, dtype=np.float64)
    return sp_signal.resample_poly(x, up, down, axis=-1)


def to_tcp(signals_uv, raw_labels, fs_hz, spec, path=""):
    """Build the TCP bipolar montage at ``spec.target_fs_hz`` from referential channels.

    Parameters
    ----------
    signals_uv : sequence of np.ndarray
        One 1-D array per channel, physical µV, in the order of ``raw_labels``.
    raw_labels : sequence of str
        The EDF labels, as written in the file.
    fs_hz : sequence of float
        Sampling rate of each channel, Hz.
    spec : FeatureSpec
    path : str
        The recording's path (its folder may state the montage kind).

    Returns
    -------
    TcpSignals

    Raises
    ------
    RecordingError
        Missing montage electrodes, unsupported rates, or no samples.
    """
    kind = montage_kind(raw_labels, path, spec)
    wanted = {}
    for i, raw in enumerate(raw_labels):
        name = normalise_label(raw, spec)
        if is_montage_electrode(name, spec) and name not in wanted:
            wanted[name] = i
    needed = sorted(MONTAGE_ELECTRODES - (set(EAR_ELECTRODES) if kind.endswith("_A") else set()))
    missing = [e for e in needed if e not in wanted]
    if missing:
        raise RecordingError(f"montage electrodes missing: {', '.join(missing)} (montage {kind})")
    # Resample electrode by electrode (mixed-rate files work, and no stacked copy of the
    # whole recording is made), cut to the shortest channel of each rate.
    shortest = {}
    for name in needed:
        rate = float(fs_hz[wanted[name]])
        shortest[rate] = min(shortest.get(rate, np.inf), len(signals_uv[wanted[name]]))
    electrodes = {}
    for name in needed:
        rate = float(fs_hz[wanted[name]])
        x = np.asarray(signals_uv[wanted[name]][:int(shortest[rate])], dtype=np.float64)
        electrodes[name] = resample(x[None, :], rate, spec)[0]
    n_samples = min(len(v) for v in electrodes.values())
    if n_samples == 0:
        raise RecordingError("no samples in the montage channels")
    mask = np.array([not (kind.endswith("_A") and (a in EAR_ELECTRODES or b in EAR_ELECTRODES))
                     for a, b in TCP_MONTAGE])
    pairs = [pair for pair, keep in zip(TCP_MONTAGE, mask) if keep]
    # Fresh arrays (minuend - subtrahend), never an in-place subtraction.
    data = np.empty((len(pairs), n_samples), dtype=np.float32)
    for row, (a, b) in enumerate(pairs):
        np.subtract(electrodes[a][:n_samples], electrodes[b][:n_samples], out=data[row],
                    casting="same_kind")
    channels = tuple(ch for ch, keep in zip(TCP_CHANNELS, mask) if keep)
    return TcpSignals(data_uv=data, channels=channels, mask=mask, fs_hz=spec.target_fs_hz,
                      montage=kind)


def checked_tcp(signals_uv, raw_labels, fs_hz, spec, path, file_labels, from_start=True):
    """:func:`to_tcp` for a span read from a file, with the errors a user needs.

    A montage error also lists every channel of the file (``file_labels``); a span that
    starts the recording (``from_start``) and is shorter than one frame is refused.
    """
    try:
        tcp = to_tcp(signals_uv, raw_labels, fs_hz, spec, path=path)
    except RecordingError as exc:
        raise RecordingError(f"{exc} (channels in file: {', '.join(file_labels)})") from exc
    if from_start and tcp.data_uv.shape[1] < spec.hop_samples:
        raise RecordingError(f"recording shorter than one {spec.frame_s:g} s frame "
                             f"({tcp.data_uv.shape[1]} samples at {tcp.fs_hz} Hz)")
    return tcp
