"""`neurokube stream`: growing EDF+ files labelled as they grow, equal to batch `label`.

A writer thread replays recordings into a watched folder: records appended in several
steps (header count -1), one file renamed into place, one that pauses for longer than
``--settle_s`` and then grows again, one that is truncated while followed, one whose
header turns corrupt and an interrupted copy (a header stating more records than the file
holds). The streamed events must equal those of `label` with the same causal bundle on
the finished files, every decision must come after the data that supports it, and the
bad files must end as dead letters, without results, while the others finish.
"""
import json
import os
import threading
import time

import numpy as np
import pytest

from neurokube.core.edf import write_edf
from neurokube.core.formats import read_annotation
from neurokube.pipelines.cli import main

ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ", "A1", "A2")
FS = 256
SECONDS = 90


@pytest.fixture(scope="module")
def causal_bundle(random_causal_bundle):
    return random_causal_bundle


def _recording(path, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(SECONDS * FS) / FS
    burst = 1 + 3 * ((t > 40) & (t < 60))
    signals = np.stack([40 * np.sin(2 * np.pi * (3 + i + seed) * t) * burst
                        + rng.normal(0, 10, len(t)) for i in range(len(ELECTRODES))])
    write_edf(path, signals, [f"EEG {e}-REF" for e in ELECTRODES], FS)
    data = path.read_bytes()
    header_bytes, n_records = int(data[184:192]), int(data[236:244])
    return data, header_bytes, (len(data) - header_bytes) // n_records


def _labelled_s(csv_bi):
    try:
        return read_annotation(csv_bi).duration_s
    except (OSError, ValueError):
        return -1.0


class Writer(threading.Thread):
    """Appends a recording's records to ``target`` in steps; before each next step it
    waits until the stream has labelled the data written so far (so the steps are seen
    one by one)."""

    def __init__(self, data, header_bytes, per_record, target, steps, out_csv, rename=False,
                 truncate_at=None, corrupt_at=None, keep_count=False, pause_s=0.0):
        super().__init__()
        self.args = data, header_bytes, per_record, target, steps, out_csv
        self.rename, self.truncate_at, self.corrupt_at = rename, truncate_at, corrupt_at
        self.keep_count, self.pause_s = keep_count, pause_s
        self.error = None
        self.seen_partial = []  # per wait: did the stream label the partial file in time

    def run(self):
        try:
            self._run()
        except Exception as exc:  # reported by the test
            self.error = exc

    def _run(self):
        data, hb, per, target, steps, out_csv = self.args
        head = bytearray(data[:hb])
        if not self.keep_count:
            head[236:244] = b"-1      "  # EDF+: record count unknown while recording
        if self.rename:  # written elsewhere, then renamed into the watched folder
            tmp = target.with_name(target.name + ".partial")
            tmp.write_bytes(bytes(head) + data[hb:hb + steps[-1] * per])
            os.rename(tmp, target)
            return
        done = 0
        for k, upto in enumerate(steps):
            with open(target, "ab" if k else "wb") as handle:
                if k == 0:
                    handle.write(bytes(head))
                handle.write(data[hb + done * per:hb + upto * per])
            done = upto
            if k == self.truncate_at:
                with open(target, "r+b") as handle:
                    handle.truncate(hb + (upto // 4) * per)  # below what was seen
                return
            if k == self.corrupt_at:
                with open(target, "r+b") as handle:
                    handle.write(b"garbage!")
                return
            if k + 1 < len(steps):
                deadline = time.time() + 60
                wanted = upto - 3 if upto > 12 else -1
                while _labelled_s(out_csv) < wanted and time.time() < deadline:
                    time.sleep(0.1)
                self.seen_partial.append(_labelled_s(out_csv) >= wanted)
                time.sleep(0.5 + self.pause_s)


@pytest.mark.slow
def test_stream_equals_batch_and_records_latency(tmp_path, causal_bundle):
    full, watch, out, batch = (tmp_path / n for n in ("full", "watch", "out", "batch"))
    for folder in (full, watch):
        folder.mkdir()
    plans = {"grow0.edf": dict(steps=[8, 30, 31, 55, 90]),
             "grow1.edf": dict(steps=[20, 45, 90]),
             "moved.edf": dict(steps=[90], rename=True),
             "paused.edf": dict(steps=[30, 90], pause_s=6.0),  # finalised, then grows
             "shrinks.edf": dict(steps=[30, 60], truncate_at=1),
             "corrupt.edf": dict(steps=[30, 60], corrupt_at=1),
             "cut_copy.edf": dict(steps=[30], keep_count=True)}
    writers = []
    for seed, (name, plan) in enumerate(sorted(plans.items())):
        data, hb, per = _recording(full / name, seed)
        writers.append(Writer(data, hb, per, watch / name,
                              out_csv=out / name.replace(".edf", ".csv_bi"), **plan))
    for writer in writers:
        writer.start()
    # --settle_s well above the time the stream takes to label a step (each writer waits
    # for it before the next), so that only paused.edf is finalised between its steps on
    # a slow machine too (at 2 s, shrinks.edf was at times finalised before it shrank);
    # --until_idle_s above paused.edf's pause, so the job waits for it to grow again.
    status = main(["stream", "--watch", str(watch), "--output", str(out), "--model",
                   str(causal_bundle), "--poll_s", "0.2", "--settle_s", "5",
                   "--until_idle_s", "10", "--allow_dead_letters"])
    for writer in writers:
        writer.join()
        assert writer.error is None, writer.error
    assert status == 0
    run = json.loads((out / "run.json").read_text())
    assert run["results"] == 4 and run["dead_letters"] == 3
    letters = {json.loads(line)["path"]: json.loads(line)["reason"]
               for line in (out / "dead_letters.jsonl").read_text().splitlines()}
    assert set(letters) == {"shrinks.edf", "corrupt.edf", "cut_copy.edf"}
    assert "truncated" in letters["shrinks.edf"]
    assert "data records" in letters["cut_copy.edf"]
    for name in letters:  # no results of a recording that failed
        stem = name.replace(".edf", "")
        assert not (out / f"{stem}.csv_bi").exists() and not (out / f"{stem}.events.jsonl").exists()

    good = sorted(n for n in plans if n not in letters)
    assert main(["label", "--input", *[str(full / n) for n in good], "--output", str(batch),
                 "--model", str(causal_bundle)]) == 0
    total_events = 0
    for name in good:
        stem = name.replace(".edf", "")
        streamed = read_annotation(out / f"{stem}.csv_bi")
        batched = read_annotation(batch / f"{stem}.csv_bi")
        assert streamed.duration_s == batched.duration_s == SECONDS
        assert [(e.start_s, e.stop_s) for e in streamed.events] == \
               [(e.start_s, e.stop_s) for e in batched.events], name
        np.testing.assert_allclose([e.confidence for e in streamed.events],
                                   [e.confidence for e in batched.events], atol=2e-4)
        decisions = [json.loads(line) for line in
                     (out / f"{stem}.events.jsonl").read_text().splitlines()]
        starts = [d for d in decisions if d["decision"] == "start"]
        ends = [d for d in decisions if d["decision"] == "end"]
        seiz = [e for e in batched.events if e.label == "seiz"]
        assert [d["start_s"] for d in starts] == [e.start_s for e in seiz]
        assert [(d["start_s"], d["stop_s"]) for d in ends] == [(e.start_s, e.stop_s)
                                                              for e in seiz]
        for d in decisions:  # decided no earlier than the data that supports it
            assert d["decided_at_s"] >= d["start_s"] + 1.0 - 1e-9
            assert d["latency_s"] == pytest.approx(d["decided_at_s"] - d["start_s"])
            assert d["decided_wall"]
        total_events += len(seiz)
    assert total_events > 0  # the comparison compared something
    # The files that grew were labelled step by step, before they were complete.
    growing = [w for w in writers if len(w.args[4]) > 2]
    assert growing and all(all(w.seen_partial) for w in growing)


@pytest.mark.parametrize("case", ["non-causal model", "output inside the watched folder"])
def test_stream_refuses_what_it_cannot_do(tmp_path, random_bundle, causal_bundle, capsys,
                                          case):
    watch = tmp_path / "watch"
    watch.mkdir()
    model, output, message = {
        "non-causal model": (random_bundle, tmp_path / "out", "not a causal model"),
        "output inside the watched folder": (causal_bundle, watch / "labels", "overlap"),
    }[case]
    status = main(["stream", "--watch", str(watch), "--output", str(output),
                   "--model", str(model), "--until_idle_s", "0"])
    assert status == 2
    assert message in capsys.readouterr().err


def _start_stream(tmp_path, bundle):
    """``neurokube stream`` as a person starts it (Ctrl-C reaches it), on a folder holding
    one recording; returns the process and the output folder."""
    import signal
    import subprocess
    import sys
    watch, out = tmp_path / "watch", tmp_path / "out"
    watch.mkdir()
    _recording(watch / "r.edf", 0)
    job = subprocess.Popen(
        [sys.executable, "-m", "neurokube.pipelines.cli", "stream", "--watch", str(watch),
         "--output", str(out), "--model", str(bundle), "--poll_s", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return job, out


@pytest.mark.slow
def test_ctrl_c_ends_the_stream_with_one_line_and_its_records(tmp_path, causal_bundle):
    import signal
    job, out = _start_stream(tmp_path, causal_bundle)
    deadline = time.time() + 120
    while _labelled_s(out / "r.csv_bi") < SECONDS - 3 and time.time() < deadline:
        time.sleep(0.2)
    job.send_signal(signal.SIGINT)
    stdout, stderr = job.communicate(timeout=120)
    assert job.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "stopped by the user" in stderr
    assert json.loads((out / "run.json").read_text())["stopped_by_user"] is True
    assert _labelled_s(out / "r.csv_bi") >= SECONDS - 3  # the results so far are kept


@pytest.mark.parametrize("delay_s", [1.0, 2.5])
def test_ctrl_c_in_the_first_seconds_never_hangs(tmp_path, causal_bundle, delay_s):
    """While Beam starts its workers a Ctrl-C once left the job waiting for them forever
    (8 of 30 such interrupts); now the workers are terminated after ``WIND_DOWN_S``."""
    import signal
    from neurokube.pipelines.cli import WIND_DOWN_S
    job, _ = _start_stream(tmp_path, causal_bundle)
    time.sleep(delay_s)
    job.send_signal(signal.SIGINT)
    try:
        _, stderr = job.communicate(timeout=WIND_DOWN_S + 50)
    finally:
        job.kill()
    assert job.returncode in (130, -signal.SIGINT), stderr[-2000:]  # both read 130 in a shell
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(("stream stopped by the user",
                                                       "neurokube stream: stopped by the user"))


def test_a_finished_recording_shorter_than_one_step_is_refused(tmp_path, causal_bundle):
    """As ``label`` does: half a second cannot be scored, so it is no background result."""
    from neurokube.core.edf import open_recording
    from neurokube.core.errors import RecordingError
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.streaming import RecordingStream
    bundle = ModelBundle.load(causal_bundle, with_models=False)
    path = tmp_path / "half.edf"
    signals = np.random.default_rng(0).normal(0, 20, (len(ELECTRODES), FS // 2))
    with pytest.warns(UserWarning, match="record_duration"):
        write_edf(path, signals, [f"EEG {e}-REF" for e in ELECTRODES], FS, record_s=0.5)
    stream = RecordingStream(str(path), bundle.feature_spec, bundle.config, bundle.p3)
    with open_recording(str(path), bundle.feature_spec, growing=True) as src:
        assert stream.advance(src, None, final=False) == []
        with pytest.raises(RecordingError, match="shorter than one 1 s decision step"):
            stream.advance(src, None, final=True)


def test_recordings_that_would_share_outputs_get_distinct_names(tmp_path):
    """Twins seen together are named as ``label`` names them; a twin appearing later gets
    a new name and every file keeps the name it got first."""
    from neurokube.core.sources import list_recordings
    from neurokube.transforms.stream import _WatchFn
    together, later = tmp_path / "together", tmp_path / "later"
    for folder, names in ((together, ("x.bdf", "x.EDF", "x.edf", "a/x.edf")),
                          (later, ("x.bdf",))):
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"0")

    def names_seen(watcher, folder):
        return {obs.path.rsplit(str(folder) + "/", 1)[1]: name
                for name, obs in watcher._round(str(folder), 0.0)}

    watcher = _WatchFn(poll_s=1.0, settle_s=1.0, until_idle_s=None)
    watcher.setup()
    by_label = {source.url.rsplit(str(together) + "/", 1)[1]: source.name
                for source in list_recordings(str(together)).sources}
    assert names_seen(watcher, together) == by_label == {
        "x.edf": "x.edf", "x.EDF": "x~2.EDF", "x.bdf": "x~3.bdf", "a/x.edf": "a/x.edf"}
    watcher = _WatchFn(poll_s=1.0, settle_s=1.0, until_idle_s=None)
    watcher.setup()
    assert names_seen(watcher, later) == {"x.bdf": "x.bdf"}
    for name in ("x.edf", "x.EDF"):
        (later / name).write_bytes(b"0")
    (later / "x.bdf").write_bytes(b"00")  # grew: seen again under the same name
    assert names_seen(watcher, later) == {"x.bdf": "x.bdf", "x.edf": "x~2.edf",
                                          "x.EDF": "x~3.EDF"}
