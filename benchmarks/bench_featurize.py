"""Featurization speed of a 1-hour, 22-channel (TCP) recording on one core.

Writes a 1-hour EDF (21 electrodes + 5 non-EEG channels, demo-corpus signals) at each
rate, then times reading, montage (+ resampling), band-pass and the LFCC front end,
single-threaded.
Prints the real-time factor (EEG seconds per second of one core); target >= 2,000x.

    python benchmarks/bench_featurize.py [--rates 250,256] [--repeats 3]
"""
import os

# One core: pin BLAS/FFT threads before NumPy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from neurokube.pipelines.demo_corpus import ELECTRODES, EXTRA_CHANNELS, background  # noqa: E402
from neurokube.core.edf import open_recording, write_edf  # noqa: E402
from neurokube.core.feature_spec import FeatureSpec  # noqa: E402
from neurokube.core.filters import bandpass  # noqa: E402
from neurokube.core.lfcc import lfcc  # noqa: E402
from neurokube.core.montage import to_tcp  # noqa: E402

DURATION_S = 3600.0


def make_hour(path, fs_hz, seed=0):
    rng = np.random.default_rng(seed)
    n = int(DURATION_S * fs_hz)
    data = [background(rng, n, fs_hz) for _ in ELECTRODES]
    data += [rng.normal(0, 5, n) for _ in EXTRA_CHANNELS]
    labels = [f"EEG {e}-REF" for e in ELECTRODES] + list(EXTRA_CHANNELS)
    write_edf(path, np.stack(data), labels, fs_hz)


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,256")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = FeatureSpec()
    with tempfile.TemporaryDirectory() as tmp:
        for fs_hz in [int(r) for r in args.rates.split(",")]:
            path = os.path.join(tmp, f"hour_{fs_hz}.edf")
            make_hour(path, fs_hz)
            with open_recording(path, spec) as src:
                t_read, signals = best_of(args.repeats, src.read)
                t_tcp, tcp = best_of(args.repeats, lambda: to_tcp(
                    signals, src.labels, src.fs_hz, spec, path, plan=src.plan))
            t_filter, filtered = best_of(args.repeats, lambda: bandpass(tcp.data_uv, spec))
            t_feat, feats = best_of(args.repeats, lambda: lfcc(filtered, spec))
            total = t_read + t_tcp + t_filter + t_feat
            print(f"{fs_hz} Hz, 1 h, {feats.shape[0]} TCP channels -> features {feats.shape}: "
                  f"read {t_read:.2f} s, montage+resample {t_tcp:.2f} s, band-pass "
                  f"{t_filter:.2f} s, LFCC {t_feat:.2f} s (CPU s, best of {args.repeats}); "
                  f"total {total:.2f} s = {DURATION_S / total:,.0f}x real time on one core "
                  "(target >= 2,000x)")


if __name__ == "__main__":
    main()
