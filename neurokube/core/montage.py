"""Signal preparation: channel labels, derivation plans, resampling and the TCP montage.

Pure NumPy/SciPy (``../shared/docs/algorithm.md`` §1). Channels are looked up by label,
never by position. Every EEG channel of a file is an edge between two electrodes: a
referential channel (``EEG FP1-REF``, ``Fp1.``, ``EEG Fp1``) joins its electrode to the
common reference, a bipolar one (CHB-MIT's ``FP1-F7``) joins its two electrodes. A TCP
channel ``a-b`` is the signed sum of the channels along the shortest path from ``a`` to
``b`` (directly, through the reference, or by chaining derivations such as
``T3-C3 = T3-T5 + T5-O1 - (P3-O1) - (C3-P3)``). A TCP channel no path reaches is masked;
a recording with fewer than ``spec.min_tcp_channels`` buildable channels is refused with
the labels it holds.

Linked ears: a file whose referential channels lack A1/A2 but which holds an ``A2-A1``
derivation (EEGMAT's ``EEG A2-A1``) is read as referenced to (A1 + A2) / 2, so that
A1 - ref = -(A2-A1)/2 and A2 - ref = (A2-A1)/2 (``spec.linked_ears_from_ear_derivation``).

Example::

    plan = derivation_plan(labels, spec)          # which channels build which TCP channel
    tcp = to_tcp(signals_uv, labels, fs_hz, spec)   # TcpSignals at 250 Hz, masked
"""
import collections
import dataclasses
import fractions
import math
import re
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import EAR_ELECTRODES, TCP_CHANNELS, TCP_MONTAGE, FeatureSpec

REFERENCE = "REF"
# TUSZ folder names that state the reference.
_FOLDER_KINDS = {"01_tcp_ar": "AR", "02_tcp_le": "LE", "03_tcp_ar_a": "AR_A",
                 "04_tcp_le_a": "LE_A"}
_SUFFIX_REFERENCE = {"-REF": "AR", "-AVG": "AR", "-AR": "AR", "-LE": "LE", "-A1A2": "LE",
                     "-A1+A2": "LE"}
# 10-20/10-10 electrode names (after aliasing): a letter group and a number or Z.
_ELECTRODE = re.compile(r"^(FP|AF|F|FT|FC|C|CP|T|TP|P|PO|O|A|M|I|N)(Z|\d{1,2})$")
MONTAGE_ELECTRODES = frozenset(e for pair in TCP_MONTAGE for e in pair)


@dataclasses.dataclass
class TcpSignals:
    """A recording (or a span of it) in the TCP montage.

    Attributes
    ----------
    data_uv : np.ndarray
        float32, (n_present, n_samples), µV at ``fs_hz``: the channels present.
    channels : tuple of str
        TCP names of the rows of ``data_uv``, in montage order.
    mask : np.ndarray
        bool (22,): which TCP channels are present.
    fs_hz : int
        Sampling rate after resampling.
    montage : str
        ``AR``, ``LE`` (``_A`` without A1/A2 channels), or ``BIPOLAR``.
    """

    data_uv: np.ndarray
    channels: tuple
    mask: np.ndarray
    fs_hz: int
    montage: str

    @property
    def duration_s(self) -> float:
        return self.data_uv.shape[1] / self.fs_hz


@dataclasses.dataclass(frozen=True)
class DerivationPlan:
    """How each TCP channel is built from a file's channels.

    Attributes
    ----------
    weights : tuple
        Per TCP channel, ``((file channel index, coefficient), ...)`` or ``None`` when
        it cannot be built.
    montage : str
        Montage kind (see :class:`TcpSignals`).
    """

    weights: tuple
    montage: str

    @property
    def mask(self) -> np.ndarray:
        return np.array([w is not None for w in self.weights])

    @property
    def channels_used(self) -> list[int]:
        """Sorted file channel indices any TCP channel needs."""
        return sorted({i for w in self.weights if w for i, _ in w})


