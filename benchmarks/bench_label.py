"""End-to-end ``neurokube label`` throughput, its fixed cost, its stages and the floor.

1. Writes a demo corpus (``--records`` × ``--minutes``; rates cycled from ``--rates``:
   by default TUEG's mix, 87 % at 250 Hz).
2. Runs ``neurokube label`` on it with the DirectRunner (multi-processing, one worker per
   core) and measures the CPU time of the whole process tree: EEG-hours per CPU-core-hour.
3. With ``--flink_master HOST:PORT --environment_config HOST:PORT`` (a running session
   cluster and worker pool, e.g. from ``.ci/flink_session_cluster.sh``), the same on
   Flink; the CPU of the cluster's JVMs and of the worker pool is read from ``/proc``
   for the ``--cluster_pids`` given.
4. The fixed cost: ``label`` on one 1-minute recording, with 1 and with 2 workers (the
   difference is the cost of a worker).
5. The stages alone, in this process, single-threaded: read, montage + filter, features,
   inference, P3, write; and the read-only floor (the EDF samples read, nothing else).

    python benchmarks/bench_label.py [--records 20 --minutes 30] [--rates 250,256,400,512]
"""
import os

# The stage breakdown runs in this process, single-threaded. The label runs get the
# environment without these, so they measure what `neurokube label` does by default.
_CALLER_ENV = dict(os.environ)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

