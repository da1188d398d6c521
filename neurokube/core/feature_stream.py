"""The one way from an open recording to LFCC features: whole, or in chunks with context.

``featurize``, ``label`` and ``train`` all call :func:`iter_feature_chunks`. A recording
up to ``whole_max_s`` long is read once and gives one :class:`FeatureChunk`. A longer one
is read twice, in chunks of ``chunk_s``, so memory stays bounded whatever its length:
pass 1 computes the per-channel statistics of the whole recording (flat channels, the
energy reference), pass 2 emits chunks whose features carry ``context_frames`` of
context on each side, enough that every model output equals that of processing the
recording whole. Chunk edges fall on whole seconds, where the resampler and the 0.1 s
frames line up; each span is read with signal context for the resampler and the frame
windows, and with ``spec.filter_settle_s`` before it so the causal filter has settled.

Steps per span: read the planned channels (:mod:`~neurokube.core.edf`) -> TCP montage at
250 Hz (:mod:`~neurokube.core.montage`) -> band-pass and notch
(:mod:`~neurokube.core.filters`) -> LFCC (:mod:`~neurokube.core.lfcc`).

Example::

    with open_recording(path, spec) as src:
        for chunk in iter_feature_chunks(src, spec, chunk_s=1200, whole_max_s=3600):
            chunk.features   # (22, frames, 26) float32, masked channels zero
"""
import dataclasses
import math
from typing import TYPE_CHECKING, Iterator, Optional, Tuple

import numpy as np

from neurokube.core.errors import RecordingError
from neurokube.core.feature_spec import TCP_CHANNELS, FeatureSpec
from neurokube.core.filters import bandpass
from neurokube.core.lfcc import energy_of_rms, lfcc
from neurokube.core.montage import offset_uv, to_tcp

if TYPE_CHECKING:
    from neurokube.core.edf import SignalSource

# Signal context on each side of a span for the resampler and the frame/delta windows, s.
SIGNAL_CONTEXT_S = 2.0
# Samples one span may hold (all channels together): memory is bounded in samples, not in
# seconds, so a high-rate or many-channel file gets shorter chunks.
MAX_SPAN_SAMPLES = 20_000_000


@dataclasses.dataclass
class RecordingStats:
    """Per-channel statistics of a whole recording (pass 1).

    Attributes
    ----------
    mask : np.ndarray
        bool (22,): TCP channels that can be built and are not flat.
    flat_channels : tuple of str
        Buildable TCP channels masked as flat.
    reference : np.ndarray
        float32 (22, n_cepstra): per channel, the median over ``spec.energy_block_s``
        blocks of the block means of E_f (ln µV²) and c1..c7 (0 where masked): the
        recording's own level and spectral shape, which a gain change or a recording
        system's filtering shifts by a constant.
    n_frames : int
        Frames of the whole recording.
    montage : str
    block_means : np.ndarray
        float32 (22, blocks, n_cepstra): the means of E_f and c1..c7 over every
        ``energy_block_s`` block (for a reference that follows the recording in time).
    """

    mask: np.ndarray
    flat_channels: tuple
    reference: np.ndarray
    n_frames: int
    montage: str
    block_means: Optional[np.ndarray] = None


@dataclasses.dataclass
class FeatureChunk:
    """Raw (un-normalised) LFCC features of a recording or of one chunk of it.

    Attributes
    ----------
    path : str
    features : np.ndarray
        float32 (22, frames, n_features); masked channels are zero.
    first_frame : int
        Recording frame index of ``features[:, 0]``.
    lo_frame, hi_frame : int
        The recording frames ``[lo, hi)`` this chunk answers for (the rest is context).
    chunk, n_chunks : int
    duration_s : float
        Recording duration from the header, s.
    stats : RecordingStats
    """

    path: str
    features: np.ndarray
    first_frame: int
    lo_frame: int
    hi_frame: int
    chunk: int
    n_chunks: int
    duration_s: float
    stats: RecordingStats
    start: Optional[str] = None

    @property
    def mask(self) -> np.ndarray:
        return self.stats.mask

    @property
    def montage(self) -> str:
        return self.stats.montage


def _whole_seconds(x: float) -> float:
    return float(math.floor(x + 1e-9))


