"""The feature specification: every CHOICE of signal preparation and the LFCC front end.

One :class:`FeatureSpec` object carries every parameter of ``../shared/docs/algorithm.md``
§1-§2 that is not fixed by publication. It is saved (as JSON) with every feature file and
every model, so any number can be traced to exactly what produced it. The defaults are
the project's reference choices.

Example::

    spec = FeatureSpec()                      # the reference front end
    spec = spec.replace(n_filters=20)         # a variant, recorded with its outputs
    FeatureSpec.from_json(spec.to_json()) == spec
"""
import dataclasses
import math
import json
from typing import Any, Mapping

# The TCP bipolar montage (PUB): (minuend, subtrahend) electrodes in montage order.
TCP_MONTAGE = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("A1", "T3"), ("T3", "C3"), ("C3", "CZ"), ("CZ", "C4"),
    ("C4", "T4"), ("T4", "A2"), ("FP1", "F3"), ("F3", "C3"),
    ("C3", "P3"), ("P3", "O1"), ("FP2", "F4"), ("F4", "C4"),
    ("C4", "P4"), ("P4", "O2"),
)
TCP_CHANNELS = tuple(f"{a}-{b}" for a, b in TCP_MONTAGE)
EAR_ELECTRODES = ("A1", "A2")
N_FEATURES = 26
FEATURE_NAMES = (
    ("E_f",) + tuple(f"c{i}" for i in range(1, 8)) + ("E_d",)
    + tuple(f"d_{n}" for n in ("E_f", *(f"c{i}" for i in range(1, 8)), "E_d"))
    + tuple(f"dd_{n}" for n in ("E_f", *(f"c{i}" for i in range(1, 8))))
)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Every CHOICE of the front end, with units in the names.

    Signal preparation (§1)
        ``label_prefixes_dropped`` / ``label_suffixes_dropped``: stripped from normalised
        (upper-case, space-free) channel labels (Nihon Kohden's ``POL Fp1``; ``Fp1_Ref``,
        ``EEG Fp1 Ref``, ``Fp1-A1A2``), a dropped suffix marking a referential channel; ``label_padding_chars``: stripped from both ends (EEGMMIDB's ``Fp1.``);
        ``label_aliases``: 10-10 names mapped to the 10-20 ones; ``non_eeg_markers``:
        substrings marking a non-EEG channel; ``linked_ears_from_ear_derivation``: read a
        file whose referential channels lack A1/A2 but hold ``A2-A1`` as linked-ears
        referenced; ``min_tcp_channels``: fewest buildable (and not flat) TCP channels a
        recording needs; ``target_fs_hz``: every channel is resampled to it with a
        polyphase filter (``scipy.signal.resample_poly``, ratio reduced by gcd);
        ``min_fs_hz`` / ``max_fs_hz``: accepted sampling rates; ``max_resample_factor``:
        the largest up/down factor accepted; ``resample_remove_offset``: take each channel's
        offset (the median of the recording's first second) out before the polyphase
        filter and put it back after it, so that the output does not depend on a constant
        offset at all (the filter pads with zeros and its phases differ slightly in DC
        gain: a DC-coupled amplifier's offset of tens of mV would become edge steps and an
        in-band ripple of several µV; bundles saved before this field existed were
        featurised without it); ``missing_ear_policy``:
        how a 22-input model sees channels that cannot be built (``zero_fill_mask``).
    Filtering (before the front end)
        ``bandpass_hz``: causal Butterworth band-pass of order ``bandpass_order`` (a band
        every recording system and the training data share: it removes DC, drift and the
        differences of recording bandwidth); ``notch_hz``: mains notches (quality
        ``notch_q``) at the frequencies below Nyquist; ``filter_settle_s``: signal read
        before a chunk so the filter state has settled (chunked = whole to float32).
    Channel quality
        ``flat_channel_rms_uv``: a TCP channel whose median 1 s RMS is below this is flat;
        ``flat_channel_relative_db``: or whose median energy is this far below the median
        channel's; flat channels are masked. ``dead_electrode_zeroes_channels``: an
        electrode (referential file channel) whose RMS in a block of ``energy_block_s``
        is below ``flat_channel_rms_uv`` is dead there, and the TCP channels built from
        it read zero in that block (so a channel dead for most of the recording is
        masked as flat; bundles saved before this field keep their behaviour, off).
        ``energy_block_s``: block of the per-channel energy statistics (median frame
        energy per block, then over blocks).
        ``mask_decision_s``: the flat channels are decided on the recording's first this
        many seconds (what a detector labelling a recording as it grows can know; 0 =
        the whole recording).
    Front end (§2)
        ``frame_s`` (hop), ``window_s`` (analysis window, centred: it starts
        ``window_offset_samples`` before the frame), ``window`` (``hamming``:
        ``np.hamming``, symmetric), ``preemphasis`` (None), ``n_fft``, ``n_filters``
        linearly spaced triangular filters over ``filter_lo_hz``..``filter_hi_hz`` (the
        pass band), ``n_cepstra`` kept (c0 replaced by the frame energy), ``log_floor``
        inside the log of the filter energies and ``energy_floor`` inside that of E_f,
        ``ediff_half_frames`` (E_d over frames t-k..t+k), ``delta_half_frames`` and
        ``delta_delta_half_frames`` (regression half-widths), ``edge_mode``
        (``replicate``: HTK convention).
    """

    # Signal preparation.
    label_prefixes_dropped: tuple = ("EEG", "POL")
    label_suffixes_dropped: tuple = ("-REF", "-LE", "-AVG", "-AR", "-A1A2", "-A1+A2", "_REF",
                                     "REF")
    label_padding_chars: str = "."
    label_aliases: tuple = (("T7", "T3"), ("T8", "T4"), ("P7", "T5"), ("P8", "T6"))
    non_eeg_markers: tuple = ("EKG", "ECG", "ROC", "LOC", "PHOTIC", "IBI", "BURSTS",
                              "SUPPR", "EMG", "RESP", "SPO2", "DC")
    linked_ears_from_ear_derivation: bool = True
    min_tcp_channels: int = 8
    target_fs_hz: int = 250
    min_fs_hz: float = 64.0
    max_fs_hz: float = 4096.0
    max_resample_factor: int = 1024
    resample_remove_offset: bool = True
    missing_ear_policy: str = "zero_fill_mask"
    # Filtering.
    bandpass_hz: tuple = (0.5, 40.0)
    bandpass_order: int = 4
    notch_hz: tuple = (50.0, 60.0)
    notch_q: float = 30.0
    filter_settle_s: float = 20.0
    # Channel quality.
    flat_channel_rms_uv: float = 0.1
    flat_channel_relative_db: float = 40.0
    dead_electrode_zeroes_channels: bool = True
    energy_block_s: float = 1.0
    mask_decision_s: float = 0.0
    # Front end.
    frame_s: float = 0.1
    window_s: float = 0.2
    window_offset_samples: int = 12
    window: str = "hamming"
    preemphasis: object = None
    n_fft: int = 256
    n_filters: int = 24
    filter_lo_hz: float = 0.0
    filter_hi_hz: float = 40.0
    n_cepstra: int = 8
    log_floor: float = 1e-10
    energy_floor: float = 1e-10
    ediff_half_frames: int = 4
    delta_half_frames: int = 4
    delta_delta_half_frames: int = 1
    edge_mode: str = "replicate"

    def __post_init__(self):
        for name in ("label_prefixes_dropped", "label_suffixes_dropped", "non_eeg_markers",
                     "bandpass_hz", "notch_hz"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "label_aliases",
                           tuple(tuple(pair) for pair in self.label_aliases))
        if self.window != "hamming":
            raise ValueError(f"window must be 'hamming', got {self.window!r}")
        if self.preemphasis is not None:
            raise ValueError("preemphasis must be None (no pre-emphasis is implemented)")
        if self.edge_mode != "replicate":
            raise ValueError(f"edge_mode must be 'replicate', got {self.edge_mode!r}")
        if self.missing_ear_policy != "zero_fill_mask":
            raise ValueError(
                f"missing_ear_policy must be 'zero_fill_mask', got {self.missing_ear_policy!r}")
        for name in ("frame_s", "window_s"):
            n = getattr(self, name) * self.target_fs_hz
            if abs(n - round(n)) > 1e-9 or round(n) < 1:
                raise ValueError(f"{name} must be a whole number of samples at target_fs_hz")
        if self.window_samples > self.n_fft:
            raise ValueError(f"window of {self.window_samples} samples exceeds n_fft={self.n_fft}")
        if not 0 <= self.filter_lo_hz < self.filter_hi_hz <= self.target_fs_hz / 2:
            raise ValueError("need 0 <= filter_lo_hz < filter_hi_hz <= target_fs_hz / 2")
        if not 2 <= self.n_cepstra <= self.n_filters:
            raise ValueError("need 2 <= n_cepstra <= n_filters")
        if self.bandpass_hz and not (len(self.bandpass_hz) == 2
                                     and 0 < self.bandpass_hz[0] < self.bandpass_hz[1]
                                     < self.target_fs_hz / 2):
            raise ValueError("bandpass_hz must be (low, high) with 0 < low < high < "
                             "target_fs_hz / 2, or () for no band-pass")
        if self.min_tcp_channels < 1:
            raise ValueError("min_tcp_channels must be at least 1")
        if not 0 < self.min_fs_hz <= self.max_fs_hz:
            raise ValueError("need 0 < min_fs_hz <= max_fs_hz")
        blocks = self.energy_block_s / self.frame_s
        if abs(blocks - round(blocks)) > 1e-9 or round(blocks) < 1:
            raise ValueError("energy_block_s must be a whole number of frames")
        if self.mask_decision_s < 0:
            raise ValueError("mask_decision_s must be >= 0 (0: the whole recording)")

    @property
    def hop_samples(self) -> int:
        """Frame hop in samples at ``target_fs_hz``."""
        return int(round(self.frame_s * self.target_fs_hz))

    @property
    def window_samples(self) -> int:
        """Analysis window length in samples at ``target_fs_hz``."""
        return int(round(self.window_s * self.target_fs_hz))

    @property
    def mask_decision_blocks(self) -> int | None:
        """Energy blocks the flat-channel decision looks at (None: all)."""
        if not self.mask_decision_s:
            return None
        return max(1, int(math.ceil(self.mask_decision_s / self.energy_block_s - 1e-9)))

    @property
    def frames_per_block(self) -> int:
        """Frames per energy-statistics block."""
        return int(round(self.energy_block_s / self.frame_s))

    @property
    def n_features(self) -> int:
        """Features per channel and frame: absolute + deltas + delta-deltas."""
        n_abs = self.n_cepstra + 1  # E_f, c1..c(n-1), E_d
        return n_abs + n_abs + (n_abs - 1)

    def replace(self, **changes: Any) -> "FeatureSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSpec":
        """A spec from its JSON form; a field missing from a bundle saved before it
        existed takes the value that reproduces that bundle (:data:`BEFORE_FIELD`)."""
        data = {**BEFORE_FIELD, **data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature-spec fields: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        return cls.from_dict(json.loads(text))


# What a FeatureSpec field meant in bundles saved before the field existed (where that
# differs from today's default).
BEFORE_FIELD = {"resample_remove_offset": False, "dead_electrode_zeroes_channels": False}


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
