"""Every size, window, threshold and normalisation of the seizure models (algorithm.md §3).

:class:`ModelConfig` holds the CHOICEs of P1, P2 and the hypothesis features;
:class:`P3Params` those of the fusion and post-processing stage. Both are saved in the
model bundle, so a model's outputs can always be traced to exactly what produced them.

Layer sizes are smaller than the spec's suggestion (LSTM 128/64): the default has to fit
the throughput budget of about 2 CPU-seconds per EEG-hour for all models on one core,
and P1 runs 22 × 3,600 windows per EEG-hour. ``benchmarks/bench_label.py`` measures it.
"""
import dataclasses
import numbers
from typing import Any, Mapping, TypeVar

_T = TypeVar("_T")

REFERENCES = ("cepstral_median", "causal_median", "energy_median", "none")
P1_STEP_INPUTS = ("frames", "moments")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Input windows and layer sizes of P1 and P2.

    Time steps are ``step_s`` long (1 s = 10 feature frames, flattened to 260 values per
    channel); a window is ``window_steps`` steps centred on the step it labels, or ending
    at it when ``causal`` (a detector that uses only the past, for streams); windows at
    the edges replicate the first/last step.

    Input normalisation (:mod:`neurokube.core.model_inputs`): ``recording_reference``
    (``cepstral_median``: E_f and c1..c7 minus the channel's medians over the recording,
    so the recording's gain and its system's spectral shape do not matter;
    ``causal_median``: the same from the past only, the median of the
    ``reference_block_s`` block means over the last ``reference_window_s``;
    ``energy_median``: E_f only; ``none``), then per-feature standardisation with
    ``feature_mean`` / ``feature_scale`` (measured on the training set when a model is
    trained; empty = none) and clipping to ``± feature_clip`` (0 = none).
    """

    n_channels: int = 22
    n_features: int = 26
    step_s: float = 1.0
    frame_s: float = 0.1
    window_steps: int = 7
    recording_reference: str = "cepstral_median"
    reference_block_s: float = 10.0
    reference_window_s: float = 300.0
    causal: bool = False
    feature_mean: tuple = ()
    feature_scale: tuple = ()
    feature_clip: float = 6.0
    # P1's input per step: the 10 standardised frames as they are (``frames``, 260 values)
    # or the mean and standard deviation of each feature over the step (``moments``, 52).
    p1_step_input: str = "moments"
    # P1's longer context (``moments`` only, offline only): for each width w (steps, odd)
    # every step also carries the mean of the step inputs over the w steps centred on it
    # and the standard deviation of the step means of the absolute features over them
    # (over the steps that exist, at a recording's edges). A seizure's rhythm persists
    # for tens of seconds; the 7 s window alone cannot tell it from a brief transient.
    # () = none.
    p1_context_steps: tuple = ()
    # Mean and scale of each P1 step input (``moments`` only), measured on the training
    # set when the model is trained; P1 reads its inputs standardised with them and
    # clipped to ``± feature_clip``, so that means over a context, whose spread is a
    # fraction of a step's, are not drowned by ``p1_input_noise``. Empty = none.
    p1_input_mean: tuple = ()
    p1_input_scale: tuple = ()
    # P1: input noise and dropout (training only) -> TimeDistributed(Dense) -> LSTM ->
    # Dense(2, softmax).
    p1_input_noise: float = 0.2
    p1_input_dropout: float = 0.2
    p1_dense_units: int = 32
    p1_lstm_units: int = 32
    p1_dropout: float = 0.3
    # P1 hypothesis features: p, in-event flag, time since onset (capped), event mean p.
    hyp_threshold: float = 0.5
    hyp_onset_cap_s: float = 60.0
    hyp_mean_window_s: float = 60.0
    # P2: TimeDistributed(Conv2D -> MaxPool -> Conv2D -> MaxPool -> Flatten) -> LSTM -> Dense.
    p2_input_dropout: float = 0.1
    p2_conv_filters: tuple = (8, 16)
    p2_lstm_units: int = 32
    p2_dropout: float = 0.3

    def __post_init__(self):
        for name in ("p2_conv_filters", "feature_mean", "feature_scale", "p1_context_steps",
                     "p1_input_mean", "p1_input_scale"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.recording_reference not in REFERENCES:
            raise ValueError(f"recording_reference must be one of {REFERENCES}, got "
                             f"{self.recording_reference!r}")
        if self.p1_step_input not in P1_STEP_INPUTS:
            raise ValueError(f"p1_step_input must be one of {P1_STEP_INPUTS}, got "
                             f"{self.p1_step_input!r}")
        if self.p1_context_steps:
            if self.p1_step_input != "moments" or self.causal:
                raise ValueError("p1_context_steps needs p1_step_input 'moments' and an "
                                 "offline (not causal) model")
            if any(isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 3
                   or w % 2 != 1 for w in self.p1_context_steps):
                raise ValueError("p1_context_steps must be odd whole numbers of steps >= 3, "
                                 f"got {list(self.p1_context_steps)}")
            if (self.n_features + 1) % 3:
                raise ValueError("p1_context_steps needs the LFCC column layout (absolute "
                                 f"features, their deltas, delta-deltas), got {self.n_features}"
                                 " features")
        if len(self.p1_input_mean) != len(self.p1_input_scale) or (
                self.p1_input_mean and len(self.p1_input_mean) != self.p1_input_values):
            raise ValueError(f"p1_input_mean and p1_input_scale need {self.p1_input_values} "
                             "values each (or none)")
        if self.p1_input_mean and self.p1_step_input != "moments":
            raise ValueError("p1_input_mean and p1_input_scale need p1_step_input 'moments'")
        if any(v <= 0 for v in self.p1_input_scale):
            raise ValueError("p1_input_scale values must be positive")
        if self.causal and self.recording_reference not in ("causal_median", "none"):
            raise ValueError("a causal model needs recording_reference 'causal_median' or "
                             "'none' (the others look at the whole recording)")
        if len(self.feature_mean) != len(self.feature_scale) or (
                self.feature_mean and len(self.feature_mean) != self.n_features):
            raise ValueError(f"feature_mean and feature_scale need {self.n_features} values "
                             "each (or none)")
        if any(v <= 0 for v in self.feature_scale):
            raise ValueError("feature_scale values must be positive")
        if self.window_steps % 2 != 1:
            raise ValueError("window_steps must be odd (windows are centred)")
        frames = self.step_s / self.frame_s
        if abs(frames - round(frames)) > 1e-9:
            raise ValueError("step_s must be a whole number of frames")

    @property
    def frames_per_step(self) -> int:
        return int(round(self.step_s / self.frame_s))

    @property
    def step_values(self) -> int:
        """Values per channel and step of the standardised frames (frames × features)."""
        return self.frames_per_step * self.n_features

    @property
    def p1_input_values(self) -> int:
        """Values per channel and step that P1 reads (see ``p1_step_input`` and
        ``p1_context_steps``)."""
        if self.p1_step_input == "frames":
            return self.step_values
        moments = 2 * self.n_features
        return moments + len(self.p1_context_steps) * (moments + self.absolute_features)

    @property
    def absolute_features(self) -> int:
        """The absolute LFCC columns (E_f, c1..c(n-1), E_d) that lead each frame's
        ``n_features`` = absolute + their deltas + delta-deltas (FeatureSpec.n_features)."""
        return (self.n_features + 1) // 3

    @property
    def p1_context_reach(self) -> int:
        """Steps on each side that a step's P1 input reads beyond the step itself."""
        return max(self.p1_context_steps, default=1) // 2

    @property
    def n_hyp(self) -> int:
        return 4

    @property
    def map_values(self) -> int:
        """Values per channel and step fed to P2: mean and max of each feature + hyp."""
        return 2 * self.n_features + self.n_hyp

    @property
    def half_window(self) -> int:
        return self.window_steps // 2

    @property
    def context_steps(self) -> tuple[int, int]:
        """Steps of past/future a step's fused output depends on (chunk overlap)."""
        reach = self.window_steps - 1 if self.causal else self.half_window
        p1_reach = reach + self.p1_context_reach
        past = reach + int(round(max(self.hyp_onset_cap_s, self.hyp_mean_window_s)
                                 / self.step_s)) + p1_reach
        return past, 0 if self.causal else self.half_window + p1_reach

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return fields_as_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """A config from its JSON form; a field missing from a bundle saved before it
        existed takes the value that reproduces that bundle (:data:`BEFORE_FIELD`)."""
        return from_fields(cls, {**BEFORE_FIELD, **data})


