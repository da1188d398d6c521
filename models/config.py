"""Every size, window, threshold and normalisation of the seizure models (algorithm.md §3).

:class:`ModelConfig` holds the CHOICEs of P1, P2 and the hypothesis features;
:class:`P3Params` those of the fusion and post-processing stage. Both are saved in the
model bundle, so a model's outputs can always be traced to exactly what produced them.

Layer sizes are smaller than the spec's suggestion (LSTM 128/64): the default has to fit
the throughput budget of about 2 CPU-seconds per EEG-hour for all models on one core,
and P1 runs 22 × 3,600 windows per EEG-hour. ``benchmarks/bench_label.py`` measures it.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Input windows and layer sizes of P1 and P2.

    Time steps are ``step_s`` long (1 s = 10 feature frames, flattened to 260 values per
    channel); a window is ``window_steps`` steps centred on the step it labels; windows
    at the edges replicate the first/last step. Features are divided per channel and
    feature by their max |x| over the recording (``norm_eps`` added).
    """

    n_channels: int = 22
    n_features: int = 26
    step_s: float = 1.0
    frame_s: float = 0.1
    window_steps: int = 7
    norm_eps: float = 1e-6
    # P1: TimeDistributed(Dense) -> LSTM -> Dense(2, softmax).
    p1_dense_units: int = 32
    p1_lstm_units: int = 32
    p1_dropout: float = 0.3
    # P1 hypothesis features: p, in-event flag, time since onset (capped), event mean p.
    hyp_threshold: float = 0.5
    hyp_onset_cap_s: float = 60.0
    hyp_mean_window_s: float = 60.0
    # P2: TimeDistributed(Conv2D -> MaxPool -> Conv2D -> MaxPool -> Flatten) -> LSTM -> Dense.
    p2_conv_filters: tuple = (8, 16)
    p2_lstm_units: int = 32
    p2_dropout: float = 0.3

    def __post_init__(self):
        object.__setattr__(self, "p2_conv_filters", tuple(self.p2_conv_filters))
        if self.window_steps % 2 != 1:
            raise ValueError("window_steps must be odd (windows are centred)")
        frames = self.step_s / self.frame_s
        if abs(frames - round(frames)) > 1e-9:
            raise ValueError("step_s must be a whole number of frames")

    @property
    def frames_per_step(self):
        return int(round(self.step_s / self.frame_s))

    @property
    def step_values(self):
        """Values per channel and step fed to P1 (frames × features)."""
        return self.frames_per_step * self.n_features

    @property
    def n_hyp(self):
        return 4

    @property
    def map_values(self):
        """Values per channel and step fed to P2: mean and max of each feature + hyp."""
        return 2 * self.n_features + self.n_hyp

    @property
    def half_window(self):
        return self.window_steps // 2

    @property
    def context_steps(self):
        """Steps of past/future a step's fused output depends on (chunk overlap)."""
        past = self.half_window + int(round(max(self.hyp_onset_cap_s, self.hyp_mean_window_s)
                                                / self.step_s)) + self.half_window
        return past, 2 * self.half_window

    def to_dict(self):
        return fields_as_json(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


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

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


def fields_as_json(obj):
    """A dataclass's fields as a JSON-able dict (tuples become lists)."""
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
            for f in dataclasses.fields(obj)}

