"""The featurize job end to end on the DirectRunner: outputs, dead letters, exactly once."""
import json
import os

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.core.edf import open_recording, write_edf
from neurokube.core.feature_files import read_feature_file
from neurokube.core.feature_spec import TCP_CHANNELS, FeatureSpec
from neurokube.core.filters import bandpass
from neurokube.core.lfcc import lfcc
from neurokube.core.montage import to_tcp
from neurokube.core.sources import list_recordings
from neurokube.pipelines.featurize_job import SUMMARY_FILE, build_featurize_pipeline
from neurokube.pipelines.run_files import finish_run
from neurokube.transforms.stages import METRICS_NAMESPACE

SPEC = FeatureSpec()


def run_featurize(inputs, output, argv=()):
    p = beam.Pipeline(options=PipelineOptions(list(argv)))
    build_featurize_pipeline(p, inputs, str(output), SPEC, run_id="test")
    result = p.run()
    result.wait_until_finish()
    finish_run(str(output), "test", 0.0, summary_file=SUMMARY_FILE)
    return result


def counter_values(result):
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    return {c.key.metric.name: c.committed for c in query["counters"]}


@pytest.fixture
def mixed_corpus(make_edf, tmp_path):
    """Good recordings of every montage kind and rate, and one of each kind of bad input."""
    good = [
        make_edf("ar.edf", fs_hz=250, folder="corpus/s1/01_tcp_ar", seed=1)[0],
        make_edf("le.edf", fs_hz=256, reference="LE", folder="corpus/s2/02_tcp_le", seed=2)[0],
        make_edf("ara.edf", fs_hz=400, ears=False, folder="corpus/s3/03_tcp_ar_a", seed=3)[0],
        make_edf("lea.edf", fs_hz=512, ears=False, label_style="bare",
                 folder="corpus/s4/04_tcp_le_a", seed=4)[0],
    ]
    bad = {}
    path = make_edf("truncated.edf", folder="corpus/bad")[0]
    path.write_bytes(path.read_bytes()[:-500])
    bad[str(path)] = "read"
    path = make_edf("corrupt.edf", folder="corpus/bad")[0]
    data = bytearray(path.read_bytes())
    data[252:256] = b"zz  "
    path.write_bytes(bytes(data))
    bad[str(path)] = "read"
    path = tmp_path / "corpus/bad/notes.edf"
    path.write_text("this is a text file, not an EDF\n" * 20)
    bad[str(path)] = "read"
    good.append(make_edf("no_cz.edf", folder="corpus/s5", drop=("CZ",))[0])  # CZ masked
    bad[str(make_edf("slow.edf", fs_hz=32, folder="corpus/bad")[0])] = "read"
    short = tmp_path / "corpus/bad/short.edf"
    labels = [f"EEG {e}-REF" for e in ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1",
                                      "O2", "F7", "F8", "T3", "T4", "T5", "T6", "CZ", "A1", "A2")]
    write_edf(short, np.ones((19, 10)), labels, 250, record_s=0.04)
    bad[str(short)] = "read"
    missing = str(tmp_path / "corpus/bad/vanished.edf")
    bad[missing] = "list"
    listing = tmp_path / "recordings.list"
    listing.write_text("\n".join([*map(str, good), *bad]) + "\n")
    root = str(tmp_path) + "/"  # names count from the list's folder
    names = {url: url[len(root):] for url in [*map(str, good), *bad]}
    return listing, [names[str(g)] for g in good], {names[k]: v for k, v in bad.items()}


def test_every_input_ends_exactly_once(mixed_corpus, tmp_path):
    listing, good, bad = mixed_corpus
    inputs = list_recordings(str(listing))
    assert len(inputs) == len(good) + len(bad) == 11
    out = tmp_path / "out"
    result = run_featurize(inputs, out)

    npz = sorted(out.rglob("*.npz"))
    assert len(npz) == len(good)
    letters = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert {d["path"]: d["stage"] for d in letters} == bad
    assert all(set(d) == {"path", "stage", "reason"} and d["reason"] for d in letters)
    sources = {str(read_feature_file(p)["source"]) for p in npz}
    assert sources == set(good) and not sources & {d["path"] for d in letters}
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert (summary["inputs"], summary["results"], summary["dead_letters"]) == (11, 5, 6)

    reasons = {os.path.basename(d["path"]): d["reason"] for d in letters}
    assert "unsupported sampling rate 32" in reasons["slow.edf"]
    assert "shorter than one 0.1 s frame" in reasons["short.edf"]
    assert "truncated file" in reasons["truncated.edf"]
    assert "no such file" in reasons["vanished.edf"]

    counters = counter_values(result)
    assert counters["recordings_featurized"] == 5
    assert counters["dead_letters_features"] == 5 and counters["dead_letters_list"] == 1


def test_feature_files_hold_what_the_issue_lists(mixed_corpus, tmp_path):
    listing, good, _ = mixed_corpus
    out = tmp_path / "out"
    run_featurize(list_recordings(str(listing)), out)
    for name in good:
        f = read_feature_file(out / name.replace(".edf", ".npz"))
        with open_recording(str(tmp_path / name), SPEC) as src:
            tcp = to_tcp(src.read(), src.labels, src.fs_hz, SPEC, name, plan=src.plan)
        expected = lfcc(bandpass(tcp.data_uv, SPEC), SPEC)
        np.testing.assert_array_equal(f["features"], expected[f["mask"][tcp.mask]])
        assert f["features"].dtype == np.float32
        assert tuple(f["channels"]) == tuple(c for c, m in zip(TCP_CHANNELS, f["mask"]) if m)
        assert f["features"].shape == (len(f["channels"]), 100, 26)
        assert f["reference"].shape == (len(f["channels"]), 8)
        assert float(f["frame_s"]) == 0.1 and float(f["duration_s"]) == 10.0
        assert str(f["montage"]) == tcp.montage and str(f["source"]) == name
        assert FeatureSpec.from_json(str(f["feature_spec"])) == SPEC


def test_rerun_overwrites_and_leaves_no_temporary_files(mixed_corpus, tmp_path):
    listing, good, bad = mixed_corpus
    inputs = list_recordings(str(listing))
    out = tmp_path / "out"
    run_featurize(inputs, out)
    first = {p: p.read_bytes() for p in out.rglob("*.npz")}
    run_featurize(inputs, out, ["--direct_running_mode=multi_processing",
                                "--direct_num_workers=2"])
    assert {p: p.read_bytes() for p in out.rglob("*.npz")} == first
    assert len((out / "dead_letters.jsonl").read_text().splitlines()) == len(bad)
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_folder_input_keeps_the_corpus_layout(make_edf, tmp_path):
    make_edf("a.edf", folder="corpus/edf/dev/x/s001_2020/01_tcp_ar")
    make_edf("b.edf", folder="corpus/edf/dev/y/s001_2020/02_tcp_le", reference="LE")
    out = tmp_path / "out"
    run_featurize(list_recordings(str(tmp_path / "corpus/edf")), out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npz")) == [
        "dev/x/s001_2020/01_tcp_ar/a.npz", "dev/y/s001_2020/02_tcp_le/b.npz"]