def span_features(src: "SignalSource", spec: FeatureSpec, start_s: float,
                  stop_s: float) -> Tuple[np.ndarray, np.ndarray]:
    """LFCC frames of ``[start_s, stop_s)`` (whole seconds) with signal and filter context.

    Returns
    -------
    features : np.ndarray
        float32 (22, frames, n_features), zero rows for channels that cannot be built;
        frame 0 starts at ``start_s``.
    buildable : np.ndarray
        bool (22,).
    """
    lo = max(0.0, start_s - SIGNAL_CONTEXT_S - spec.filter_settle_s)
    hi = min(src.duration_s, stop_s + SIGNAL_CONTEXT_S)
    offsets = {i: float(offset_uv(x, src.fs_hz[i])[0]) if len(x) else 0.0
               for i, x in src.read(0.0, 1.0).items()}
    tcp = to_tcp(src.read(lo, hi), src.labels, src.fs_hz, spec, src.path, plan=src.plan,
                 offsets_uv=offsets)
    if lo == 0.0 and tcp.data_uv.shape[1] < spec.hop_samples:
        raise RecordingError(f"recording shorter than one {spec.frame_s:g} s frame "
                             f"({tcp.data_uv.shape[1]} samples at {tcp.fs_hz} Hz)",
                             stage="read")
    present = lfcc(bandpass(tcp.data_uv, spec), spec)
    frames_per_s = int(round(1.0 / spec.frame_s))
    first = int(round((start_s - lo) * frames_per_s))
    last = min(present.shape[1], first + int(round((stop_s - start_s) * frames_per_s)))
    features = np.zeros((len(TCP_CHANNELS), max(0, last - first), spec.n_features),
                        dtype=np.float32)
    features[tcp.mask] = present[:, first:last]
    return features, tcp.mask


