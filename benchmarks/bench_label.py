"""End-to-end ``neurokube label`` throughput on a corpus of >= 10 EEG-hours.

1. Writes a demo corpus (``--records`` × ``--minutes``, 250/256/400/512 Hz, with seizures).
2. Runs ``neurokube label`` on it with the DirectRunner in multi-processing mode (one
   worker per core) and the shipped model, and measures wall time and the CPU time of
   every process (the workers included).
3. Runs the same stages once more in this process, single-threaded, recording by
   recording, to split the time into reading, features, inference and writing.

Prints EEG-hours ÷ CPU-core-hours (target >= 1,000x per core) and the shares.

    python benchmarks/bench_label.py [--records 20 --minutes 30] [--rates 250,256,400,512]
"""
import os

# The stage breakdown below runs in this process, single-threaded. The label run gets
# the environment without these, so it measures what `neurokube label` does by default.
_CALLER_ENV = dict(os.environ)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


def stage_breakdown(paths, bundle_dir, out_dir):
    """CPU seconds of each stage, run in this process one recording at a time."""
    from neurokube.models.bundle import ModelBundle
    from neurokube.core.model_inputs import max_abs_scale, zero_fill
    from neurokube.core.model_inputs import ModelInput
    from neurokube.models.postprocess import detect_events, fuse
    from neurokube.transforms.detect import Detection
    from neurokube.core.edf import open_recording
    from neurokube.transforms.event_writers import WRITER_SUFFIXES, format_detection
    from neurokube.core.paths import atomic_write_text
    from neurokube.core.lfcc import lfcc
    from neurokube.core.montage import to_tcp

    bundle = ModelBundle.load(bundle_dir)
    det = bundle.detector()
    spec, cfg = bundle.feature_spec, bundle.config
    shares = {"read": 0.0, "features": 0.0, "inference": 0.0, "write": 0.0}
    for path in paths:
        t0 = time.process_time()
        with open_recording(path, spec) as src:
            signals, labels, rates, duration = src.read(), src.labels, src.fs_hz, src.duration_s
        t1 = time.process_time()
        tcp = to_tcp(signals, labels, rates, spec, path)
        full = zero_fill(lfcc(tcp.data_uv, spec), tcp.mask, cfg)
        full /= max_abs_scale(full, cfg)[:, None, :]
        n_steps = full.shape[1] // cfg.frames_per_step
        t2 = time.process_time()
        post = det.posteriors(ModelInput(path, full, tcp.mask, 0, 0, n_steps, 0, 1, duration,
                                         tcp.montage))
        fused = fuse(post.p1, post.p2, post.mask, bundle.p3)
        events = detect_events(fused, post.p1, post.mask, bundle.p3, cfg.step_s, duration)
        t3 = time.process_time()
        detection = Detection(path, events, fused, duration, tcp.montage)
        for fmt in ("csv_bi",):
            atomic_write_text(os.path.join(out_dir, os.path.basename(path) + WRITER_SUFFIXES[fmt]),
                              format_detection(detection, "x", fmt))
        t4 = time.process_time()
        for key, dt in zip(shares, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            shares[key] += dt
    return shares


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    parser.add_argument("--rates", default="250,256,400,512",
                        help="sampling rates, cycled over the recordings; e.g. 17 x 250 "
                             "then 256,400,512 approximates TUEG's mix (87 %% at 250 Hz)")
    args = parser.parse_args()
    from neurokube.models.bundle import REFERENCE_BUNDLE
    from neurokube.pipelines.demo_corpus import make_demo_corpus
    bundle_dir = args.model or str(REFERENCE_BUNDLE)
    work = args.workdir or tempfile.mkdtemp(prefix="nk-bench-")
    corpus, results = os.path.join(work, "corpus"), os.path.join(work, "results")
    shutil.rmtree(results, ignore_errors=True)
    rates = tuple(int(r) for r in args.rates.split(","))
    paths = make_demo_corpus(corpus, args.records, args.minutes, seed=42, rates=rates)
    cores = os.cpu_count()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    subprocess.run([sys.executable, "-m", "neurokube.pipelines.cli", "label", "--input",
                    os.path.join(corpus, "edf"), "--output", results, "--model", bundle_dir,
                    "--runner_config", "direct"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(_CALLER_ENV, TF_CPP_MIN_LOG_LEVEL="3"))
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_seconds(after) - cpu_seconds(before)
    with open(os.path.join(results, "run.json")) as handle:
        run = json.load(handle)
    eeg_h = run["eeg_hours"]
    print(f"label: {run['results']} recordings, {eeg_h:.2f} EEG-hours, {run['dead_letters']} "
          f"dead letters; wall {wall:.1f} s on {cores} cores, CPU {cpu:.1f} s (all processes, "
          f"start-up included)")
    print(f"throughput: {eeg_h * 3600 / cpu:,.0f}x real time per CPU core "
          f"(EEG-hours / CPU-core-hours; target >= 1,000x); "
          f"{eeg_h * 3600 / (wall * cores):,.0f}x per core by wall time")
    shares = stage_breakdown(paths, bundle_dir, tempfile.mkdtemp(dir=work))
    total = sum(shares.values())
    print("stage shares (one process, single-threaded, CPU s): " + ", ".join(
        f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for k, v in shares.items())
          + f"; stages alone {eeg_h * 3600 / total:,.0f}x real time")


if __name__ == "__main__":
    main()
