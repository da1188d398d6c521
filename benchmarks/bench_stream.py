"""``neurokube stream`` under load: recordings replayed into a watched folder as they are
"recorded", many at once, faster than real time.

1. Builds a corpus with seizures and references: ``--records`` × ``--minutes`` of Bonn
   EEG stitched into the TCP layout at 256 Hz (``../shared/tools/make_tcp_corpus.py``,
   segments 61-80, a seed used nowhere else), or takes ``--corpus DIR``.
2. Replays every recording at once into an empty folder: the header (record count -1),
   then its 1 s data records in batches every ``--batch_s`` wall seconds, at
   ``--speed`` × real time each.
3. Runs ``neurokube stream`` on the folder (DirectRunner, streaming) with the causal
   bundle, until the folder has been idle for a few seconds.
4. Prints, from each recording's ``.events.jsonl`` and the replay log: the data latency
   of every detected seizure (data seconds after its reference onset at which its event
   was emitted: median, 90th percentile); the wall-clock decision latency (from the write
   of the record batch that completed the evidence to the decision); and the EEG
   seconds labelled per CPU second of the job, i.e. how many concurrent real-time 256 Hz
   streams one core sustains.

    python benchmarks/bench_stream.py [--records 20 --minutes 5 --speed 50]
"""
import argparse
import bisect
import datetime
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def build_corpus(folder, records, minutes):
    tool = SHARED / "tools" / "make_tcp_corpus.py"
    if not tool.exists():
        sys.exit(f"{tool} not found: pass --corpus DIR (EDFs with .csv_bi beside them)")
    subprocess.run([sys.executable, str(tool), "--bonn", str(SHARED / "data" / "bonn"),
                    "--out", str(folder), "--segments", "61-80", "--records", str(records),
                    "--minutes", str(minutes), "--seed", "5150", "--rates", "256",
                    "--split", "bench"], check=True, stdout=subprocess.DEVNULL)
    return sorted(pathlib.Path(folder).rglob("*.edf"))


class Replay(threading.Thread):
    """Writes one recording into the watched folder as a recorder would."""

    def __init__(self, source, target, speed, batch_s, start_at):
        super().__init__(daemon=True)
        self.source, self.target = source, target
        self.speed, self.batch_s, self.start_at = speed, batch_s, start_at
        self.written = []  # (records present, wall time of the write)

    def run(self):
        data = self.source.read_bytes()
        hb, n = int(data[184:192]), int(data[236:244])
        per = (len(data) - hb) // n
        record_s = float(data[244:252])
        head = bytearray(data[:hb])
        head[236:244] = b"-1      "
        time.sleep(max(0.0, self.start_at - time.time()))
        began = time.time()
        with open(self.target, "wb") as handle:
            handle.write(bytes(head))
            done = 0
            while done < n:
                due = min(n, int((time.time() - began) * self.speed / record_s) + 1)
                if due > done:
                    handle.write(data[hb + done * per:hb + due * per])
                    handle.flush()
                    done = due
                    self.written.append((done * record_s, time.time()))
                time.sleep(self.batch_s)


def reference_seizures(edf):
    from neurokube.core.formats import read_annotation
    ref = read_annotation(edf.with_suffix(".csv_bi"))
    return [(e.start_s, e.stop_s) for e in ref.events if e.label == "seiz"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=50.0, help="× real time per stream")
    parser.add_argument("--batch_s", type=float, default=0.25)
    parser.add_argument("--poll_s", type=float, default=0.25)
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--model", default=None, help="causal bundle (default: shipped)")
    args = parser.parse_args()

    from neurokube.pipelines.cli import main as neurokube
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_stream_"))
    try:
        sources = (sorted(pathlib.Path(args.corpus).rglob("*.edf")) if args.corpus
                   else build_corpus(work / "corpus", args.records, args.minutes))
        watch, out = work / "watch", work / "out"
        watch.mkdir()
        # The replays start as the job starts listening; it ends once the folder has been
        # idle for --until_idle_s (longer than the replays' start delay).
        start_at = time.time() + 3.0
        replays = [Replay(s, watch / s.name, args.speed, args.batch_s, start_at)
                   for s in sources]
        for r in replays:
            r.start()
        cpu0, wall0 = _cpu(), time.time()
        model = ["--model", args.model] if args.model else []
        status = neurokube(["stream", "--watch", str(watch), "--output", str(out),
                            "--poll_s", str(args.poll_s), "--settle_s", "3",
                            "--until_idle_s", "10", "--allow_dead_letters", *model])
        cpu, wall = _cpu() - cpu0, time.time() - wall0
        for r in replays:
            r.join()
        data_latency, wall_latency, eeg_s = [], [], 0.0
        for replay in replays:
            stem = replay.target.stem
            log = out / f"{stem}.events.jsonl"
            decisions = [json.loads(x) for x in log.read_text().splitlines()] \
                if log.exists() else []
            eeg_s += replay.written[-1][0] if replay.written else 0.0
            times = [t for t, _ in replay.written]
            for d in decisions:
                # Wall latency: from the write that brought the data it was decided at.
                k = bisect.bisect_left(times, d["decided_at_s"])
                if k < len(times):
                    decided = datetime.datetime.fromisoformat(d["decided_wall"]).timestamp()
                    wall_latency.append(decided - replay.written[k][1])
            starts = [d for d in decisions if d["decision"] == "start"]
            ends = {d["start_s"]: d["stop_s"] for d in decisions if d["decision"] == "end"}
            for onset, offset in reference_seizures(replay.source):
                hits = [d["decided_at_s"] for d in starts
                        if d["start_s"] < offset and ends.get(d["start_s"], 1e18) > onset]
                if hits:
                    data_latency.append(min(hits) - onset)
        n_ref = sum(len(reference_seizures(r.source)) for r in replays)
        print(f"stream: {len(replays)} recordings replayed at {args.speed:g}x real time each "
              f"(exit {status}); {eeg_s / 3600:.2f} EEG-hours in {wall:.1f} s wall, "
              f"{cpu:.1f} CPU-s")
        print(f"detected {len(data_latency)} of {n_ref} reference seizures")
        if data_latency:
            print(f"data latency after onset, s: median {np.median(data_latency):.1f}, "
                  f"p90 {np.percentile(data_latency, 90):.1f}")
        if wall_latency:
            print(f"wall-clock decision latency per record batch, s: median "
                  f"{np.median(wall_latency):.2f}, p90 {np.percentile(wall_latency, 90):.2f}")
        rate = eeg_s / cpu if cpu else float("nan")
        print(f"{rate:.0f} EEG-s labelled per CPU-s: one core sustains about {rate:.0f} "
              "concurrent real-time 256 Hz streams")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