TUEG_RATES = ",".join(["250"] * 17 + ["256", "400", "512"])


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pids):
    """CPU seconds so far of processes (and their threads) from /proc/<pid>/stat."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) \
                / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_label(corpus, out, bundle_dir, extra=(), cluster_pids=()):
    """(CPU s, wall s, run.json) of one ``neurokube label`` run."""
    shutil.rmtree(out, ignore_errors=True)
    before, cluster_before = _children_cpu(), _proc_cpu(cluster_pids)
    started = time.time()
    subprocess.run([sys.executable, "-m", "neurokube.pipelines.cli", "label", "--input",
                    corpus, "--output", out, "--model", bundle_dir, *extra], check=True,
                   stdout=subprocess.DEVNULL, env=_CALLER_ENV)
    wall = time.time() - started
    cpu = _children_cpu() - before + _proc_cpu(cluster_pids) - cluster_before
    with open(os.path.join(out, "run.json")) as handle:
        return cpu, wall, json.load(handle)


def stage_breakdown(paths, bundle_dir, out_dir):
    """CPU seconds of each stage and of the read-only floor, in this process."""
    from neurokube.core.edf import open_recording
    from neurokube.core.filters import bandpass
    from neurokube.core.lfcc import lfcc
    from neurokube.core.model_inputs import iter_model_inputs
    from neurokube.core.montage import to_tcp
    from neurokube.core.paths import atomic_write_text
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.postprocess import assemble
    from neurokube.transforms.detect import Detection
    from neurokube.transforms.write import format_detection
    bundle = ModelBundle.load(bundle_dir, engine="numpy")
    det = bundle.detector()
    spec, cfg = bundle.feature_spec, bundle.config
    shares = dict.fromkeys(("read", "montage+filter", "features", "inference", "P3",
                            "write"), 0.0)
    floor = 0.0
    for path in paths:
        t0 = time.process_time()
        with open_recording(path, spec) as src:
            signals = src.read()
            t1 = time.process_time()
            tcp = to_tcp(signals, src.labels, src.fs_hz, spec, path, plan=src.plan)
            filtered = bandpass(tcp.data_uv, spec)
            t2 = time.process_time()
            lfcc(filtered, spec)
            t3 = time.process_time()
        floor += t1 - t0
        with open_recording(path, spec) as src:
            inputs = list(iter_model_inputs(src, spec, cfg, 1200, 3600))
        t4 = time.process_time()
        post = [det.posteriors(x) for x in inputs]
        t5 = time.process_time()
        p1, p2, fused, events = assemble(post, bundle.p3, cfg.step_s)
        t6 = time.process_time()
        detection = Detection(path, events, fused, p1, p2, post[0].mask, post[0].duration_s,
                              post[0].montage)
        atomic_write_text(os.path.join(out_dir, os.path.basename(path) + ".csv_bi"),
                          format_detection(detection, "x", "csv_bi"))
        t7 = time.process_time()
        for key, dt in zip(shares, (t1 - t0, t2 - t1, t3 - t2, t5 - t4, t6 - t5, t7 - t6)):
            shares[key] += dt
    return shares, floor


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    parser.add_argument("--rates", default=TUEG_RATES,
                        help="sampling rates cycled over the recordings (default: TUEG's "
                             "mix, 17 x 250 then 256, 400, 512 Hz)")
    parser.add_argument("--flink_master", default=None, help="a Flink session cluster")
    parser.add_argument("--environment_config", default=None,
                        help="its Beam worker pool (EXTERNAL environment)")
    parser.add_argument("--flink_job_server_jar", default=None)
    parser.add_argument("--cluster_pids", default="",
                        help="comma-separated pids of the cluster's JVMs and worker pool")
    args = parser.parse_args()
    from neurokube.models.bundle import REFERENCE_BUNDLE
    from neurokube.pipelines.demo_corpus import make_demo_corpus
    bundle_dir = args.model or str(REFERENCE_BUNDLE)
    work = args.workdir or tempfile.mkdtemp(prefix="nk-bench-")
    corpus = os.path.join(work, "corpus")
    rates = tuple(int(r) for r in args.rates.split(","))
    paths = make_demo_corpus(corpus, args.records, args.minutes, seed=42, rates=rates)
    tiny = os.path.join(work, "tiny")
    make_demo_corpus(tiny, 1, 1.0, seed=7, rates=(250,))
    cores = os.cpu_count()

    cpu, wall, run = run_label(os.path.join(corpus, "edf"), os.path.join(work, "direct"),
                               bundle_dir, ["--runner_config", "direct"])
    eeg_h = run["eeg_hours"]
    direct = eeg_h * 3600 / cpu
    print(f"DirectRunner: {run['results']} recordings, {eeg_h:.2f} EEG-hours; wall {wall:.1f} s "
          f"on {cores} cores; CPU {cpu:.1f} s (every process, start-up included)")
    print(f"  throughput: {direct:,.0f}x real time per CPU core (target >= 2,000x); "
          f"{eeg_h * 3600 / (wall * cores):,.0f}x per core by wall time")
    fixed = {}
    for workers in (1, 2):
        cpu_w, _, _ = run_label(os.path.join(tiny, "edf"), os.path.join(work, f"tiny{workers}"),
                                bundle_dir, ["--runner_config", "direct",
                                             f"--direct_num_workers={workers}"])
        fixed[workers] = cpu_w
    print(f"fixed cost (1-minute recording): {fixed[1]:.1f} CPU-s with 1 worker, "
          f"{fixed[2]:.1f} with 2: about {fixed[2] - fixed[1]:.1f} CPU-s per worker, "
          f"{2 * fixed[1] - fixed[2]:.1f} for the launcher and runner")
    if args.flink_master:
        pids = [int(p) for p in args.cluster_pids.split(",") if p.strip()]
        extra = ["--runner_config", "flink_local", f"--flink_master={args.flink_master}",
                 "--environment_type=EXTERNAL", f"--environment_config={args.environment_config}",
                 "--parallelism=2"]
        if args.flink_job_server_jar:
            extra.append(f"--flink_job_server_jar={args.flink_job_server_jar}")
        cpu_f, wall_f, run_f = run_label(os.path.join(corpus, "edf"),
                                         os.path.join(work, "flink"), bundle_dir, extra, pids)
        print(f"Flink session cluster: {run_f['results']} recordings; wall {wall_f:.1f} s; "
              f"CPU {cpu_f:.1f} s (submitter, job server, cluster JVMs, worker pool): "
              f"{eeg_h * 3600 / cpu_f:,.0f}x real time per CPU core")
    shares, floor = stage_breakdown(paths, bundle_dir, tempfile.mkdtemp(dir=work))
    total = sum(shares.values())
    print("stage shares (one process, single-threaded, CPU s): " + ", ".join(
        f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for k, v in shares.items())
        + f"; the stages alone run at {eeg_h * 3600 / total:,.0f}x real time")
    print(f"read-only floor (EDF samples read, nothing else): {eeg_h * 3600 / floor:,.0f}x "
          f"real time per core; end to end is {100 * direct / (eeg_h * 3600 / floor):.1f} % "
          "of it")


if __name__ == "__main__":
    main()
