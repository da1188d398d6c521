"""Training corpora from real scalp backgrounds: Bonn ictal EEG placed into real recordings.

The detector must learn seizures, not the recording system. Each output recording is a
real multichannel scalp EEG file (its labels, reference and artefacts kept) in which,
for seizure variants, a seizure built from Bonn ictal segments (set ``S``) is added to
the referential electrodes with a spatial focus: a Gaussian field around a focus
electrode (or a broad field for generalised seizures), so that bipolar channels near the
focus see it and distant ones do not. Its amplitude is drawn relative to the recording's
own background level. Every variant also draws augmentations of what differs between
recording systems: sampling rate, gain, mains hum at 50 or 60 Hz, DC offsets and drift,
a flat electrode, electrode pops, blinks and muscle bursts.

Outputs per recording: an EDF+ file with the source's channel labels, a term ``.csv_bi``
and a per-channel ``.csv`` whose seizure channels are the TCP channels whose two
electrodes' field weights differ by at least :attr:`MixConfig.channel_label_min_weight`.
Everything is drawn from one seeded generator, in sorted input order: the same inputs and
seed give the same corpus.

Example::

    mix_corpus(["bg/a.edf", "bg/b.edf"], "bonn/", range(1, 61), "mixed/", MixConfig())
"""
import dataclasses
import fractions
import os
from typing import Any, Sequence

import numpy as np
import pyedflib

from neurokube.core.edf import write_edf
from neurokube.core.edf_header import uv_per_unit
from neurokube.core.feature_spec import TCP_CHANNELS, TCP_MONTAGE, FeatureSpec
from neurokube.core.formats import Annotation, Event, write_annotation
from neurokube.core.montage import REFERENCE, parse_label

BONN_FS_HZ = 173.61
# Approximate scalp positions of the 10-20 electrodes (x: left to right, y: back to front).
POSITIONS = {
    "FP1": (-0.31, 0.95), "FP2": (0.31, 0.95), "F7": (-0.81, 0.59), "F3": (-0.39, 0.55),
    "FZ": (0.0, 0.5), "F4": (0.39, 0.55), "F8": (0.81, 0.59), "T3": (-1.0, 0.0),
    "C3": (-0.5, 0.0), "CZ": (0.0, 0.0), "C4": (0.5, 0.0), "T4": (1.0, 0.0),
    "T5": (-0.81, -0.59), "P3": (-0.39, -0.55), "PZ": (0.0, -0.5), "P4": (0.39, -0.55),
    "T6": (0.81, -0.59), "O1": (-0.31, -0.95), "O2": (0.31, -0.95), "A1": (-1.15, -0.1),
    "A2": (1.15, -0.1)}
FRONTAL = ("FP1", "FP2")
TEMPORAL = ("F7", "T3", "T5", "F8", "T4", "T6")


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """Every CHOICE of a mixed corpus (recorded in the model card).

    Seizures: ``seizure_s`` (min, max) duration, at most ``max_seizure_fraction`` of the
    recording; amplitude at the focus ``amplitude_ratio`` (min, max, log-uniform) times
    the recording's median electrode RMS; ``focus_sigma`` (min, max) width of the field
    (unit head radius), ``generalised_share`` of seizures with a broad field
    (``generalised_sigma``), each electrode's weight scaled by a factor drawn from
    ``weight_jitter`` (so that bipolar channels see broad fields); ``ramp_s`` onset/offset
    ramps; per-channel labels where the
    field weights of a TCP channel's electrodes differ by ``channel_label_min_weight``.
    Augmentations: output ``rates_hz`` (``0`` keeps the source rate), ``gain`` range
    (log-uniform), and the probability and size of each artefact.
    """

    seizure_s: tuple = (12.0, 90.0)
    max_seizure_fraction: float = 0.5
    amplitude_ratio: tuple = (1.5, 8.0)
    focus_sigma: tuple = (0.25, 0.6)
    generalised_share: float = 0.2
    generalised_sigma: float = 2.0
    weight_jitter: tuple = (0.6, 1.2)
    ramp_s: float = 2.0
    channel_label_min_weight: float = 0.3
    rates_hz: tuple = (0, 100, 128, 200, 250, 256, 400, 512)
    gain: tuple = (0.1, 10.0)
    mains_probability: float = 0.5
    mains_uv: tuple = (2.0, 40.0)
    drift_probability: float = 0.5
    drift_uv: tuple = (20.0, 300.0)
    flat_probability: float = 0.15
    pop_probability: float = 0.3
    pop_uv: tuple = (50.0, 400.0)
    blink_probability: float = 0.5
    blink_uv: tuple = (80.0, 300.0)
    muscle_probability: float = 0.4
    muscle_uv: tuple = (10.0, 60.0)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def load_bonn_ictal(bonn_dir: str, numbers: Sequence[int]) -> list[np.ndarray]:
    """Zero-mean Bonn set-S segments (µV at 173.61 Hz) with the given numbers."""
    out = []
    for n in numbers:
        candidates = [os.path.join(bonn_dir, "S", f"S{n:03d}{ext}") for ext in (".txt", ".TXT")]
        path = next((c for c in candidates if os.path.exists(c)), None)
        if path is None:
            raise FileNotFoundError(f"Bonn segment S{n:03d} not found under {bonn_dir}/S")
        x = np.loadtxt(path, dtype=np.float64)
        out.append(x - x.mean())
    return out


