"""Red team: hundreds of hostile inputs through ``featurize`` and ``label``.

Every input must end exactly once (a result or a dead letter), nothing may hang, no
output may hold a non-finite number, nothing may be written outside the output folder,
and the jobs' processes must stay under 2 GB.
"""
import io
import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from neurokube.core.formats import read_annotation
from tests.redteam import write_mutations

pytestmark = pytest.mark.slow
TIMEOUT_S = 900


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam")
    corpus = root / "corpus"
    described = write_mutations(corpus)
    assert len(described) >= 250
    return root, corpus, described


def _run(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "neurokube.pipelines.cli", *argv],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return proc, max(before, peak_kb) / 1024


def _accounting(out, suffix):
    results = {p.relative_to(out).as_posix()[:-len(suffix)] for p in out.rglob(f"*{suffix}")
               if "runs" not in p.relative_to(out).parts[:1]}
    letters = [json.loads(x) for x in (out / "dead_letters.jsonl").read_text().splitlines()]
    dead = [d["path"].rsplit(".", 1)[0] if d["path"].lower().endswith(".edf") else d["path"]
            for d in letters]
    return results, dead, letters


def _check_every_input_once(results, dead, letters, summary):
    assert len(dead) == len(set(dead)), "a recording has two dead letters"
    assert not results & set(dead), "a recording has both a result and a dead letter"
    assert len(results) + len(dead) == summary["inputs"]
    assert summary["results"] == len(results) and summary["dead_letters"] == len(dead)
    assert all(d["reason"] and d["stage"] in ("list", "read", "montage", "features",
                                              "inference", "postprocess", "write")
               for d in letters)
    assert not any("Traceback" in d["reason"] for d in letters)


def test_featurize_accounts_for_every_hostile_input(hostile):
    root, corpus, described = hostile
    out = root / "features"
    proc, peak_mb = _run(["featurize", "--input", str(corpus), "--output", str(out),
                          "--allow_dead_letters"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, dead, letters = _accounting(out, ".npz")
    summary = json.loads((out / "featurize_run.json").read_text())
    _check_every_input_once(results, dead, letters, summary)
    assert "good" in results and summary["inputs"] >= len(described)
    flat = [d for d in letters if d["path"] == "flat.edf"]
    assert flat and flat[0]["stage"] == "montage" and "no EEG signal" in flat[0]["reason"]
    generic = [d for d in letters if "contains format errors" in d["reason"]]
    assert len(generic) < 0.1 * len(letters), "most refusals must name what is wrong"
    for path in out.rglob("*.npz"):
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
            assert np.isfinite(f["features"]).all(), path
    assert peak_mb < 2048, f"peak RSS {peak_mb:.0f} MB"
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]


def test_label_accounts_for_every_hostile_input(hostile, random_bundle):
    root, corpus, _ = hostile
    out = root / "labels"
    proc, peak_mb = _run(["label", "--input", str(corpus), "--output", str(out), "--model",
                          str(random_bundle), "--formats", "csv_bi,hyp",
                          "--allow_dead_letters"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    results, dead, letters = _accounting(out, ".result.json")
    summary = json.loads((out / "run.json").read_text())
    _check_every_input_once(results, dead, letters, summary)
    for path in out.rglob("*.csv_bi"):
        ann = read_annotation(path)
        assert all(np.isfinite(e.confidence) for e in ann.events), path
    for path in out.rglob("*.hyp"):
        rows = [x.split(",") for x in path.read_text().splitlines() if x[:1].isdigit()]
        assert all(np.isfinite(float(r[3])) for r in rows), path
    assert peak_mb < 2048, f"peak RSS {peak_mb:.0f} MB"
    # Nothing beside the inputs was written or touched.
    assert not [p for p in corpus.rglob("*") if p.suffix in (".csv_bi", ".hyp", ".npz")]
