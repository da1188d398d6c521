"""``label`` end to end on gs://: EDFs read from a bucket, results written to a bucket
(Beam FileSystems on a local GCS emulator), missing objects and buckets handled."""
import json

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.models.bundle import ModelBundle
from neurokube.models.handler import DetectorModelHandler
from neurokube.pipelines import cli
from neurokube.core.formats.csv_bi import parse_csv
from neurokube.core.sources import list_recordings
from neurokube.pipelines.label_job import build_label_pipeline
from neurokube.pipelines.run_files import finish_run, prepare_output

pytestmark = [pytest.mark.gcs, pytest.mark.usefixtures("anonymous_gcs")]


@pytest.fixture
def bucket(gcs_emulator, make_edf, request):
    slug = request.node.name[:40].lower().replace('_', '-').strip('-')
    bucket = gcs_emulator.create_bucket(f"nk-{slug}")
    for i in range(2):
        path, _ = make_edf(f"r{i}.edf", seed=i, duration_s=12.0)
        bucket.blob(f"edf/dev/s{i}/01_tcp_ar/r{i}.edf").upload_from_filename(str(path))
    bucket.blob("edf/dev/bad/01_tcp_ar/broken.edf").upload_from_string(b"0       garbage" * 30)
    yield bucket


def _label(inputs, out, bundle_dir, incremental=False):
    run_id = prepare_output(out, inputs)
    p = beam.Pipeline(options=PipelineOptions([]))
    build_label_pipeline(p, inputs, out, ModelBundle.load(bundle_dir),
                         DetectorModelHandler(str(bundle_dir), p1_batch_windows=2000),
                         formats=("csv_bi", "tse"), incremental=incremental, run_id=run_id)
    p.run().wait_until_finish()
    return finish_run(out, run_id, 0.0)


def test_label_reads_and_writes_gs(bucket, tmp_path, random_bundle):
    name = bucket.name
    listing = tmp_path / "inputs.list"
    listing.write_text("\n".join([f"gs://{name}/edf/dev/s0/01_tcp_ar/r0.edf",
                                  f"gs://{name}/edf/dev/s1/01_tcp_ar/r1.edf",
                                  f"gs://{name}/edf/dev/bad/01_tcp_ar/broken.edf",
                                  f"gs://{name}/edf/dev/s9/01_tcp_ar/missing.edf"]) + "\n")
    inputs = list_recordings(str(listing))
    assert [s.name for s in inputs.sources] == [
        "bad/01_tcp_ar/broken.edf", "s0/01_tcp_ar/r0.edf", "s1/01_tcp_ar/r1.edf",
        "s9/01_tcp_ar/missing.edf"]
    out = f"gs://{name}/results"
    run = _label(inputs, out, random_bundle)

    names = sorted(b.name for b in bucket.list_blobs(prefix="results/")
                   if not b.name.startswith("results/runs/"))
    assert not [n for n in names if ".tmp-" in n], "temporary objects left behind"
    assert names == sorted(["results/.neurokube-output", "results/dead_letters.jsonl",
                            "results/run.json"] + [
        f"results/s{i}/01_tcp_ar/r{i}{suffix}" for i in range(2)
        for suffix in (".csv_bi", ".tse", ".result.json")])
    ann = parse_csv(bucket.blob("results/s1/01_tcp_ar/r1.csv_bi").download_as_text(),
                    "r1.csv_bi")
    assert ann.duration_s == 12.0
    meta = json.loads(bucket.blob("results/s0/01_tcp_ar/r0.result.json").download_as_text())
    assert meta["source"] == "s0/01_tcp_ar/r0.edf"  # the name, never the full URL
    assert meta["input_fingerprint"] is None  # not computed unless --incremental
    letters = {json.loads(x)["path"].rsplit("/", 1)[-1]: json.loads(x) for x in
               bucket.blob("results/dead_letters.jsonl").download_as_text().splitlines()}
    assert sorted(letters) == ["broken.edf", "missing.edf"]
    assert letters["missing.edf"]["stage"] == "list"
    assert letters["missing.edf"]["reason"] == "RecordingError: no such object"
    assert letters["broken.edf"]["stage"] == "read"
    assert (run["inputs"], run["results"], run["dead_letters"]) == (4, 2, 2)

    # Incremental on the bucket: the first incremental run fingerprints everything; the
    # second has nothing to redo. The fingerprint of a gs:// object is GCS's own content
    # checksum: nothing is downloaded.
    _label(inputs, out, random_bundle, incremental=True)
    source = f"gs://{name}/edf/dev/s0/01_tcp_ar/r0.edf"
    meta = json.loads(bucket.blob("results/s0/01_tcp_ar/r0.result.json").download_as_text())
    assert meta["input_fingerprint"] == (f"gcs-crc32c:{FileSystems.checksum(source)}:"
                                         f"{bucket.get_blob('edf/dev/s0/01_tcp_ar/r0.edf').size}")
    run = _label(inputs, out, random_bundle, incremental=True)
    assert (run["results"], run["dead_letters"], run["skipped_unchanged"]) == (0, 2, 2)


def test_missing_output_bucket_fails_before_the_pipeline(bucket, random_bundle, capsys):
    status = cli.main(["label", "--input", f"gs://{bucket.name}/edf/**.edf", "--output",
                       "gs://nk-no-such-bucket/results", "--model", str(random_bundle)])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "output bucket gs://nk-no-such-bucket does not exist" in err[0]