def _resample(x, fs_in, fs_out):
    from scipy import signal as sp_signal  # 0.5 s to import: only where used
    if abs(fs_in - fs_out) < 1e-9:
        return x
    ratio = fractions.Fraction(fs_out).limit_denominator(1000) / fractions.Fraction(
        fs_in).limit_denominator(1000)
    return sp_signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def _seizure_source(rng, segments, n, fs_hz, ramp_s):
    """Concatenated Bonn ictal segments of ``n`` samples, unit RMS, ramped on and off."""
    pieces, total = [], 0
    while total < n:
        x = segments[int(rng.integers(len(segments)))]
        x = _resample(x, BONN_FS_HZ, fs_hz)
        x = np.roll(x, int(rng.integers(len(x)))) * rng.choice([-1.0, 1.0])
        pieces.append(x / (x.std() + 1e-12))
        total += len(x)
    source = np.concatenate(pieces)[:n]
    t = np.arange(n)
    ramp = np.clip(np.minimum(t, n - 1 - t) / max(1.0, ramp_s * fs_hz), 0.0, 1.0)
    return source * ramp


def _field(rng, cfg):
    """Per-electrode weights of a seizure's field (focus weight about 1)."""
    if rng.random() < cfg.generalised_share:
        focus, sigma = (0.0, 0.0), cfg.generalised_sigma
    else:
        names = sorted(e for e in POSITIONS if e not in ("A1", "A2"))
        focus = POSITIONS[names[int(rng.integers(len(names)))]]
        sigma = rng.uniform(*cfg.focus_sigma)
    return {e: float(np.exp(-((x - focus[0]) ** 2 + (y - focus[1]) ** 2) / (2 * sigma ** 2))
                     * rng.uniform(*cfg.weight_jitter)) for e, (x, y) in POSITIONS.items()}


def _augment(rng, cfg, signals, electrodes, fs_hz):
    """Artefacts and recording differences, in place on the referential electrodes."""
    from scipy import signal as sp_signal
    n = signals.shape[1]
    t = np.arange(n) / fs_hz
    if rng.random() < cfg.mains_probability:
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        if f0 < fs_hz / 2:
            amp = rng.uniform(*cfg.mains_uv)
            for i in electrodes.values():
                signals[i] += amp * rng.uniform(0.5, 1.5) * np.sin(
                    2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
    if rng.random() < cfg.drift_probability:
        for i in electrodes.values():
            walk = np.cumsum(rng.normal(0.0, 1.0, n))
            walk = sp_signal.sosfiltfilt(sp_signal.butter(2, 0.2, fs=fs_hz, output="sos"), walk)
            walk *= rng.uniform(*cfg.drift_uv) / (np.abs(walk).max() + 1e-12)
            signals[i] += walk + rng.uniform(-500.0, 500.0)
    names = sorted(electrodes)
    if rng.random() < cfg.pop_probability:
        i = electrodes[names[int(rng.integers(len(names)))]]
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(n))
            decay = np.exp(-np.arange(n - at) / (rng.uniform(0.05, 0.5) * fs_hz))
            signals[i, at:] += rng.choice([-1.0, 1.0]) * rng.uniform(*cfg.pop_uv) * decay
    frontal = [electrodes[e] for e in FRONTAL if e in electrodes]
    if frontal and rng.random() < cfg.blink_probability:
        width = int(0.3 * fs_hz)
        shape = np.sin(np.pi * np.arange(width) / width)
        for _ in range(int(rng.integers(2, 12))):
            at = int(rng.integers(max(1, n - width)))
            amp = rng.uniform(*cfg.blink_uv)
            for i in frontal:
                signals[i, at:at + width] += amp * rng.uniform(0.8, 1.0) * shape[:n - at]
    temporal = [electrodes[e] for e in TEMPORAL if e in electrodes]
    if temporal and rng.random() < cfg.muscle_probability:
        band = [20.0, min(70.0, 0.45 * fs_hz)]
        sos = sp_signal.butter(4, band, btype="bandpass", fs=fs_hz, output="sos")
        for _ in range(int(rng.integers(1, 5))):
            length = int(rng.uniform(1.0, 3.0) * fs_hz)
            at = int(rng.integers(max(1, n - length)))
            burst = sp_signal.sosfilt(sos, rng.normal(0.0, 1.0, length))
            burst *= rng.uniform(*cfg.muscle_uv) / (burst.std() + 1e-12)
            side = [i for i in temporal if rng.random() < 0.7] or temporal[:1]
            for i in side:
                signals[i, at:at + length] += burst[:n - at]
    if rng.random() < cfg.flat_probability:
        signals[electrodes[names[int(rng.integers(len(names)))]]] = 0.0


