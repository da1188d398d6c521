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
from neurokube.pipelines.label import build_label_pipeline
from neurokube.transforms.annotations import parse_csv
from neurokube.transforms.sources import list_recordings

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
    p = beam.Pipeline(options=PipelineOptions([]))
    build_label_pipeline(p, inputs, out, ModelBundle.load(bundle_dir),
                         DetectorModelHandler(str(bundle_dir), p1_batch_windows=2000),
                         formats=("csv_bi", "tse"), incremental=incremental)
    p.run().wait_until_finish()


def test_label_reads_and_writes_gs(bucket, tmp_path, random_bundle):
    name = bucket.name
    listing = tmp_path / "inputs.list"
    listing.write_text("\n".join([f"gs://{name}/edf/dev/s0/01_tcp_ar/r0.edf",
                                  f"gs://{name}/edf/dev/s1/01_tcp_ar/r1.edf",
                                  f"gs://{name}/edf/dev/bad/01_tcp_ar/broken.edf",
                                  f"gs://{name}/edf/dev/s9/01_tcp_ar/missing.edf"]) + "\n")
    inputs = list_recordings(str(listing))
    assert inputs.root == f"gs://{name}/edf/dev"
    out = f"gs://{name}/results"
    _label(inputs, out, random_bundle)

    names = sorted(b.name for b in bucket.list_blobs(prefix="results/"))
    assert not [n for n in names if ".tmp-" in n], "temporary objects left behind"
    assert names == sorted(["results/dead_letters.jsonl", "results/run.json"] + [
        f"results/s{i}/01_tcp_ar/r{i}{suffix}" for i in range(2)
        for suffix in (".csv_bi", ".tse", ".result.json")])
    ann = parse_csv(bucket.blob("results/s1/01_tcp_ar/r1.csv_bi").download_as_text(),
                    "r1.csv_bi")
    assert ann.duration_s == 12.0
    meta = json.loads(bucket.blob("results/s0/01_tcp_ar/r0.result.json").download_as_text())
    source = f"gs://{name}/edf/dev/s0/01_tcp_ar/r0.edf"
    # The fingerprint of a gs:// object is GCS's own content checksum: nothing downloaded.
    assert meta["input_fingerprint"] == (f"gcs-crc32c:{FileSystems.checksum(source)}:"
                                         f"{bucket.get_blob('edf/dev/s0/01_tcp_ar/r0.edf').size}")
    assert meta["source"] == source
    letters = {json.loads(x)["path"].rsplit("/", 1)[-1]: json.loads(x) for x in
               bucket.blob("results/dead_letters.jsonl").download_as_text().splitlines()}
    assert sorted(letters) == ["broken.edf", "missing.edf"]
    assert letters["missing.edf"]["stage"] == "read"
    assert letters["missing.edf"]["reason"] == (
        f"FileNotFoundError: no such object: gs://{name}/edf/dev/s9/01_tcp_ar/missing.edf")
    assert letters["broken.edf"]["stage"] == "features"
    run = json.loads(bucket.blob("results/run.json").download_as_text())
    assert (run["inputs"], run["results"], run["dead_letters"]) == (4, 2, 2)

    # Incremental on the bucket: nothing changed, nothing redone.
    _label(inputs, out, random_bundle, incremental=True)
    run = json.loads(bucket.blob("results/run.json").download_as_text())
    assert (run["results"], run["dead_letters"], run["skipped_unchanged"]) == (0, 2, 2)


def test_missing_output_bucket_fails_before_the_pipeline(bucket, random_bundle, capsys):
    inputs = list_recordings(f"gs://{bucket.name}/edf/**.edf")
    p = beam.Pipeline(options=PipelineOptions([]))
    with pytest.raises(FileNotFoundError, match="gs://nk-no-such-bucket does not exist"):
        build_label_pipeline(p, inputs, "gs://nk-no-such-bucket/results",
                             ModelBundle.load(random_bundle),
                             DetectorModelHandler(str(random_bundle)))
    with pytest.raises(SystemExit, match="output bucket gs://nk-no-such-bucket does not exist"):
        cli.main(["label", "--input", f"gs://{bucket.name}/edf/**.edf", "--output",
                  "gs://nk-no-such-bucket/results", "--model", str(random_bundle)])
