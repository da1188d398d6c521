"""Transient failures are retried per recording; what persists becomes one dead letter.

Faults are injected by test-only subclasses that count attempts in marker files under a
temporary folder (so the counts survive process boundaries), never by production code.
"""
import hashlib
import json
import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from neurokube.models.bundle import ModelBundle
from neurokube.models.handler import DetectorModelHandler
from neurokube.core.errors import RetriesExhausted, RetryPolicy, TransientError, is_transient
from neurokube.core.sources import list_recordings
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import RUNS_FOLDER, finish_run
from neurokube.transforms.stages import DEAD_LETTER, MAIN, StageFn

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, multiplier=2.0)
FORMATS = ("csv_bi", "tse", "hyp", "events_tsv")


def _attempt(state_dir, key):
    """Count one more attempt at ``key``; returns the attempt number (1-based)."""
    marker = Path(state_dir) / f"{key}.attempts"
    n = (int(marker.read_text()) if marker.exists() else 0) + 1
    marker.write_text(str(n))
    return n


def _attempts(state_dir):
    return {p.name[:-len(".attempts")]: int(p.read_text())
            for p in Path(state_dir).glob("*.attempts")}


def test_retry_policy():
    calls = []

    def flaky(n_failures, exc):
        calls.append(1)
        if len(calls) <= n_failures:
            raise exc
        return "ok"

    assert FAST.call(flaky, 2, ConnectionError("reset")) == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(RetriesExhausted, match=r"TimeoutError: slow \(transient; gave up "
                                               r"after 3 attempts\)"):
        FAST.call(flaky, 5, TimeoutError("slow"))
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError):  # content errors are never retried
        FAST.call(flaky, 5, ValueError("bad header"))
    assert len(calls) == 1
    assert not is_transient(OSError("disk full"))
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = TransientError("throttled")
    assert is_transient(wrapped) and not is_transient(FileNotFoundError("gone"))
    assert RetryPolicy(initial_backoff_s=1, multiplier=4, max_backoff_s=10).backoff_s(3) == 10
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


class _Flaky:
    """Fails by name: 'flaky*' once (transient), 'doomed*' always (transient), 'bad*'
    always (content error)."""

    def __init__(self, state_dir):
        self.state_dir = state_dir

    def __call__(self, name):
        n = _attempt(self.state_dir, name)
        if name.startswith("flaky") and n == 1:
            raise TransientError(f"{name}: connection reset")
        if name.startswith("doomed"):
            raise ConnectionError(f"{name}: unreachable")
        if name.startswith("bad"):
            raise ValueError(f"{name}: bad header")
        yield name.upper()


def test_stage_retries_transient_errors_only(tmp_path):
    names = ["ok", "flaky1", "flaky2", "doomed", "bad"]
    with test_pipeline.TestPipeline() as p:
        out = (p | beam.Create(names)
               | beam.ParDo(StageFn("probe", _Flaky(str(tmp_path)), retry_policy=FAST))
               .with_outputs(DEAD_LETTER, main=MAIN))
        assert_that(out[MAIN], equal_to(["OK", "FLAKY1", "FLAKY2"]), label="results")
        assert_that(out[DEAD_LETTER] | beam.Map(lambda d: (d.path, d.stage, d.reason)),
                    equal_to([
                        ("doomed", "probe", "ConnectionError: doomed: unreachable (transient; "
                                            "gave up after 3 attempts)"),
                        ("bad", "probe", "ValueError: bad: bad header")]),
                    label="dead letters")
    assert _attempts(tmp_path) == {"ok": 1, "flaky1": 2, "flaky2": 2, "doomed": 3, "bad": 1}


