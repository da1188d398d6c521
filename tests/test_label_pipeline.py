"""The label job end to end: formats, dead letters at every stage, exactly once."""
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.models.bundle import ModelBundle
from neurokube.models.handler import DetectorModelHandler
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import finish_run
from neurokube.core.formats import read_annotation
from neurokube.core.scoring import score_pairs
from neurokube.core.sources import list_recordings


class FailingDetectorHandler(DetectorModelHandler):
    """Raises inside inference for recordings whose name contains 'explode'."""

    def load_model(self):
        detector = super().load_model()
        real = detector.posteriors

        def posteriors(chunk):
            if "explode" in chunk.path:
                raise RuntimeError("simulated inference failure")
            return real(chunk)

        detector.posteriors = posteriors
        return detector


def run_label(inputs, out, bundle_dir, handler_cls=DetectorModelHandler, formats=("csv_bi",),
              chunk_s=3600.0, argv=(), p3=None, whole_max_s=None):
    bundle = ModelBundle.load(bundle_dir)
    if p3 is not None:
        bundle.p3 = p3
    p = beam.Pipeline(options=PipelineOptions(list(argv)))
    build_label_pipeline(p, inputs, str(out), bundle,
                         handler_cls(str(bundle_dir), p1_batch_windows=2000),
                         formats=formats, chunk_s=chunk_s,
                         whole_max_s=chunk_s if whole_max_s is None else whole_max_s,
                         run_id="test")
    p.run().wait_until_finish()
    return finish_run(str(out), "test", 0.0)


@pytest.fixture
def corpus(make_edf, tmp_path):
    good = [make_edf(f"r{i}.edf", folder=f"corpus/s{i}/01_tcp_ar", seed=i, duration_s=40.0)[0]
            for i in range(3)]
    boom = make_edf("explode.edf", folder="corpus/s9/01_tcp_ar", duration_s=20.0)[0]
    bad = make_edf("broken.edf", folder="corpus/bad/01_tcp_ar")[0]
    bad.write_bytes(bad.read_bytes()[:-300])
    flat = make_edf("flat.edf", folder="corpus/bad/01_tcp_ar", gain=0.0)[0]
    return tmp_path / "corpus", good, {"s9/01_tcp_ar/explode.edf": "inference",
                                       "bad/01_tcp_ar/broken.edf": "read",
                                       "bad/01_tcp_ar/flat.edf": "montage"}


def test_every_recording_ends_once_across_stages(corpus, tmp_path, random_bundle):
    root, good, bad = corpus
    out = tmp_path / "out"
    run = run_label(list_recordings(str(root)), out, random_bundle, FailingDetectorHandler,
                    formats=("csv_bi", "tse", "hyp", "events_tsv"))
    letters = [json.loads(x) for x in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert {d["path"]: d["stage"] for d in letters} == bad
    assert "simulated inference failure" in [d for d in letters if d["stage"] == "inference"][
        0]["reason"]
    assert "no EEG signal" in [d for d in letters if d["stage"] == "montage"][0]["reason"]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv_bi"))
    assert written == [f"s{i}/01_tcp_ar/r{i}.csv_bi" for i in range(3)]
    assert (run["inputs"], run["results"], run["dead_letters"]) == (6, 3, 3)
    assert run["eeg_hours"] == pytest.approx(3 * 40 / 3600)
    assert run["model_version"] == ModelBundle.load(random_bundle).version
    for i in range(3):
        stem = out / f"s{i}/01_tcp_ar/r{i}"
        for suffix in (".tse", ".hyp", "_events.tsv", ".result.json"):
            assert stem.with_name(stem.name + suffix).exists()
        hyp_lines = [x for x in stem.with_name(stem.name + ".hyp").read_text().splitlines()
                     if x and not x.startswith(("#", "start_time"))]
        assert len(hyp_lines) == 40
        ann = read_annotation(stem.with_name(stem.name + ".csv_bi"))
        assert ann.duration_s == 40.0
        starts = [e.start_s for e in ann.events]
        assert starts == sorted(starts)
        assert all(a.stop_s <= b.start_s for a, b in zip(ann.events, ann.events[1:]))


def test_seizure_free_recording_gives_a_valid_empty_csv_bi(make_edf, tmp_path, random_bundle):
    from neurokube.models.config import P3Params
    path, _ = make_edf("quiet.edf", folder="q/01_tcp_ar", duration_s=30.0)
    out = tmp_path / "out"
    run_label(list_recordings(str(tmp_path / "q")), out, random_bundle,
              formats=("csv_bi", "events_tsv"), p3=P3Params(threshold=0.999))
    csv_bi = out / "01_tcp_ar/quiet.csv_bi"
    ann = read_annotation(csv_bi)
    assert [e.label for e in ann.events] == ["bckg"] and ann.duration_s == 30.0
    tsv = (out / "01_tcp_ar/quiet_events.tsv").read_text().splitlines()
    assert len(tsv) == 2 and tsv[1].split("\t")[2] == "bckg"
    ref = tmp_path / "quiet.csv_bi"
    ref.write_text(csv_bi.read_text())
    assert score_pairs([(ref, csv_bi)])["overlap"]["false_alarms"] == 0


def test_chunked_labelling_writes_the_same_events(make_edf, tmp_path, random_bundle):
    from neurokube.models.config import P3Params
    make_edf("long.edf", folder="l/01_tcp_ar", duration_s=300.0, seed=5)
    inputs = list_recordings(str(tmp_path / "l"))
    p3 = P3Params(threshold=0.5, min_channels=0, min_duration_s=1.0)
    run_label(inputs, tmp_path / "whole", random_bundle, formats=("csv_bi", "hyp"), p3=p3)
    run = run_label(inputs, tmp_path / "chunked", random_bundle, formats=("csv_bi", "hyp"),
                    chunk_s=60.0, p3=p3, argv=["--direct_running_mode=multi_processing",
                                               "--direct_num_workers=2"])
    assert run["results"] == 1
    whole = read_annotation(tmp_path / "whole/01_tcp_ar/long.csv_bi").events
    chunked = read_annotation(tmp_path / "chunked/01_tcp_ar/long.csv_bi").events
    assert [(e.start_s, e.stop_s) for e in chunked] == [(e.start_s, e.stop_s) for e in whole]
    conf = lambda p: np.array([float(x.split(",")[3]) for x in p.read_text().splitlines()
                               if x and x[0].isdigit()])
    np.testing.assert_allclose(conf(tmp_path / "chunked/01_tcp_ar/long.hyp"),
                               conf(tmp_path / "whole/01_tcp_ar/long.hyp"), atol=2e-4)