def _compact(label: str) -> str:
    return re.sub(r"\s+", "", str(label).upper())


def _strip(name: str, spec: FeatureSpec) -> str:
    for prefix in spec.label_prefixes_dropped:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
    return name.strip(spec.label_padding_chars)


def _electrode(name: str, spec: FeatureSpec) -> Optional[str]:
    name = name.strip(spec.label_padding_chars)
    name = dict(spec.label_aliases).get(name, name)
    return name if _ELECTRODE.match(name) else None


def parse_label(label: str, spec: FeatureSpec) -> Optional[tuple[str, str]]:
    """What an EDF channel label measures: ``(a, b)`` meaning a - b, or None (not EEG).

    ``b`` is :data:`REFERENCE` for a referential channel. ``'EEG FP1-REF'`` ->
    ``('FP1', 'REF')``; ``'Fp1.'`` -> ``('FP1', 'REF')``; ``'T7-P7'`` -> ``('T3', 'T5')``;
    ``'EEG EKG1-REF'`` -> None.
    """
    name = _strip(_compact(label), spec)
    if any(marker in name for marker in spec.non_eeg_markers):
        return None
    for suffix in spec.label_suffixes_dropped:
        if name.endswith(suffix):
            a = _electrode(name[: -len(suffix)], spec)
            return (a, REFERENCE) if a else None
    if "-" in name:
        left, _, right = name.partition("-")
        a, b = _electrode(left, spec), _electrode(right, spec)
        return (a, b) if a and b and a != b else None
    a = _electrode(name, spec)
    return (a, REFERENCE) if a else None


def normalise_label(label: str, spec: FeatureSpec) -> str:
    """The electrode a referential label names (``'EEG Fp1-REF'`` -> ``'FP1'``), else the
    upper-case label without prefix and padding."""
    parsed = parse_label(label, spec)
    if parsed and parsed[1] == REFERENCE:
        return parsed[0]
    return _strip(_compact(label), spec)


def label_reference(label: str) -> Optional[str]:
    """The reference a raw label states (``'AR'``, ``'LE'``) or None when it states none."""
    name = _compact(label)
    for suffix, kind in _SUFFIX_REFERENCE.items():
        if name.endswith(suffix):
            return kind
    return None


def folder_montage_kind(path: str) -> Optional[str]:
    """The montage kind a TUSZ folder name states (``01_tcp_ar`` -> ``'AR'``), else None."""
    for part in reversed(re.split(r"[\\/]", str(path))):
        if part.lower() in _FOLDER_KINDS:
            return _FOLDER_KINDS[part.lower()]
    return None


def _edges(raw_labels: Sequence[str], spec: FeatureSpec):
    """[(a, b, {channel: coefficient})]: each EEG channel once (first of duplicates)."""
    edges, seen = [], set()
    for i, raw in enumerate(raw_labels):
        parsed = parse_label(raw, spec)
        if parsed is None or parsed in seen or parsed[::-1] in seen:
            continue
        seen.add(parsed)
        edges.append((parsed[0], parsed[1], {i: 1.0}))
    referenced = {a for a, b, _ in edges if b == REFERENCE}
    if spec.linked_ears_from_ear_derivation and referenced and not (
            set(EAR_ELECTRODES) & referenced):
        for a, b, weights in list(edges):
            if {a, b} == set(EAR_ELECTRODES):
                (i, _), = weights.items()
                sign = 1.0 if (a, b) == ("A2", "A1") else -1.0  # A2 - A1 = sign * channel
                edges.append(("A1", REFERENCE, {i: -0.5 * sign}))
                edges.append(("A2", REFERENCE, {i: 0.5 * sign}))
                break
    return edges


