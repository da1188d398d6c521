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


def model_input(hours=1.0, seed=0):
    from neurokube.models.config import ModelConfig
    from neurokube.core.model_inputs import ModelInput
    from neurokube.core.model_inputs import max_abs_scale, zero_fill
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.lfcc import lfcc
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * 250)
    t = np.arange(n) / 250.0
    x = rng.normal(0, 20, (22, n)) + 30 * np.sin(2 * np.pi * 10 * t)
    x[:6, n // 3:n // 3 + 250 * 40] += 150 * np.sin(2 * np.pi * 4 * t[:250 * 40])
    cfg = ModelConfig()
    feats = zero_fill(lfcc(x, FeatureSpec()), np.ones(22, bool), cfg)
    feats /= max_abs_scale(feats, cfg)[:, None, :]
    steps = feats.shape[1] // cfg.frames_per_step
    return ModelInput("synthetic", feats, np.ones(22, bool), 0, 0, steps, 0, 1, hours * 3600,
                      "AR")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--save", default=None, help="write the posteriors here (.npz)")
    parser.add_argument("--expected", default=None, help="compare with these posteriors")
    parser.add_argument("--p1_batch_windows", type=int, default=8192)
    parser.add_argument("--p2_batch_windows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import keras
    from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
    bundle = ModelBundle.load(args.model or REFERENCE_BUNDLE)
    det = bundle.detector(p1_batch_windows=args.p1_batch_windows,
                          p2_batch_windows=args.p2_batch_windows)
    chunk = model_input()
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
    print(f"backend {keras.backend.backend()} on {device}: model {bundle.version}, 1 EEG-hour "
          f"(22 channels) P1+P2 in {min(times):.3f} s (best of {args.repeats}) = "
          f"{3600 / min(times):,.0f}x real time")
    if args.save:
        np.savez(args.save, p1=out.p1, p2=out.p2)
    if args.expected:
        ref = np.load(args.expected)
        d1, d2 = np.abs(out.p1 - ref["p1"]).max(), np.abs(out.p2 - ref["p2"]).max()
        print(f"max |difference| from the reference run: P1 {d1:.2e}, P2 {d2:.2e} "
              f"({'OK' if max(d1, d2) < 1e-4 else 'MISMATCH'} at 1e-4)")


if __name__ == "__main__":
    main()
