"""gs:// inputs and outputs through Beam's FileSystems, served by a local GCS emulator."""
import io
import json

import numpy as np
import pytest

from neurokube.core.sources import list_recordings
from tests.test_featurize_pipeline import run_featurize

pytestmark = [pytest.mark.gcs, pytest.mark.usefixtures("anonymous_gcs")]


@pytest.fixture
def bucket(gcs_emulator, make_edf, request):
    bucket = gcs_emulator.create_bucket(f"nk-{request.node.name[:40].lower().replace('_', '-')}")
    for i, (folder, ref) in enumerate([("01_tcp_ar", "REF"), ("02_tcp_le", "LE")]):
        path, _ = make_edf(f"r{i}.edf", reference=ref, seed=i)
        bucket.blob(f"edf/dev/s{i}/{folder}/r{i}.edf").upload_from_filename(str(path))
    bucket.blob("edf/dev/bad/01_tcp_ar/broken.edf").upload_from_string(b"0       garbage" * 30)
    yield bucket


def test_featurize_reads_gs_pattern_and_writes_local(bucket, tmp_path):
    inputs = list_recordings(f"gs://{bucket.name}/edf/**.edf")
    assert len(inputs) == 3
    out = tmp_path / "out"
    run_featurize(inputs, out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npz")) == [
        "dev/s0/01_tcp_ar/r0.npz", "dev/s1/02_tcp_le/r1.npz"]
    letters = [json.loads(x) for x in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert [(d["path"], d["stage"]) for d in letters] == [("dev/bad/01_tcp_ar/broken.edf",
                                                           "read")]


def test_featurize_writes_to_gs_and_dead_letters_missing_objects(bucket, tmp_path):
    listing = tmp_path / "inputs.list"
    listing.write_text("\n".join([
        f"gs://{bucket.name}/edf/dev/s0/01_tcp_ar/r0.edf",
        f"gs://{bucket.name}/edf/dev/s9/01_tcp_ar/missing.edf",
        "gs://no-such-bucket-here/edf/x.edf"]) + "\n")
    out = f"gs://{bucket.name}/results"
    run_featurize(list_recordings(str(listing)), out)
    # The list spans two buckets, so outputs keep the bucket name under the output folder.
    written = f"results/{bucket.name}/edf/dev/s0/01_tcp_ar/r0.npz"
    names = sorted(b.name for b in bucket.list_blobs(prefix="results/"))
    assert written in names and not [n for n in names if ".tmp-" in n]
    with np.load(io.BytesIO(bucket.blob(written).download_as_bytes())) as f:
        assert f["features"].shape == (22, 100, 26)
    letters = [json.loads(x) for x in
               bucket.blob("results/dead_letters.jsonl").download_as_text().splitlines()]
    assert {d["path"]: d["stage"] for d in letters} == {
        f"{bucket.name}/edf/dev/s9/01_tcp_ar/missing.edf": "list",
        "no-such-bucket-here/edf/x.edf": "list"}
    assert all("no such object" in d["reason"] for d in letters)
