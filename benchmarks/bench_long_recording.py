"""Peak memory of labelling and of featurizing one 24-hour, 32-channel, 512 Hz recording
(target < 2 GB each).

Writes the EDF block by block (21 EEG electrodes with demo-corpus signals and seizures,
11 other channels), then runs ``neurokube label`` and ``neurokube featurize`` on it, each
in one process (DirectRunner, in-memory mode, default chunking), and prints each
process's peak resident memory, its wall and CPU time, and the events found.

    python benchmarks/bench_long_recording.py [--hours 24] [--workdir DIR]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pyedflib  # noqa: E402

from neurokube.pipelines.demo_corpus import ELECTRODES, background, discharge  # noqa: E402

OTHER_CHANNELS = ("EEG EKG1-REF", "PHOTIC-REF", "IBI", "BURSTS", "SUPPR", "EEG LOC-REF",
                  "EEG ROC-REF", "EMG-REF", "EEG 26-REF", "EEG 27-REF", "DC1-DC")
FS_HZ = 512
BLOCK_S = 60


def write_long_edf(path, hours, seed=0):
    """A ``hours``-long EDF+ written a minute at a time (constant memory)."""
    rng = np.random.default_rng(seed)
    labels = [f"EEG {e}-REF" for e in ELECTRODES] + list(OTHER_CHANNELS)
    writer = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    seizure_blocks = set(range(30, int(hours * 60), 97))
    try:
        writer.setSignalHeaders([{
            "label": label, "dimension": "uV", "sample_frequency": FS_HZ,
            "physical_max": 3000.0, "physical_min": -3000.0, "digital_max": 32767,
            "digital_min": -32768, "transducer": "", "prefilter": ""} for label in labels])
        n = FS_HZ * BLOCK_S
        for block in range(int(hours * 3600 / BLOCK_S)):
            eeg = [background(rng, n, FS_HZ) for _ in ELECTRODES]
            if block in seizure_blocks:
                burst = discharge(rng, n // 2, FS_HZ)
                for k in range(5):
                    eeg[k][n // 4:n // 4 + n // 2] += burst
            other = [rng.normal(0, 5, n) for _ in OTHER_CHANNELS]
            writer.writeSamples([np.clip(x, -2999, 2999) for x in eeg + other])
    finally:
        writer.close()
    return len(seizure_blocks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--chunk_s", type=float, default=1200.0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="nk-long-")
    folder = os.path.join(work, "corpus", "01_tcp_ar")
    os.makedirs(folder, exist_ok=True)
    edf = os.path.join(folder, "long_s001_t000.edf")
    started = time.time()
    n_seizures = write_long_edf(edf, args.hours)
    print(f"wrote {args.hours:g} h x {len(ELECTRODES) + len(OTHER_CHANNELS)} channels at "
          f"{FS_HZ} Hz ({os.path.getsize(edf) / 1e9:.2f} GB, {n_seizures} discharges) in "
          f"{time.time() - started:.0f} s")
    for job, extra in (("label", ["--chunk_s", str(args.chunk_s), "--max_batch_size", "1"]),
                       ("featurize", ["--chunk_s", str(args.chunk_s)])):
        started = time.time()
        # A fresh child each time: RUSAGE_CHILDREN's peak is the largest child so far, and
        # featurize runs second, so its figure is its own only if it exceeds label's.
        proc = subprocess.run(
            [sys.executable, "-c", "import resource, sys; from neurokube.pipelines.cli "
             "import main; code = main(sys.argv[1:]); print('PEAK_KB', resource.getrusage("
             "resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)", job, "--input",
             os.path.join(work, "corpus"), "--output", os.path.join(work, job), *extra,
             "--runner_config", "direct", "--direct_running_mode=in_memory"],
            check=True, capture_output=True, text=True)
        peak_kb = int(proc.stdout.rsplit("PEAK_KB", 1)[1].split()[0])
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"{job}: wall {time.time() - started:.0f} s; peak RSS of its process "
              f"{peak_kb / 1024:.0f} MB (target < 2048 MB); CPU of the children so far "
              f"{usage.ru_utime + usage.ru_stime:.0f} s")
    with open(os.path.join(work, "label", "01_tcp_ar", "long_s001_t000.csv_bi")) as handle:
        rows = [line for line in handle if line.startswith("TERM")]
    print(f"events written: {len(rows)}")


if __name__ == "__main__":
    main()
