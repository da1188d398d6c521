"""The Dataflow jobs of ``dataflow_cpu`` and ``dataflow_gpu`` are built offline.

``--dry_run=True`` makes the DataflowRunner build the job (``result.job``) and return
before any API call. The worker environment (machine type, autoscaling, accelerator
service option, container image, experiments) is normally filled in by
``DataflowApplicationClient.create_job_description``, which also stages files; here the
same ``apiclient.Environment`` is built directly from the dry-run job, with no
credentials and no network (``google.auth.default`` is made to fail to prove it).
"""
import hashlib
import json

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.internal import apiclient
from apache_beam.runners.internal import names as shared_names
from apache_beam.utils import proto_utils

from neurokube.pipelines.runner_config import resolve_beam_args

GPU_IMAGE = "europe-west4-docker.pkg.dev/test-project/neurokube/worker-gpu:test"
CPU_IMAGE = "europe-west4-docker.pkg.dev/test-project/neurokube/worker:test"
OFFLINE = ["--dry_run=True", "--project=fake-project", "--region=us-central1",
           "--temp_location=gs://bucket/tmp", "--staging_location=gs://bucket/staging"]


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    """Any credential lookup fails the test: dry runs must not need them."""
    import google.auth

    def refuse(*args, **kwargs):
        raise AssertionError("a Dataflow dry run looked up Google credentials")

    monkeypatch.setattr(google.auth, "default", refuse)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


def build_job(config, image, extra=()):
    """Dry-run a minimal pipeline; return (job, job JSON dict with its environment)."""
    argv = resolve_beam_args(config, OFFLINE + [f"--sdk_container_image={image}", *extra])
    p = beam.Pipeline(options=PipelineOptions(argv))
    _ = (p | "Recordings" >> beam.Create(["a.edf", "b.edf"])
         | "Label" >> beam.Map(lambda path: (path, 0.0)))
    result = p.run()
    result.wait_until_finish()
    job = result.job
    assert isinstance(job, apiclient.Job)
    # What create_job_description does before it stages and submits, minus staging.
    apiclient.DataflowApplicationClient._apply_sdk_environment_overrides(  # pylint: disable=protected-access
        job.proto_pipeline, {}, job.options)
    serialized = job.proto_pipeline.SerializeToString()
    job.proto.environment = apiclient.Environment(
        packages=[], options=job.options,
        environment_version=apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION,  # pylint: disable=protected-access
        proto_pipeline_staged_url=FileSystems.join(
            job.google_cloud_options.staging_location,
            shared_names.STAGED_PIPELINE_FILENAME),
        proto_pipeline=job.proto_pipeline,
        pipeline_proto_hash=hashlib.sha256(serialized).hexdigest()).proto
    return job, json.loads(job.json())


def _pipeline_images(job):
    images = set()
    for env in job.proto_pipeline.components.environments.values():
        payload = proto_utils.parse_Bytes(env.payload, beam_runner_api_pb2.DockerPayload)
        images.add(payload.container_image)
    return images


def test_gpu_job_carries_accelerator_image_and_worker_settings():
    job, as_json = build_job("dataflow_gpu", GPU_IMAGE)
    env = as_json["environment"]
    assert "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver" in env[
        "serviceOptions"]
    assert "use_runner_v2" in env["experiments"]
    # One SDK process per worker: one model copy owns the GPU.
    assert "no_use_multiple_sdk_containers" in env["experiments"]
    assert "use_multiple_sdk_containers" not in env["experiments"]
    (pool,) = env["workerPools"]
    assert pool["machineType"] == "g2-standard-8"
    assert pool["autoscalingSettings"]["maxNumWorkers"] == 8
    assert pool["autoscalingSettings"]["algorithm"] == "AUTOSCALING_ALGORITHM_BASIC"
    assert pool["numWorkers"] == 1
    assert pool["diskSizeGb"] == 100
    assert pool["numThreadsPerWorker"] == 4
    assert pool["workerHarnessContainerImage"] == GPU_IMAGE
    assert {c["containerImage"] for c in pool["sdkHarnessContainerImages"]} == {GPU_IMAGE}
    assert _pipeline_images(job) == {GPU_IMAGE}
    options = env["sdkPipelineOptions"]["options"]
    assert options["sdk_container_image"] == GPU_IMAGE
    assert options["project"] == "fake-project" and options["region"] == "us-central1"
    assert as_json["type"] == "JOB_TYPE_BATCH"


def test_cpu_job_has_no_accelerator():
    job, as_json = build_job("dataflow_cpu", CPU_IMAGE)
    env = as_json["environment"]
    assert not any("worker_accelerator" in o for o in env.get("serviceOptions", []))
    (pool,) = env["workerPools"]
    assert pool["machineType"] == "n2-standard-8"
    assert pool["autoscalingSettings"]["maxNumWorkers"] == 50
    assert pool["workerHarnessContainerImage"] == CPU_IMAGE
    assert _pipeline_images(job) == {CPU_IMAGE}
    assert "use_runner_v2" in env["experiments"]


def test_explicit_flags_override_the_gpu_config_in_the_job():
    _, as_json = build_job("dataflow_gpu", GPU_IMAGE,
                           ["--max_num_workers=2", "--machine_type", "g2-standard-16"])
    (pool,) = as_json["environment"]["workerPools"]
    assert pool["machineType"] == "g2-standard-16"
    assert pool["autoscalingSettings"]["maxNumWorkers"] == 2


def test_label_dry_run_from_the_command_line_is_offline(make_edf, tmp_path, capsys):
    from neurokube.pipelines import cli
    make_edf("a.edf", folder="corpus")
    status = cli.main(["label", "--input", str(tmp_path / "corpus"), "--output",
                       "gs://no-bucket-needed/labels",
                       "--runner_config", "dataflow_gpu", *OFFLINE,
                       f"--sdk_container_image={GPU_IMAGE}"])
    assert status == 0
    assert "dry run: the label job for 1 recordings was built" in capsys.readouterr().out


def test_the_dry_run_builds_the_handler_the_command_asks_for(make_edf, tmp_path, monkeypatch):
    from neurokube.pipelines import cli, label_job
    built, real = [], label_job.job_handler
    monkeypatch.setattr(label_job, "job_handler",
                        lambda *args: built.append(real(*args)) or built[-1])
    make_edf("a.edf", folder="corpus")
    status = cli.main(["label", "--input", str(tmp_path / "corpus"), "--output",
                       "gs://no-bucket-needed/labels",
                       "--device", "GPU", "--model_copies", "1", "--p1_batch_windows", "512",
                       "--runner_config", "dataflow_gpu", *OFFLINE,
                       f"--sdk_container_image={GPU_IMAGE}"])
    assert status == 0 and len(built) == 1
    assert (built[0]._device, built[0]._p1_batch) == ("GPU", 512)
    # The shipped model goes by name: each worker loads its own installation's copy.
    assert built[0]._bundle_dir == "package:reference"
