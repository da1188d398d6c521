"""The neurokube command line: featurize on the real TUH headers, label, demo corpus."""
import json

import numpy as np
import pytest

from neurokube.pipelines.cli import main
from neurokube.core.feature_spec import TCP_CHANNELS
from tests.conftest import TUH_HEADERS, require_shared


def test_featurize_accounts_for_all_217_tuh_files(tmp_path, capsys):
    root = require_shared(TUH_HEADERS)
    out = tmp_path / "features"
    assert main(["featurize", "--input", str(root), "--output", str(out),
                 "--allow_dead_letters"]) == 0
    assert "featurized" in capsys.readouterr().out
    outputs = sorted(out.rglob("*.npz"))
    letters = (out / "dead_letters.jsonl").read_text().splitlines()
    assert len(outputs) + len(letters) == 217
    summary = json.loads((out / "featurize_run.json").read_text())
    assert summary["inputs"] == 217 and summary["results"] == len(outputs)
    for path in outputs:
        with np.load(path, allow_pickle=False) as f:
            channels = tuple(f["channels"])
            assert len(channels) in (20, 22)
            assert channels == tuple(c for c in TCP_CHANNELS if c in channels)
            assert f["features"].shape[:2] == (len(channels), 20)  # 2 s of signal
            assert (len(channels) == 20) == path.parent.name.endswith("_a")


def test_label_and_score_from_the_command_line(tmp_path, random_bundle, capsys):
    corpus = tmp_path / "demo"
    assert main(["demo-corpus", "--output", str(corpus), "--records", "2", "--minutes",
                 "1.5"]) == 0
    out = tmp_path / "results"
    assert main(["label", "--input", str(corpus / "edf"), "--output", str(out), "--model",
                 str(random_bundle), "--formats", "csv_bi,tse", "--direct_num_workers=1"]) == 0
    assert "labelled 2 of 2 recordings" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["wall_time_s"] > 0 and run["options"]["runner_config"] == "direct"
    assert "--direct_num_workers=1" in run["options"]["beam_args"]
    assert len(list(out.rglob("*.csv_bi"))) == 2 and len(list(out.rglob("*.tse"))) == 2
    report = tmp_path / "score.json"
    assert main(["score", "--ref", str(corpus / "edf"), "--hyp", str(out), "--json",
                 str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["files"] == 2 and scores["overlap"]["targets"] > 0


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    status = main(["featurize", "--input", str(tmp_path / "nothing/*.edf"), "--output",
                   str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no recordings match" in err[0]


def test_local_workers_get_one_math_thread_each(monkeypatch):
    from neurokube.pipelines.options import (
        MATH_THREAD_VARS, pin_math_threads_for_local_workers)
    for var in MATH_THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # an explicit setting wins
    pin_math_threads_for_local_workers(["--runner=FlinkRunner"])
    assert "TF_NUM_INTRAOP_THREADS" not in __import__("os").environ
    pin_math_threads_for_local_workers(["--runner=DirectRunner",
                                        "--direct_running_mode=multi_processing"])
    import os
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert all(os.environ[v] == "1" for v in MATH_THREAD_VARS if v != "OMP_NUM_THREADS")


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """``neurokube score ... | head``: the closed pipe ends the command quietly."""
    import subprocess
    import sys
    (tmp_path / "ref").mkdir()
    for k in range(800):  # rows enough to overflow the pipe's buffer
        ref = tmp_path / "ref" / f"recording_with_a_long_name_{k:04d}.csv_bi"
        ref.write_text(f"# version = csv_v1.0.0\n# bname = {ref.stem}\n"
                       "# duration = 60.0000 secs\n"
                       "channel,start_time,stop_time,label,confidence\n"
                       "TERM,10.0000,20.0000,seiz,1.0000\n")
    done = subprocess.run(
        f"{sys.executable} -m neurokube.pipelines.cli score --ref {ref.parent} --hyp "
        f"{ref.parent} --per_recording | head -c 10", shell=True, capture_output=True,
        text=True, timeout=120)
    assert done.stdout == "SEIZ resul"
    assert done.stderr == ""


def test_beams_runner_flag_is_not_taken_for_runner_config():
    from neurokube.pipelines.cli import build_parser
    args, extra = build_parser().parse_known_args(
        ["label", "--input", "x", "--output", "y", "--runner=DirectRunner"])
    assert extra == ["--runner=DirectRunner"] and args.runner_config == "direct"
