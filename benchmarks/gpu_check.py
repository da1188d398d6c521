"""The shipped .keras models on another Keras backend and device: same posteriors, speed.

Builds a fixed, seeded 1-hour, 22-channel model input (LFCC of synthetic EEG, the same on
every machine), runs the reference detector (P1 + P2) on it, and prints the posteriors'
largest difference from a saved reference run and the inference speed. Run it once with
TensorFlow on CPU to save the reference, then elsewhere, e.g. with PyTorch on a GPU:

    python benchmarks/gpu_check.py --save expected.npz
    KERAS_BACKEND=torch python benchmarks/gpu_check.py --expected expected.npz \
        --p1_batch_windows 65536 --p2_batch_windows 8192
"""
import argparse
import time

import numpy as np


def model_input(bundle, hours=1.0, seed=0):
    """A fixed synthetic input, normalised as ``bundle`` normalises a recording (levels:
    the median of each channel's leading cepstral columns over the hour)."""
    from neurokube.core.lfcc import lfcc
    from neurokube.core.model_inputs import ModelInput, normalise
    spec, cfg = bundle.feature_spec, bundle.config
    rng = np.random.default_rng(seed)
    fs = spec.target_fs_hz
    n = int(hours * 3600 * fs)
    t = np.arange(n) / fs
    x = rng.normal(0, 20, (22, n)) + 30 * np.sin(2 * np.pi * 10 * t)
    x[:6, n // 3:n // 3 + int(fs) * 40] += 150 * np.sin(2 * np.pi * 4 * t[:int(fs) * 40])
    raw = lfcc(x, spec)
    mask = np.ones(22, bool)
    feats = normalise(raw, mask, np.median(raw[..., :spec.n_cepstra], axis=1), cfg)
    steps = feats.shape[1] // cfg.frames_per_step
    return ModelInput("synthetic", feats, mask, 0, 0, steps, 0, 1, hours * 3600, "AR")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--save", default=None, help="write the posteriors here (.npz)")
    parser.add_argument("--expected", default=None, help="compare with these posteriors")
    parser.add_argument("--p1_batch_windows", type=int, default=8192)
    parser.add_argument("--p2_batch_windows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0, help="EEG-hours of input")
    args = parser.parse_args()
    import keras
    from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
    bundle = ModelBundle.load(args.model or REFERENCE_BUNDLE)
    det = bundle.detector(p1_batch_windows=args.p1_batch_windows,
                          p2_batch_windows=args.p2_batch_windows)
    chunk = model_input(bundle, hours=args.hours)
    out = det.posteriors(chunk)  # warm-up (traces/compiles)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = det.posteriors(chunk)
        times.append(time.perf_counter() - start)
    device = "cpu"
    if keras.backend.backend() == "torch":
        import torch
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"backend {keras.backend.backend()} on {device}: model {bundle.version}, "
          f"{args.hours:g} EEG-hours (22 channels) P1+P2 in {min(times):.3f} s (best of "
          f"{args.repeats}) = {args.hours * 3600 / min(times):,.0f}x real time")
    if args.save:
        np.savez(args.save, p1=out.p1, p2=out.p2)
    if args.expected:
        ref = np.load(args.expected)
        d1, d2 = np.abs(out.p1 - ref["p1"]).max(), np.abs(out.p2 - ref["p2"]).max()
        print(f"max |difference| from the reference run: P1 {d1:.2e}, P2 {d2:.2e} "
              f"({'OK' if max(d1, d2) < 1e-4 else 'MISMATCH'} at 1e-4)")


if __name__ == "__main__":
    main()