# What a ModelConfig field meant in bundles saved before the field existed (where that
# differs from today's default).
BEFORE_FIELD = {"p1_step_input": "frames"}


@dataclasses.dataclass(frozen=True)
class P3Params:
    """Fusion and post-processing (tuned on the dev set, stored with the model).

    p(t) = ``p2_weight`` · p_P2(t) + (1 − ``p2_weight``) · mean of the ``top_k`` highest
    P1 channel posteriors; an event is a run of p(t) > ``threshold``; events separated by
    at most ``merge_gap_s`` merge; events shorter than ``min_duration_s`` are dropped;
    an event needs at least ``min_channels`` P1 channels above ``threshold`` somewhere
    inside it. Confidence = mean fused posterior over the event.
    """

    p2_weight: float = 0.5
    top_k: int = 3
    threshold: float = 0.5
    merge_gap_s: float = 2.0
    min_duration_s: float = 3.0
    min_channels: int = 2

    def __post_init__(self):
        if not 0.0 <= self.p2_weight <= 1.0:
            raise ValueError("p2_weight must be in [0, 1]")
        if self.top_k < 1 or self.min_channels < 0:
            raise ValueError("top_k must be >= 1 and min_channels >= 0")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "P3Params":
        return from_fields(cls, data)


def fields_as_json(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a JSON-able dict (tuples become lists)."""
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
            for f in dataclasses.fields(obj)}



def from_fields(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """``cls(**data)``, with a clear error for fields this version does not know."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__} fields {unknown} are unknown to this NeuroKube "
                         "version (a typo, or a file written by another version?)")
    return cls(**data)
