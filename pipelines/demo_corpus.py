"""A small demo corpus the project generates itself: TUSZ-layout EDFs with references.

Synthetic scalp EEG: pink-ish background (filtered noise plus an alpha rhythm), with
rhythmic spike-and-wave discharges (3-6 Hz, growing amplitude, on a region of
electrodes) as "seizures". Recordings carry real TUH label conventions (``EEG FP1-REF``,
``-LE``, no A1/A2 in ``03_tcp_ar_a``), mixed sampling rates and non-EEG channels, and
a term-level ``.csv_bi`` reference each. It exercises every stage of the pipeline; it is
not clinical data and says nothing about accuracy on real EEG.

Example::

    neurokube demo-corpus --output demo_corpus --records 4 --minutes 3
"""
import argparse
import os
import pathlib
from typing import Iterable, Sequence

import numpy as np

from neurokube.core.edf import write_edf

ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ", "A1", "A2")
REGIONS = (("F7", "T3", "T5", "FP1", "A1"), ("F8", "T4", "T6", "FP2", "A2"),
           ("F3", "C3", "P3", "CZ"), ("F4", "C4", "P4", "CZ"), ELECTRODES)
MONTAGE_FOLDERS = (("01_tcp_ar", "REF", False), ("02_tcp_le", "LE", False),
                   ("03_tcp_ar_a", "REF", True))
EXTRA_CHANNELS = ("EEG EKG1-REF", "PHOTIC-REF", "IBI", "BURSTS", "SUPPR")


def background(rng: np.random.Generator, n: int, fs_hz: float) -> np.ndarray:
    """One electrode of background EEG, µV."""
    from scipy import signal as sp_signal  # 0.5 s to import: only where used
    b, a = sp_signal.butter(2, [0.5 / (fs_hz / 2), 30.0 / (fs_hz / 2)], btype="band")
    x = sp_signal.lfilter(b, a, rng.normal(0.0, 60.0, n))
    t = np.arange(n) / fs_hz
    alpha = 12.0 * np.sin(2 * np.pi * rng.uniform(8.5, 11.5) * t + rng.uniform(0, 6.3))
    return x + alpha + rng.normal(0.0, 1.5, n)


def discharge(rng: np.random.Generator, n: int, fs_hz: float) -> np.ndarray:
    """Rhythmic spike-and-wave activity of ``n`` samples with a ramped envelope, µV."""
    t = np.arange(n) / fs_hz
    f0 = rng.uniform(3.0, 6.0)
    phase = 2 * np.pi * f0 * t
    wave = np.sin(phase) + 0.8 * np.maximum(0.0, np.sin(phase)) ** 12 * 3.0
    ramp = np.clip(t / 2.0, 0.0, 1.0) * np.clip((t[-1] - t) / 2.0, 0.0, 1.0)
    return rng.uniform(80.0, 150.0) * wave * ramp


def seizure_plan(rng: np.random.Generator,
                 duration_s: float) -> list[tuple[float, float, tuple[str, ...]]]:
    """Non-overlapping (start_s, stop_s, region) seizures, 10-40 s each."""
    events, t = [], rng.uniform(20.0, 60.0)
    while True:
        length = rng.uniform(10.0, 40.0)
        if t + length > duration_s - 10.0:
            return events
        events.append((round(t, 1), round(t + length, 1), REGIONS[rng.integers(len(REGIONS))]))
        t += length + rng.uniform(40.0, 120.0)


def make_recording(rng: np.random.Generator, fs_hz: float, duration_s: float,
                   with_seizures: bool
                   ) -> tuple[dict[str, np.ndarray], list[tuple[float, float]]]:
    n = int(round(duration_s * fs_hz))
    signals = {e: background(rng, n, fs_hz) for e in ELECTRODES}
    events = seizure_plan(rng, duration_s) if with_seizures else []
    for start, stop, region in events:
        lo, hi = int(start * fs_hz), int(stop * fs_hz)
        burst = discharge(rng, hi - lo, fs_hz)
        for e in region:
            signals[e][lo:hi] += burst * rng.uniform(0.7, 1.0)
    return signals, [(s, e) for s, e, _ in events]


def csv_bi_text(bname: str, duration_s: float, events: Iterable[tuple[float, float]]) -> str:
    lines = ["# version = csv_v1.0.0", f"# bname = {bname}",
             f"# duration = {duration_s:.4f} secs", "#",
             "channel,start_time,stop_time,label,confidence"]
    lines += [f"TERM,{s:.4f},{e:.4f},seiz,1.0000" for s, e in events]
    return "\n".join(lines) + "\n"


def make_demo_corpus(output_dir: str | os.PathLike[str], records: int = 4,
                     minutes: float = 3.0, seed: int = 0,
                     rates: Sequence[int] = (250, 256, 400, 512)) -> list[str]:
    """Write ``records`` recordings under ``output_dir/edf/demo/...``; return their paths."""
    rng = np.random.default_rng(seed)
    out = pathlib.Path(output_dir)
    paths = []
    for r in range(records):
        fs_hz = int(rates[r % len(rates)])
        folder, ref, no_ears = MONTAGE_FOLDERS[r % len(MONTAGE_FOLDERS)]
        signals, events = make_recording(rng, fs_hz, minutes * 60.0, with_seizures=r % 4 != 3)
        labels = [f"EEG {e}-{ref}" for e in ELECTRODES if not (no_ears and e in ("A1", "A2"))]
        data = [signals[lab.split()[1].split("-")[0]] for lab in labels]
        data += [rng.normal(0.0, 5.0, len(data[0])) for _ in EXTRA_CHANNELS]
        subject = f"demo{r:04d}"
        bname = f"{subject}_s001_t000"
        target = out / "edf" / "demo" / subject / "s001_2026" / folder
        target.mkdir(parents=True, exist_ok=True)
        duration = write_edf(target / f"{bname}.edf", np.stack(data),
                             labels + list(EXTRA_CHANNELS), fs_hz)
        (target / f"{bname}.csv_bi").write_text(csv_bi_text(bname, duration, events))
        paths.append(str(target / f"{bname}.edf"))
    return paths


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo-corpus", help="write a small synthetic TUSZ-layout corpus (EDF + .csv_bi)")
    parser.add_argument("--output", required=True, help="folder to write the corpus to")
    parser.add_argument("--records", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, _: list[str]) -> int:
    paths = make_demo_corpus(args.output, args.records, args.minutes, args.seed)
    print(f"wrote {len(paths)} recordings under {args.output}/edf")
    return 0
