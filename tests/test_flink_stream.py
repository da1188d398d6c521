"""``neurokube stream`` on the FlinkRunner in streaming mode (the job server's embedded
cluster, LOOPBACK): a file that grows while the job runs is labelled as it grows, and its
events equal those of batch ``label`` on the finished file."""
import json

import pytest

from neurokube.core.formats import read_annotation
from neurokube.pipelines.cli import main

try:
    from flink_support import flink_job_server_jar  # noqa: F401  (fixture)
    from test_stream import SECONDS, Writer, _recording
except ImportError:  # tests/ imported as a package
    from tests.flink_support import flink_job_server_jar  # noqa: F401
    from tests.test_stream import SECONDS, Writer, _recording

pytestmark = pytest.mark.flink


def test_stream_on_flink_streaming_equals_batch(tmp_path, random_causal_bundle,
                                                flink_job_server_jar):
    full, watch, out = tmp_path / "full", tmp_path / "watch", tmp_path / "out"
    full.mkdir()
    watch.mkdir()
    data, hb, per = _recording(full / "grow.edf", 3)
    writer = Writer(data, hb, per, watch / "grow.edf", steps=[20, 50, 90],
                    out_csv=out / "grow.csv_bi")
    writer.start()
    status = main(["stream", "--watch", str(watch), "--output", str(out), "--model",
                   str(random_causal_bundle), "--poll_s", "0.5", "--settle_s", "3",
                   "--until_idle_s", "8", "--runner_config", "flink_local",
                   f"--flink_job_server_jar={flink_job_server_jar}", "--parallelism=1"])
    writer.join()
    assert writer.error is None and status == 0
    assert all(writer.seen_partial)  # labelled while it grew
    assert json.loads((out / "run.json").read_text())["results"] == 1
    assert main(["label", "--input", str(full), "--output", str(tmp_path / "batch"),
                 "--model", str(random_causal_bundle)]) == 0
    streamed = read_annotation(out / "grow.csv_bi")
    batched = read_annotation(tmp_path / "batch" / "grow.csv_bi")
    assert streamed.duration_s == batched.duration_s == SECONDS
    assert [(e.start_s, e.stop_s) for e in streamed.events] == \
           [(e.start_s, e.stop_s) for e in batched.events]
    assert any(e.label == "seiz" for e in batched.events)