def _path_weights(adjacency, a: str, b: str):
    """Coefficients of the shortest path a -> b (sum of node - next), or None."""
    previous = {a: None}
    queue = collections.deque([a])
    while queue and b not in previous:
        node = queue.popleft()
        for other, weights in adjacency.get(node, ()):
            if other not in previous:
                previous[other] = (node, weights)
                queue.append(other)
    if b not in previous:
        return None
    total = collections.defaultdict(float)
    node = b
    while previous[node] is not None:
        node, weights = previous[node]
        for i, w in weights.items():
            total[i] += w
    return tuple(sorted((i, w) for i, w in total.items() if abs(w) > 1e-12))


def montage_kind(raw_labels: Sequence[str], path: str, spec: FeatureSpec) -> str:
    """``AR``/``LE`` (``_A`` without A1 and A2) from the labels' reference suffix, else the
    TUSZ folder, else ``AR``; ``BIPOLAR`` for a file without referential EEG channels."""
    edges = _edges(raw_labels, spec)
    referenced = {a: raw_labels[next(iter(w))] for a, b, w in edges if b == REFERENCE
                  and a in MONTAGE_ELECTRODES}
    if not referenced:
        return "BIPOLAR"
    linked_ears = any(b == REFERENCE and a in EAR_ELECTRODES and next(iter(w.values())) != 1.0
                      for a, b, w in edges)
    if linked_ears:
        return "LE"
    refs = [r for r in (label_reference(raw) for raw in referenced.values()) if r]
    folder_kind = folder_montage_kind(path)
    if refs:
        reference = max(sorted(set(refs)), key=refs.count)
    elif folder_kind is not None:
        reference = folder_kind.split("_")[0]
    else:
        reference = "AR"
    has_ears = all(e in referenced for e in EAR_ELECTRODES)
    return reference if has_ears else f"{reference}_A"


def derivation_plan(raw_labels: Sequence[str], spec: FeatureSpec, path: str = "") -> DerivationPlan:
    """How to build each TCP channel from the file's channels (labels only, no samples).

    Raises
    ------
    RecordingError
        Fewer than ``spec.min_tcp_channels`` TCP channels can be built; the message
        lists the missing ones and the file's labels (stage ``montage``).
    """
    adjacency = collections.defaultdict(list)
    for a, b, weights in _edges(raw_labels, spec):
        adjacency[a].append((b, weights))
        adjacency[b].append((a, {i: -w for i, w in weights.items()}))
    weights = tuple(_path_weights(adjacency, a, b) for a, b in TCP_MONTAGE)
    plan = DerivationPlan(weights=weights, montage=montage_kind(raw_labels, path, spec))
    built = int(plan.mask.sum())
    if built < spec.min_tcp_channels:
        missing = [name for name, w in zip(TCP_CHANNELS, weights) if w is None]
        raise RecordingError(
            f"only {built} of {len(TCP_CHANNELS)} TCP channels can be built (minimum "
            f"{spec.min_tcp_channels}); missing {', '.join(missing)}; channels in file: "
            f"{', '.join(str(label) for label in raw_labels)}", stage="montage")
    return plan


def resample_ratio(fs_hz: float, spec: FeatureSpec) -> tuple[int, int]:
    """(up, down) of the polyphase resampler taking ``fs_hz`` to ``spec.target_fs_hz``.

    Raises
    ------
    RecordingError
        The rate is outside ``[spec.min_fs_hz, spec.max_fs_hz]`` or needs a factor above
        ``spec.max_resample_factor``.
    """
    if not math.isfinite(fs_hz) or not spec.min_fs_hz <= fs_hz <= spec.max_fs_hz:
        raise RecordingError(
            f"unsupported sampling rate {fs_hz:g} Hz (supported: {spec.min_fs_hz:g} to "
            f"{spec.max_fs_hz:g} Hz)", stage="read")
    ratio = fractions.Fraction(spec.target_fs_hz) / fractions.Fraction(fs_hz).limit_denominator(
        spec.max_resample_factor)
    if abs(float(fractions.Fraction(spec.target_fs_hz) / ratio) - fs_hz) > 1e-6 * fs_hz or max(
            ratio.numerator, ratio.denominator) > spec.max_resample_factor:
        raise RecordingError(
            f"unsupported sampling rate {fs_hz:g} Hz: no polyphase ratio to "
            f"{spec.target_fs_hz} Hz with factors up to {spec.max_resample_factor}",
            stage="read")
    return ratio.numerator, ratio.denominator