class FlakyHandler(DetectorModelHandler):
    """Inference fails transiently on the first attempt at recordings named 'flaky*',
    on every attempt at 'doomed*', and with a content error at 'corrupt*'."""

    def __init__(self, bundle_dir, state_dir, **kwargs):
        super().__init__(bundle_dir, retry_policy=FAST, **kwargs)
        self.state_dir = str(state_dir)

    def load_model(self):
        detector = super().load_model()
        real, state_dir = detector.posteriors, self.state_dir

        def posteriors(chunk):
            name = os.path.basename(chunk.path)
            n = _attempt(state_dir, name)
            if name.startswith("flaky") and n == 1:
                raise TransientError(f"simulated: GPU worker pre-empted on {name}")
            if name.startswith("doomed"):
                raise ConnectionError("simulated: feature store unreachable")
            if name.startswith("corrupt"):
                raise ValueError("simulated: NaN features")
            return real(chunk)

        detector.posteriors = posteriors
        return detector


def _label(inputs, out, bundle_dir, handler, argv=()):
    p = beam.Pipeline(options=PipelineOptions(list(argv)))
    build_label_pipeline(p, inputs, str(out), ModelBundle.load(bundle_dir), handler,
                         formats=FORMATS, run_id="test")
    result = p.run()
    result.wait_until_finish()
    return finish_run(str(out), "test", 0.0), result


def _tree(root):
    """Every result file (not the run records, which hold wall times and dead letters)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "run.json"
            and not p.relative_to(root).as_posix().startswith(RUNS_FOLDER + "/")}


def test_transient_failures_retry_to_the_full_result_set(make_edf, tmp_path, random_bundle,
                                                         monkeypatch):
    # The multi-processing DirectRunner's workers unpickle FlakyHandler by module name.
    here = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(here.parent), str(here)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    names = ["ok0", "flaky1", "flaky2", "ok3", "doomed4", "corrupt5"]
    for i, name in enumerate(names):
        make_edf(f"{name}.edf", folder=f"corpus/s{i}", seed=i, duration_s=12.0)
    inputs = list_recordings(str(tmp_path / "corpus"))
    state = tmp_path / "state"
    state.mkdir()

    clean = DetectorModelHandler(str(random_bundle), p1_batch_windows=2000)
    _label(inputs, tmp_path / "clean", random_bundle, clean)
    run, _ = _label(inputs, tmp_path / "faulty", random_bundle,
                         FlakyHandler(str(random_bundle), state, p1_batch_windows=2000,
                                      max_batch_size=2),
                         argv=["--direct_running_mode=multi_processing",
                               "--direct_num_workers=2"])

    assert _attempts(state) == {"ok0.edf": 1, "flaky1.edf": 2, "flaky2.edf": 2, "ok3.edf": 1,
                                "doomed4.edf": 3, "corrupt5.edf": 1}
    assert (run["inputs"], run["results"], run["dead_letters"]) == (6, 4, 2)
    faulty, reference = _tree(tmp_path / "faulty"), _tree(tmp_path / "clean")
    assert not [n for n in faulty if ".tmp-" in n], "partial files left behind"
    # Same files, same bytes for every recording that succeeds in both runs.
    ok = {n: h for n, h in reference.items() if n != "dead_letters.jsonl"
          and not n.startswith(("s4/", "s5/"))}
    assert {n: h for n, h in faulty.items() if n in ok} == ok
    assert not [n for n in faulty if n.startswith(("s4/", "s5/"))]
    letters = [json.loads(x) for x in
               (tmp_path / "faulty" / "dead_letters.jsonl").read_text().splitlines()]
    assert len(letters) == len({d["path"] for d in letters}) == 2  # no duplicate rows
    reasons = {Path(d["path"]).name: (d["stage"], d["reason"]) for d in letters}
    assert reasons == {
        "doomed4.edf": ("inference", "ConnectionError: simulated: feature store unreachable "
                                     "(transient; gave up after 3 attempts)"),
        "corrupt5.edf": ("inference", "ValueError: simulated: NaN features")}
    for name in ("ok0", "flaky1", "flaky2", "ok3"):
        csv_bi = next((tmp_path / "faulty").rglob(f"{name}.csv_bi")).read_text()
        rows = [x for x in csv_bi.splitlines() if x and x[0].isdigit()]
        assert len(rows) == len(set(rows)), f"duplicate rows in {name}.csv_bi"
