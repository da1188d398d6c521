"""`neurokube evaluate`: bundles × corpora, one leaderboard, the card, and its figures."""
import json
import shutil

import numpy as np
import pytest

from neurokube.models.config import P3Params
from neurokube.models.evaluation import (
    RecordingResult, corpus_metrics, decision_delays, operating_points)
from neurokube.pipelines.cli import main
from neurokube.pipelines.demo_corpus import make_demo_corpus


def _result(name, fused, seizures, duration=None):
    fused = np.asarray(fused, np.float32)
    return RecordingResult(name, float(duration or len(fused)), list(seizures),
                           np.tile(fused, (22, 1)), fused.copy(), np.ones(22, bool))


def test_metrics_latency_and_flagged_background_by_hand():
    fused = np.full(100, 0.1)
    fused[23:40] = 0.9      # the seizure [20, 40): found 3 s late
    fused[70:74] = 0.9      # a false event of 4 s
    params = P3Params(threshold=0.5, min_duration_s=3.0, min_channels=1, merge_gap_s=0.0)
    m = corpus_metrics([_result("r", fused, [(20.0, 40.0)])], params, 1.0)
    assert m["overlap"]["sensitivity_pct"] == 100.0
    assert m["overlap"]["fa_per_24h"] == pytest.approx(86400 / 100)
    assert m["background_flagged_pct"] == pytest.approx(100 * 4 / 80)
    assert m["longest_false_event_s"] == 4.0
    assert m["latency_s"]["values"] == [3.0]
    # Online, the event's start (23 s) is decided once it has lasted 3 s: at 26 s.
    assert decision_delays([_result("r", fused, [(20.0, 40.0)])], params, 1.0)["values"] == [6.0]
    curve = operating_points([_result("r", fused, [(20.0, 40.0)])], params,
                             (0.05, 0.5, 0.95), 1.0)
    assert [p["overlap_sensitivity_pct"] for p in curve] == [100.0, 100.0, 0.0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    make_demo_corpus(root / "demo", records=2, minutes=1.0, seed=4, rates=(256,))
    return root


@pytest.mark.slow
def test_evaluate_two_bundles_one_leaderboard(corpus, random_bundle, random_causal_bundle,
                                              tmp_path):
    out = tmp_path / "board"
    argv = ["evaluate", "--model", str(random_bundle), str(random_causal_bundle),
            "--corpus", f"demo={corpus / 'demo' / 'edf'}", "--output", str(out)]
    assert main(argv) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    rows = board["rows"]
    assert [r["corpus"] for r in rows] == ["demo", "demo"]
    assert rows[0]["version"] != rows[1]["version"]  # one row per bundle
    for row in rows:
        assert row["recordings"] == 2 and row["seizures"] > 0
        assert set(row) >= {"overlap", "taes", "szcore", "background_flagged_pct",
                            "longest_false_event_s", "latency_s", "operating_points"}
        assert row["szcore"]["precision_pct"] >= 0 and "f1_pct" in row["overlap"]
        assert len(row["operating_points"]) >= 5
    assert rows[0]["decision_delay_s"] is None        # centred windows: not a stream
    assert rows[1]["decision_delay_s"] is not None    # causal: what `stream` would emit
    text = (out / "leaderboard.md").read_text()
    assert text.count("| demo |") == 2 and "Produced by: `neurokube evaluate" in text
    # A rerun reproduces every figure.
    assert main(argv[:-1] + [str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "leaderboard.json").read_text())["rows"]
    for a, b in zip(rows, again):
        assert {k: v for k, v in a.items() if k != "corpus_path"} == \
               {k: v for k, v in b.items() if k != "corpus_path"}


@pytest.mark.slow
def test_evaluate_card_records_the_table_and_command(corpus, random_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(random_bundle, bundle)
    assert main(["evaluate", "--model", str(bundle), "--card", "--corpus",
                 f"demo={corpus / 'demo' / 'edf'}", "--output", str(tmp_path / "b")]) == 0
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "## Evaluation" in card and "| demo |" in card
    assert "neurokube evaluate" in card
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["evaluation"]["rows"][0]["corpus"] == "demo"
    from neurokube.models.bundle import ModelBundle
    assert ModelBundle.load(bundle).version == ModelBundle.load(random_bundle).version


def test_evaluate_refuses_a_corpus_without_references(tmp_path, random_bundle, capsys):
    make_demo_corpus(tmp_path / "c", records=1, minutes=1.0, seed=1, rates=(256,))
    for ref in (tmp_path / "c").rglob("*.csv_bi"):
        ref.unlink()
    status = main(["evaluate", "--model", str(random_bundle), "--corpus",
                   f"x={tmp_path / 'c' / 'edf'}", "--output", str(tmp_path / "o")])
    assert status == 2
    assert "no reference annotation" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was labelled


def _one_recording_corpus(tmp_path):
    make_demo_corpus(tmp_path / "c", records=1, minutes=1.0, seed=1, rates=(256,))
    return next((tmp_path / "c").rglob("*.csv_bi"))


def test_evaluate_refuses_a_broken_reference_before_labelling(tmp_path, random_bundle,
                                                              capsys):
    ref = _one_recording_corpus(tmp_path)
    ref.write_text(ref.read_text() + "TERM,10.0000,999.0000,seiz,1.0000\n")
    status = main(["evaluate", "--model", str(random_bundle), "--corpus",
                   f"x={tmp_path / 'c' / 'edf'}", "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and ref.name in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_evaluate_refuses_a_reference_whose_duration_is_not_the_recordings(
        tmp_path, random_bundle, capsys):
    """A reference that stops short would hide every false alarm past its end."""
    ref = _one_recording_corpus(tmp_path)
    ref.write_text(ref.read_text().replace("# duration = 60.0000 secs",
                                           "# duration = 30.0000 secs"))
    status = main(["evaluate", "--model", str(random_bundle), "--corpus",
                   f"x={tmp_path / 'c' / 'edf'}", "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and "lasts 30.0 s but its recording" in err and "60.0 s" in err