def offset_uv(x: np.ndarray, fs_hz: float) -> np.ndarray:
    """Each row's DC offset as the resampler removes it: the median of its first second
    (µV, shape ``(rows, 1)``)."""
    x = np.asarray(x, dtype=np.float64)
    head = x[..., :max(1, int(round(fs_hz)))]
    return np.median(head, axis=-1, keepdims=True) if head.shape[-1] else np.zeros(
        x.shape[:-1] + (1,))


def resample(x: np.ndarray, fs_hz: float, spec: FeatureSpec,
             offset: Optional[np.ndarray] = None) -> np.ndarray:
    """Resample (channels, samples) µV from ``fs_hz`` to ``spec.target_fs_hz`` (float64).

    With ``spec.resample_remove_offset``, ``offset`` (µV, broadcast against ``x``; default
    :func:`offset_uv` of ``x``) is taken out before the polyphase filter and put back
    after it: the filter pads with zeros and its phases differ slightly in DC gain, so a
    DC-coupled amplifier's offset of some millivolts would otherwise become a step at the
    edges and an in-band ripple of several µV.
    """
    from scipy import signal as sp_signal  # 0.5 s to import: only where used
    up, down = resample_ratio(fs_hz, spec)
    if up == down:
        return np.asarray(x, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if not spec.resample_remove_offset:
        return sp_signal.resample_poly(x, up, down, axis=-1)
    offset = offset_uv(x, fs_hz) if offset is None else np.asarray(offset, dtype=np.float64)
    return sp_signal.resample_poly(x - offset, up, down, axis=-1) + offset


def flat_samples(x_uv: np.ndarray, fs_hz: float, n_out: int, spec: FeatureSpec
                 ) -> Optional[np.ndarray]:
    """Where an electrode's signal is flat, as a bool per output sample (``n_out`` samples
    at ``spec.target_fs_hz``), or None when it is nowhere flat.

    Flat: a block of ``spec.energy_block_s`` (counted from the first sample) whose RMS
    about the block's own mean is below ``spec.flat_channel_rms_uv`` µV, judged at the
    channel's own rate ``fs_hz`` (a resampler's ripple on a constant level far from the
    recording's offset would hide it). A last, partial block shares the decision of the
    block before it, or is judged alone when there is none.

    ``x_uv`` : 1-D, µV at ``fs_hz``.
    """
    x = np.asarray(x_uv, np.float64)
    if len(x) == 0:
        return None
    x = x - x[0]  # smaller values for the sums below
    per = spec.energy_block_s * float(fs_hz)
    n_blocks = int(np.floor(len(x) / per + 1e-9))
    if n_blocks == 0:
        flat = np.array([float(np.std(x)) < spec.flat_channel_rms_uv])
    else:
        edges = np.round(np.arange(n_blocks + 1) * per).astype(np.int64)
        counts = np.diff(edges)
        mean = np.add.reduceat(x[:edges[-1]], edges[:-1]) / counts
        power = np.add.reduceat(x[:edges[-1]] ** 2, edges[:-1]) / counts
        flat = power - mean ** 2 < spec.flat_channel_rms_uv ** 2
    if not flat.any():
        return None
    out = np.repeat(flat, int(round(spec.energy_block_s * spec.target_fs_hz)))[:n_out]
    return np.concatenate([out, np.full(n_out - len(out), flat[-1])])


def to_tcp(signals_uv: Union[Sequence[np.ndarray], Mapping[int, np.ndarray]],
           raw_labels: Sequence[str], fs_hz: Sequence[float], spec: FeatureSpec,
           path: str = "", plan: Optional[DerivationPlan] = None,
           offsets_uv: Optional[Mapping[int, float]] = None) -> TcpSignals:
    """Build the TCP bipolar montage at ``spec.target_fs_hz``.

    With ``spec.dead_electrode_zeroes_channels``, a TCP channel is zero wherever a
    referential file channel it is built from is flat (:func:`flat_samples`): a dead
    electrode would otherwise leave its neighbour's referential signal in the bipolar
    channel (F7-T3 with T3 dead is F7-REF), which no per-channel energy test can tell from
    EEG. The zeroed channel is then flat to
    :func:`~neurokube.core.feature_stream.recording_stats` and masked when it is dead for
    most of the recording. A flat bipolar file channel is left as it is: two bridged or
    linked electrodes (``A2-A1``) legitimately read zero. A file that stores its
    reference electrode as a channel reading zero loses the channels built from it the
    same way (masked, not mislabelled).

    Parameters
    ----------
    signals_uv : sequence of np.ndarray, or mapping of channel index to np.ndarray
        One 1-D array per file channel, physical µV, in the order of ``raw_labels``
        (channels no TCP channel needs may be empty).
    raw_labels : sequence of str
        The EDF labels, as written in the file.
    fs_hz : sequence of float
        Sampling rate of each channel, Hz.
    spec : FeatureSpec
    path : str
        The recording's path (its folder may state the reference).
    plan : DerivationPlan, optional
        From :func:`derivation_plan` (computed here when not given).
    offsets_uv : mapping of channel index to float, optional
        Each channel's DC offset for the resampler (see :func:`resample`); a span of a
        recording passes the recording's own (:func:`offset_uv` of its first second) so
        that every span is resampled alike. Default: from the signals given.

    Returns
    -------
    TcpSignals

    Raises
    ------
    RecordingError
        Too few buildable channels, unsupported rates, or no samples.
    """
    plan = plan or derivation_plan(raw_labels, spec, path)
    used = plan.channels_used
    # Resample channel by channel (mixed-rate files work, no stacked copy of the file),
    # cut to the shortest channel of each rate.
    shortest = {}
    for i in used:
        rate = float(fs_hz[i])
        shortest[rate] = min(shortest.get(rate, np.inf), len(signals_uv[i]))
    resampled = {i: resample(np.asarray(signals_uv[i][:int(shortest[float(fs_hz[i])])],
                                        dtype=np.float64)[None, :], float(fs_hz[i]), spec,
                             None if offsets_uv is None else np.float64(offsets_uv[i]))[0]
                 for i in used}
    n_samples = min(len(v) for v in resampled.values())
    if n_samples == 0:
        raise RecordingError("no samples in the montage channels", stage="read")
    dead = {}
    for i in used if spec.dead_electrode_zeroes_channels else ():
        parsed = parse_label(raw_labels[i], spec)
        if parsed and parsed[1] == REFERENCE:
            native = signals_uv[i][:int(shortest[float(fs_hz[i])])]
            flat = flat_samples(native, float(fs_hz[i]), n_samples, spec)
            if flat is not None:
                dead[i] = flat
    rows = [w for w in plan.weights if w is not None]
    data = np.empty((len(rows), n_samples), dtype=np.float32)
    acc = np.empty(n_samples, dtype=np.float64)
    for row, weights in enumerate(rows):
        # A fresh sum per channel (never an in-place subtraction of the inputs).
        acc[:] = 0.0
        for i, w in weights:
            acc += w * resampled[i][:n_samples]
        for i, _ in weights:
            if i in dead:
                acc[dead[i]] = 0.0
        data[row] = acc
    mask = plan.mask
    channels = tuple(name for name, keep in zip(TCP_CHANNELS, mask) if keep)
    return TcpSignals(data_uv=data, channels=channels, mask=mask, fs_hz=spec.target_fs_hz,
                      montage=plan.montage)