def block_means(features: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(22, blocks, n_cepstra) means of E_f and c1..c7 over every whole ``energy_block_s``
    block (float64). A span shorter than one block gives one block of the frames there
    are."""
    per, n_ref = spec.frames_per_block, spec.n_cepstra
    n_blocks = features.shape[1] // per
    if n_blocks == 0:
        return features[:, :, :n_ref].astype(np.float64).mean(axis=1, keepdims=True)
    values = features[:, :n_blocks * per, :n_ref].astype(np.float64)
    return values.reshape(features.shape[0], n_blocks, per, n_ref).mean(axis=2)


def recording_stats(blocks: np.ndarray, buildable: np.ndarray, n_frames: int, montage: str,
                    spec: FeatureSpec) -> RecordingStats:
    """Flat channels and the reference levels from the block means of a whole recording.

    A buildable channel is flat when its median block energy (over the first
    ``spec.mask_decision_s``, or the whole recording) is below that of a sine of
    ``spec.flat_channel_rms_uv`` RMS, or ``spec.flat_channel_relative_db`` below the
    median channel's. When the whole recording decides (``mask_decision_s`` 0), a
    recording this leaves with too few channels is looked at again over its live blocks
    only (those where most buildable channels are above that floor): a recording that
    went on after the electrodes came off, flat for most of its length, is labelled on
    the EEG it has, its levels taken from the live blocks. (A detector that decides on
    the first seconds, as a stream does, cannot know the later blocks.)

    Raises
    ------
    RecordingError
        Fewer than ``spec.min_tcp_channels`` channels are left (stage ``montage``); an
        all-flat recording says so.
    """
    floor = energy_of_rms(spec.flat_channel_rms_uv, spec)
    levels, mask, flat = _levels_and_mask(blocks, buildable, spec, floor)
    live_share = 1.0
    if (mask.sum() < spec.min_tcp_channels and buildable.any()
            and spec.mask_decision_blocks is None):
        live = np.mean(blocks[buildable, :, 0] >= floor, axis=0) > 0.5
        if live.any() and not live.all():
            live_share = float(live.mean())
            levels, mask, flat = _levels_and_mask(blocks[:, live], buildable, spec, floor)
    flat_names = tuple(name for name, f in zip(TCP_CHANNELS, flat) if f)
    if mask.sum() < spec.min_tcp_channels:
        if not mask.any():
            raise RecordingError(
                f"no EEG signal: all {int(buildable.sum())} TCP channels are flat (median "
                f"RMS below {spec.flat_channel_rms_uv:g} µV or "
                f"{spec.flat_channel_relative_db:g} dB below the typical channel)",
                stage="montage")
        where = "" if live_share == 1.0 else f" over the {100 * live_share:.0f} % of it that is live"
        raise RecordingError(
            f"only {int(mask.sum())} usable TCP channels (minimum {spec.min_tcp_channels})"
            f"{where}; flat: {', '.join(flat_names) or 'none'}", stage="montage")
    reference = np.where(mask[:, None], levels, 0.0).astype(np.float32)
    block_means = np.where(mask[:, None, None], blocks, 0.0).astype(np.float32)
    return RecordingStats(mask=mask, flat_channels=flat_names, reference=reference,
                          n_frames=int(n_frames), montage=montage, block_means=block_means)


def _levels_and_mask(blocks, buildable, spec, floor):
    """(levels (22, n_cepstra), usable mask, flat mask) from the given blocks."""
    levels = np.median(blocks, axis=1)  # (22, n_cepstra)
    decided_on = levels if spec.mask_decision_blocks is None else np.median(
        blocks[:, :spec.mask_decision_blocks], axis=1)
    median = np.where(buildable, decided_on[:, 0], -np.inf)
    typical = float(np.median(median[buildable])) if buildable.any() else floor
    relative = typical - spec.flat_channel_relative_db * math.log(10.0) / 10.0
    flat = buildable & ((median < floor) | (median < relative))
    return levels, buildable & ~flat, flat


def iter_feature_chunks(src: "SignalSource", spec: FeatureSpec, chunk_s: float,
                        whole_max_s: Optional[float] = None,
                        context_frames: Tuple[int, int] = (0, 0)) -> Iterator[FeatureChunk]:
    """Yield the :class:`FeatureChunk` s of an open recording (see the module doc).

    Parameters
    ----------
    src : SignalSource
        An open recording (``path``, ``labels``, ``fs_hz``, ``plan``, ``duration_s``,
        ``read(start_s, stop_s)``).
    spec : FeatureSpec
    chunk_s : float
        Chunk length for recordings longer than ``whole_max_s``, s (whole seconds).
    whole_max_s : float, optional
        Recordings up to this long are processed whole (default ``chunk_s``).
    context_frames : (int, int)
        Frames of context before and after each chunk.
    """
    duration = src.duration_s
    whole_max_s = chunk_s if whole_max_s is None else whole_max_s
    # Disk records hold every signal as 16-bit, reads hold the planned ones as float64.
    load = max(getattr(src, "record_samples_per_s", 0.0) / 4.0,
               getattr(src, "samples_per_s", 0.0), 1.0)
    longest = max(1.0, _whole_seconds(MAX_SPAN_SAMPLES / load))
    chunk_s, whole_max_s = min(chunk_s, longest), min(whole_max_s, longest)
    if duration <= whole_max_s:
        features, buildable = span_features(src, spec, 0.0, duration)
        stats = recording_stats(block_means(features, spec), buildable, features.shape[1],
                                src.plan.montage, spec)
        features[~stats.mask] = 0.0
        yield FeatureChunk(path=src.path, features=features, first_frame=0, lo_frame=0,
                           hi_frame=features.shape[1], chunk=0, n_chunks=1,
                           duration_s=duration, stats=stats, start=getattr(src, "start", None))
        return
    chunk_s = _whole_seconds(chunk_s)
    frames_per_s = int(round(1.0 / spec.frame_s))
    blocks, n_frames, buildable = [], 0, None
    for start in np.arange(0.0, duration, chunk_s):  # pass 1: whole-recording statistics
        features, buildable = span_features(src, spec, start, min(duration, start + chunk_s))
        blocks.append(block_means(features, spec))
        n_frames += features.shape[1]
    stats = recording_stats(np.concatenate(blocks, axis=1), buildable, n_frames,
                            src.plan.montage, spec)
    past, future = context_frames
    per_chunk = int(round(chunk_s * frames_per_s))
    bounds = list(range(0, n_frames, per_chunk))
    for k, lo in enumerate(bounds):  # pass 2: chunks with context
        hi = min(n_frames, lo + per_chunk)
        # Context rounded out to whole seconds, where spans can start.
        first = max(0, (lo - past) // frames_per_s * frames_per_s)
        last = min(n_frames, -(-(hi + future) // frames_per_s) * frames_per_s)
        features, _ = span_features(src, spec, first / frames_per_s, last / frames_per_s)
        features[~stats.mask] = 0.0
        yield FeatureChunk(path=src.path, features=features, first_frame=first, lo_frame=lo,
                           hi_frame=hi, chunk=k, n_chunks=len(bounds), duration_s=duration,
                           stats=stats, start=getattr(src, "start", None))