def mix_recording(path: str | os.PathLike[str], segments: Sequence[np.ndarray],
                  rng: np.random.Generator, cfg: MixConfig, with_seizure: bool,
                  spec: FeatureSpec = FeatureSpec()) -> tuple[
                      np.ndarray, list[str], float, list[tuple[float, float]], list[str]]:
    """One mixed variant of a background EDF.

    Returns
    -------
    (signals, labels, fs_hz, events, channels)
        ``signals`` (channels, samples) µV of every signal of the file at ``fs_hz``;
        ``events`` [(start_s, stop_s)]; ``channels`` the TCP channels labelled seizure.
    """
    from scipy import signal as sp_signal
    reader = pyedflib.EdfReader(str(path))
    try:
        labels = list(reader.getSignalLabels())
        rates = [float(r) for r in reader.getSampleFrequencies()]
        raw = [reader.readSignal(i) * (uv_per_unit(reader.getPhysicalDimension(i)) or 1.0)
               for i in range(len(labels))]
    finally:
        reader.close()
    native = max(rates)
    choice = cfg.rates_hz[int(rng.integers(len(cfg.rates_hz)))]
    fs_hz = float(choice or native)
    data = [_resample(x, rate, fs_hz) for x, rate in zip(raw, rates)]
    n = min(len(x) for x in data)
    signals = np.stack([x[:n] for x in data])
    electrodes = {}
    for i, label in enumerate(labels):
        parsed = parse_label(label, spec)
        if parsed and parsed[1] == REFERENCE and parsed[0] in POSITIONS:
            electrodes.setdefault(parsed[0], i)
    gain = float(np.exp(rng.uniform(np.log(cfg.gain[0]), np.log(cfg.gain[1]))))
    events, channels = [], []
    if with_seizure:
        duration_s = n / fs_hz
        length_s = min(rng.uniform(*cfg.seizure_s), cfg.max_seizure_fraction * duration_s)
        start_s = rng.uniform(0.1 * duration_s, 0.9 * duration_s - length_s)
        a0, length = int(start_s * fs_hz), int(length_s * fs_hz)
        rows = list(electrodes.values())
        band = sp_signal.butter(4, [0.5, min(40.0, 0.45 * fs_hz)], btype="bandpass",
                                fs=fs_hz, output="sos")
        filtered = sp_signal.sosfiltfilt(band, signals[rows], axis=-1)
        level = float(np.median((filtered - filtered.mean(axis=0)).std(axis=1)))
        ratio = float(np.exp(rng.uniform(np.log(cfg.amplitude_ratio[0]),
                                         np.log(cfg.amplitude_ratio[1]))))
        source = _seizure_source(rng, segments, length, fs_hz, cfg.ramp_s) * ratio * level
        weights = _field(rng, cfg)
        for name, i in electrodes.items():
            signals[i, a0:a0 + length] += weights[name] * source
        events = [(round(a0 / fs_hz, 4), round((a0 + length) / fs_hz, 4))]
        channels = [ch for ch, (a, b) in zip(TCP_CHANNELS, TCP_MONTAGE)
                    if abs(weights[a] - weights[b]) >= cfg.channel_label_min_weight]
    _augment(rng, cfg, signals, electrodes, fs_hz)
    signals[[i for i, lab in enumerate(labels) if parse_label(lab, spec)]] *= gain
    return signals, labels, fs_hz, events, channels


def mix_corpus(backgrounds: Sequence[str], bonn_dir: str, segments: Sequence[int], out_dir: str,
               cfg: MixConfig = MixConfig(), seizure_variants: int = 6, clean_variants: int = 2,
               seed: int = 0) -> list[str]:
    """Write a mixed corpus: per background EDF, ``seizure_variants`` recordings with one
    seizure and ``clean_variants`` augmented ones without. Returns the EDF paths written."""
    rng = np.random.default_rng(seed)
    ictal = load_bonn_ictal(bonn_dir, segments)
    written = []
    for path in sorted(backgrounds):
        stem = os.path.splitext(os.path.basename(path))[0]
        for k in range(seizure_variants + clean_variants):
            with_seizure = k < seizure_variants
            signals, labels, fs_hz, events, channels = mix_recording(
                path, ictal, rng, cfg, with_seizure)
            bname = f"{stem}_mix{k:02d}"
            target = os.path.join(out_dir, stem, bname + ".edf")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            duration = write_edf(target, signals, labels, fs_hz)
            term = [Event(s, e, "seiz") for s, e in events]
            write_annotation(Annotation(bname, duration, term), target[:-4] + ".csv_bi",
                             "csv_bi")
            per_channel = [Event(s, e, "seiz", 1.0, ch) for s, e in events for ch in channels]
            if per_channel:
                write_annotation(Annotation(bname, duration, per_channel),
                                 target[:-4] + ".csv", "csv")
            written.append(target)
    return written
