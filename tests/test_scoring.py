"""Scoring with NEDC v6.0.0 parity and SzCORE (transforms/scoring)."""
import json
from pathlib import Path

import numpy as np
import pytest
from timescoring import scoring as ts_scoring
from timescoring.annotations import Annotation as TsAnnotation

from neurokube.pipelines import cli
from neurokube.core.formats import Annotation, AnnotationError, Event, read_annotation
from neurokube.core.scoring import (SCORERS, Counts, ScoringError, Timeline, pair_files,
                                          score_pair, score_pairs)
from neurokube.core.scoring import dpalign, epoch

NEDC = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nedc_example"
needs_nedc = pytest.mark.skipif(not NEDC.is_dir(), reason=f"shared data absent: {NEDC}")


def seiz(name, duration_s, intervals):
    return Annotation(name, duration_s, [Event(a, b, "seiz") for a, b in intervals])


def csv_bi(path, duration_s, rows, duration_text=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = duration_text or f"{duration_s:.4f} secs"
    body = "".join(f"TERM,{a:.4f},{b:.4f},{label},1.0000\n" for a, b, label in rows)
    path.write_text(f"# version = csv_v1.0.0\n# bname = {path.stem}\n# duration = {header}\n"
                    f"channel,start_time,stop_time,label,confidence\n{body}")
    return path


# ------------------------------------------------------------------ NEDC's own example


@pytest.fixture(scope="module")
def nedc_result():
    return score_pairs(pair_files(NEDC / "ref", NEDC / "hyp"))


@needs_nedc
def test_nedc_example_overlap(nedc_result):
    r = nedc_result["overlap"]
    assert (r["targets"], r["hits"], r["misses"], r["false_alarms"]) == (701, 604, 97, 2)
    assert f"{r['sensitivity_pct']:.4f}" == "86.1626"
    assert f"{r['fa_per_24h']:.4f}" == "3.8165"


@needs_nedc
def test_nedc_example_taes(nedc_result):
    r = nedc_result["taes"]
    assert [f"{r[k]:.2f}" for k in ("targets", "hits", "misses", "false_alarms")] == [
        "701.00", "46.41", "654.59", "47.99"]
    assert f"{r['sensitivity_pct']:.4f}" == "6.6199"
    assert f"{r['fa_per_24h']:.4f}" == "91.5814"


@needs_nedc
def test_nedc_example_epoch(nedc_result):
    r = nedc_result["epoch"]
    assert (r["targets"], r["hits"], r["misses"], r["false_alarms"]) == (76420, 68142, 8278,
                                                                         47354)
    assert f"{r['sensitivity_pct']:.4f}" == "89.1678"
    assert f"{r['fa_per_24h']:.4f}" == "22590.8607"


@needs_nedc
def test_nedc_example_dpalign(nedc_result):
    r = nedc_result["dpalign"]
    assert (r["targets"], r["hits"], r["misses"], r["false_alarms"]) == (701, 58, 643, 0)
    assert f"{r['sensitivity_pct']:.4f}" == "8.2739"
    assert f"{r['fa_per_24h']:.4f}" == "0.0000"


@needs_nedc
def test_nedc_example_total_duration(nedc_result):
    assert nedc_result["files"] == 30
    assert f"{nedc_result['total_duration_s']:.4f}" == "45277.0000"


@needs_nedc
def test_nedc_example_szcore_equals_timescoring_per_file(nedc_result):
    tp = fp = ref_true = 0
    for ref, hyp in pair_files(NEDC / "ref", NEDC / "hyp"):
        ref_tl, hyp_tl = (Timeline.from_annotation(read_annotation(p)) for p in (ref, hyp))
        n = round(ref_tl.duration_s * 10)
        result = ts_scoring.EventScoring(TsAnnotation(ref_tl.of_label("seiz"), 10, n),
                                         TsAnnotation(hyp_tl.of_label("seiz"), 10, n))
        tp, fp, ref_true = tp + result.tp, fp + result.fp, ref_true + result.refTrue
    r = nedc_result["szcore"]
    assert (r["targets"], r["hits"], r["false_alarms"]) == (ref_true, tp, fp)
    assert r["fa_per_24h"] == pytest.approx(fp / 45277 * 86400)


# ------------------------------------------------------------------ the hand-made case


def hand_made_pairs():
    return [
        (seiz("A", 600, [(100, 160), (300, 330), (500, 520)]),
         seiz("A", 600, [(150, 200), (400, 410), (520, 530)])),
        (seiz("B", 3600, []), seiz("B", 3600, [(10, 20), (20, 30), (100, 110)])),
        (seiz("C", 1800, [(60, 90)]), seiz("C", 1800, [])),
    ]


def test_hand_made_case_of_scoring_md():
    result = score_pairs(hand_made_pairs(), scorers=["overlap", "taes"])
    assert result["total_duration_s"] == 6000
    o, t = result["overlap"], result["taes"]
    assert (o["targets"], o["hits"], o["false_alarms"]) == (4, 1, 4)
    assert f"{o['sensitivity_pct']:.2f}" == "25.00" and f"{o['fa_per_24h']:.4f}" == "57.6000"
    assert f"{t['hits']:.2f}" == "0.17" and f"{t['false_alarms']:.2f}" == "4.67"
    assert f"{t['sensitivity_pct']:.2f}" == "4.17" and f"{t['fa_per_24h']:.1f}" == "67.2"


# ------------------------------------------------------------------ edge cases


def one(ref, hyp, scorer, duration_s=100.0):
    return score_pair(seiz("r", duration_s, ref), seiz("r", duration_s, hyp),
                      scorers=[scorer])[scorer]["seiz"]


def test_touching_is_not_overlap():
    assert one([(10, 20)], [(20, 30)], "overlap") == Counts(1, 0, 1, 1)
    assert one([(10, 20)], [(19.999, 30)], "overlap") == Counts(1, 1, 0, 0)


def test_touching_hypotheses_merge_into_one_event():
    assert one([], [(10, 20), (20, 30)], "overlap") == Counts(0, 0, 0, 1)
    tl = Timeline.from_annotation(seiz("r", 50, [(10, 20), (20, 30)]))
    assert tl.events == ((0.0, 10.0, "bckg"), (10, 30, "seiz"), (30, 50.0, "bckg"))


def test_overlapping_hypotheses_stay_separate():
    assert one([], [(10, 20), (15, 30)], "overlap") == Counts(0, 0, 0, 2)
    assert one([(0, 50)], [(10, 20), (15, 30)], "overlap") == Counts(1, 1, 0, 0)
    tl = Timeline.from_annotation(seiz("r", 50, [(10, 20), (15, 30)]))
    assert [e[2] for e in tl.events] == ["bckg", "seiz", "bckg", "seiz", "bckg"]
    assert tl.events[2] == (20, 15.0, "bckg")  # NEDC's backwards filler


def test_one_long_hypothesis_hits_several_references():
    assert one([(10, 20), (30, 40)], [(5, 50)], "overlap") == Counts(2, 2, 0, 0)
    taes = one([(10, 20), (30, 40)], [(5, 50)], "taes")
    assert (taes.hits, taes.misses, taes.false_alarms) == (1.0, 1.0, 1.0)


def test_several_hypotheses_inside_one_reference_sum_their_credit():
    assert one([(0, 40)], [(5, 10), (20, 30)], "overlap") == Counts(1, 1, 0, 0)
    taes = one([(0, 40)], [(5, 10), (20, 30)], "taes")
    assert (taes.hits, taes.misses, taes.false_alarms) == (0.375, 0.625, 0.0)


@pytest.mark.parametrize("hyp, hit, fa", [
    ((5, 15), 0.5, 0.5),     # starts early
    ((15, 40), 0.5, 1.0),    # ends late, excess capped at 1
    ((8, 22), 1.0, 0.4),     # covers the reference
    ((12, 16), 0.4, 0.0),    # inside
])
def test_taes_partial_credit(hyp, hit, fa):
    taes = one([(10, 20)], [hyp], "taes")
    assert taes.hits == pytest.approx(hit) and taes.false_alarms == pytest.approx(fa)
    assert taes.misses == pytest.approx(1 - hit)


def test_taes_whole_second_quirk_of_nedc():
    # NEDC pairs events whose integer seconds intersect once the reference is scored:
    # hyp [20.7, 30] "touches" ref [10.5, 20.2] and takes negative credit from it.
    taes = one([(10.5, 20.2)], [(15, 16), (20.7, 30)], "taes")
    assert taes.hits == pytest.approx((1 + (20.2 - 20.7)) / 9.7)


def test_empty_reference_and_hypothesis():
    for name in ("overlap", "taes", "epoch", "dpalign", "ira", "szcore"):
        assert score_pair(seiz("r", 30, []), seiz("r", 30, []), [name])[name]["seiz"] \
            .false_alarms == 0
    result = score_pairs([(seiz("r", 30, []), seiz("r", 30, []))])
    assert result["overlap"]["sensitivity_pct"] == 0.0
    assert result["epoch"]["targets"] == 0
    assert result["ira"]["kappa"] == 0.0  # one label only: agreement by chance is total
    # The total duration sums headers rounded to 4 decimals, with or without events.
    assert Timeline.from_annotation(seiz("r", 30.00004, [])).events == ((0.0, 30.0, "bckg"),)
    assert score_pairs([(seiz("r", 100.00004, []), seiz("r", 100.00004, []))] * 3)[
        "total_duration_s"] == pytest.approx(300.0, abs=1e-9)


def test_a_recording_shorter_than_one_szcore_sample_is_scored():
    tiny = seiz("r", 0.04, [(0.0, 0.04)])
    result = score_pairs([(tiny, tiny)])
    assert result["szcore"]["targets"] == 1 and result["overlap"]["hits"] == 1


def test_ira_kappa():
    from neurokube.core.scoring.ira import kappa
    assert kappa([[10, 0], [0, 30]]) == 1.0
    assert kappa([[5, 5], [5, 5]]) == 0.0
    # po = 0.7, pe = (0.5 * 0.6 + 0.5 * 0.4) = 0.5
    assert kappa([[40, 10], [20, 30]]) == pytest.approx(0.4)


def test_out_of_range_event_is_refused_with_the_file_name(tmp_path):
    ref = csv_bi(tmp_path / "ref" / "r.csv_bi", 100, [(90, 101, "seiz")])
    hyp = csv_bi(tmp_path / "hyp" / "r.csv_bi", 100, [])
    with pytest.raises(AnnotationError, match=r"ref/r\.csv_bi.*outside the recording"):
        score_pairs([(ref, hyp)])


def test_epoch_samples_midpoints_and_boundaries():
    assert list(epoch.sample_times(1.0)) == [0.125, 0.375, 0.625, 0.875]
    assert list(epoch.sample_times(0.875)) == [0.125, 0.375, 0.625, 0.875]
    # a midpoint on a boundary belongs to the earlier event (closed intervals, first wins)
    tl = Timeline.from_annotation(seiz("r", 1.0, [(0.0, 0.375)]))
    assert list(epoch.sample_labels(tl, epoch.sample_times(1.0))) == [0, 0, 1, 1]
    assert one([(10, 20)], [(15, 25)], "epoch") == Counts(40, 20, 20, 20)


def test_dpalign_alignment():
    assert dpalign.align([0, 1, 0], [0, 1, 0]) == [(0, 0), (1, 1), (0, 0)]
    assert dpalign.align([1, 0, 1, 0, 1], [1]) == [(1, -1), (0, -1), (1, -1), (0, -1), (1, 1)]
    assert dpalign.align([1], [0, 1, 0]) == [(-1, 0), (1, 1), (-1, 0)]
    assert dpalign.align([], []) == []
    counts = score_pair(seiz("r", 100, [(10, 20), (30, 40)]), seiz("r", 100, [(12, 18)]),
                        ["dpalign"])["dpalign"]
    assert counts["seiz"] == Counts(2, 1, 1, 0) and counts["bckg"] == Counts(3, 2, 1, 0)


def _plain_nedc_dp(ref, hyp):
    """Cell-by-cell Levenshtein with NEDC's tie rule (sub, then ins, then del), as an oracle."""
    r, h = [-1, *ref, -1], [-1, *hyp, -1]
    d = [[0.0] * len(h) for _ in r]
    step = [["sub"] * len(h) for _ in r]
    for j in range(1, len(h)):
        d[0][j], step[0][j] = j, "ins"
    for i in range(1, len(r)):
        d[i][0], step[i][0] = i, "del"
    for j in range(1, len(h)):
        for i in range(1, len(r)):
            best, kind = d[i - 1][j - 1] + (r[i] != h[j]), "sub"
            if d[i][j - 1] + 1 < best:
                best, kind = d[i][j - 1] + 1, "ins"
            if d[i - 1][j] + 1 < best:
                best, kind = d[i - 1][j] + 1, "del"
            d[i][j], step[i][j] = best, kind
    i, j, out = len(r) - 1, len(h) - 1, []
    while i >= 0 and j >= 0:
        kind = step[i][j]
        out.append((r[i] if kind != "ins" else -1, h[j] if kind != "del" else -1))
        i, j = i - (kind != "ins"), j - (kind != "del")
    return out[::-1][1:-1]


def test_dpalign_matches_a_plain_nedc_dp_on_random_sequences():
    rng = np.random.default_rng(3)
    for _ in range(300):
        ref = list(rng.integers(0, 2, rng.integers(0, 12)))
        hyp = list(rng.integers(0, 2, rng.integers(0, 12)))
        assert dpalign.align(ref, hyp) == _plain_nedc_dp(ref, hyp), (ref, hyp)


def test_szcore_is_lenient():
    counts = one([(100, 130)], [(140, 150)], "szcore", duration_s=600)
    assert counts == Counts(1, 1, 0, 0)
    assert one([(100, 130)], [(300, 310)], "szcore", duration_s=600) == Counts(1, 0, 1, 1)


# ------------------------------------------------------------------ refusals


def test_unpaired_recordings_are_listed(tmp_path):
    for name in ("a", "b", "c"):
        csv_bi(tmp_path / "ref" / f"{name}.csv_bi", 10, [])
    for name in ("a", "d"):
        csv_bi(tmp_path / "hyp" / "deeper" / f"{name}.csv_bi", 10, [])
    with pytest.raises(ScoringError) as info:
        pair_files(tmp_path / "ref", tmp_path / "hyp")
    message = str(info.value)
    assert "2 reference recording(s) without a partner: b, c" in message
    assert "1 hypothesis recording(s) without a partner: d" in message


def test_duration_mismatch_names_both_files(tmp_path):
    ref = csv_bi(tmp_path / "ref" / "r.csv_bi", 301, [], duration_text="301.00 secs")
    csv_bi(tmp_path / "hyp" / "r.csv_bi", 300, [])
    with pytest.raises(ScoringError, match=r"duration mismatch.*ref/r\.csv_bi.*hyp/r\.csv_bi"):
        score_pairs(pair_files(tmp_path / "ref", tmp_path / "hyp"))
    same = csv_bi(tmp_path / "hyp2" / "r.csv_bi", 301, [], duration_text="301.0000 secs")
    assert score_pairs([(ref, same)])["files"] == 1


def test_per_channel_file_is_refused_for_term_scoring(tmp_path):
    ref = tmp_path / "r.csv"
    ref.write_text("# duration = 10.00 secs\nchannel,start_time,stop_time,label,confidence\n"
                   "FP1-F7,1.0,2.0,fnsz,1.0\n")
    hyp = csv_bi(tmp_path / "h" / "r.csv_bi", 10, [])
    with pytest.raises(ScoringError, match=r"r\.csv: per-channel annotation.*FP1-F7"):
        score_pairs([(ref, hyp)])


def test_unknown_label_and_unreadable_file_are_named(tmp_path):
    ref = csv_bi(tmp_path / "ref" / "r.csv_bi", 10, [(1, 2, "spsw")])
    hyp = csv_bi(tmp_path / "hyp" / "r.csv_bi", 10, [])
    with pytest.raises(AnnotationError, match=r"ref/r\.csv_bi.*unknown label 'spsw'"):
        score_pairs([(ref, hyp)])
    broken = tmp_path / "hyp" / "x.csv_bi"
    broken.write_bytes(b"\x80\x81")
    with pytest.raises(AnnotationError, match=r"x\.csv_bi: unreadable"):
        score_pairs([(hyp, broken)])


def test_pairing_from_list_files_and_format_preference(tmp_path):
    a = csv_bi(tmp_path / "ref" / "a.csv_bi", 10, [(1, 2, "seiz")])
    (tmp_path / "ref" / "a.csv").write_text("# duration = 10 secs\n")  # per-channel twin
    hyp = csv_bi(tmp_path / "hyp" / "a.csv_bi", 10, [(1, 2, "seiz")])
    listing = tmp_path / "hyp.list"
    listing.write_text("# hypotheses\nhyp/a.csv_bi\n\n")
    assert pair_files(tmp_path / "ref", listing) == [(a, hyp)]
    assert pair_files([a], [hyp]) == [(a, hyp)]
    csv_bi(tmp_path / "ref" / "sub" / "a.csv_bi", 10, [])
    with pytest.raises(ScoringError, match="recording 'a' appears twice"):
        pair_files(tmp_path / "ref", listing)
    with pytest.raises(ScoringError, match="do not exist"):
        pair_files([tmp_path / "nope.csv_bi"], [hyp])
    with pytest.raises(ScoringError, match="no such folder"):
        pair_files(tmp_path / "nowhere", listing)


def test_scorer_names_are_validated():
    with pytest.raises(ValueError, match="unknown scorer"):
        score_pairs(hand_made_pairs(), scorers=["overlap", "nist"])
    with pytest.raises(ScoringError, match="nothing to score"):
        score_pairs([])
    assert list(SCORERS) == ["overlap", "taes", "epoch", "dpalign", "ira", "szcore"]


# ------------------------------------------------------------------ the CLI


@needs_nedc
def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "scores.json"
    code = cli.main(["score", "--ref", str(NEDC / "ref"), "--hyp", str(NEDC / "hyp"),
                     "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "OVERLAP" in table and "86.1626 %" in table and "3.8165" in table
    assert "SZCORE" in table and "45277.0000 s" in table
    data = json.loads(out.read_text())
    assert set(data) == {"files", "total_duration_s", "overlap", "taes", "epoch", "dpalign",
                         "ira", "szcore"}
    assert "Cohen's kappa 0.4110" in table and round(data["ira"]["kappa"], 4) == 0.4110
    for name in SCORERS:
        assert set(data[name]) == {"targets", "hits", "misses", "false_alarms",
                                   "sensitivity_pct", "precision_pct", "f1_pct", "fa_per_24h"
                                   } | ({"kappa", "confusion"} if name == "ira" else set())
    overlap = data["overlap"]
    assert overlap["precision_pct"] == pytest.approx(100 * 604 / (604 + 2))
    precision, sensitivity = overlap["precision_pct"], overlap["sensitivity_pct"]
    assert overlap["f1_pct"] == pytest.approx(2 * precision * sensitivity
                                              / (precision + sensitivity))
    assert data["files"] == 30 and data["overlap"]["hits"] == 604


def test_cli_scorer_subset(tmp_path, capsys):
    csv_bi(tmp_path / "ref" / "a.csv_bi", 100, [(10, 20, "seiz")])
    csv_bi(tmp_path / "hyp" / "a.csv_bi", 100, [(15, 25, "seiz")])
    out = tmp_path / "s.json"
    assert cli.main(["score", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                     "--scorers", "taes,overlap", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())) == {"files", "total_duration_s", "taes", "overlap"}
    assert "EPOCH" not in capsys.readouterr().out


def test_cli_refusal_is_a_clean_message(tmp_path, capsys):
    csv_bi(tmp_path / "ref" / "a.csv_bi", 10, [])
    csv_bi(tmp_path / "hyp" / "b.csv_bi", 10, [])
    out = tmp_path / "s.json"
    code = cli.main(["score", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                     "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.startswith("neurokube score: error: unpaired recordings") and "Traceback" not in err


def test_cli_rejects_unknown_scorer(capsys):
    assert cli.main(["score", "--ref", "r", "--hyp", "h", "--scorers", "overlap,nist"]) == 2
    assert "unknown scorer(s) nist" in capsys.readouterr().err
