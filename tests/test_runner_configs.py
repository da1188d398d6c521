"""Runner configurations: lookup by name and path, override precedence, clear errors."""
import argparse
from pathlib import Path

import pytest
import yaml
from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                  StandardOptions, WorkerOptions)

from neurokube.pipelines import runner_config as rc
from neurokube.pipelines.runner_config import (RunnerConfigError, add_runner_config_argument,
                                                resolve_beam_args)

SHIPPED = ["dataflow_cpu", "dataflow_gpu", "direct", "flink_kubernetes", "flink_local"]


@pytest.fixture
def write_config(tmp_path):
    def write(options, name="custom.yaml", **top):
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"description": "test", "options": options, **top},
                                        sort_keys=False))
        return path
    return write


def test_shipped_configs_are_listed_and_load():
    assert set(SHIPPED) <= set(rc.available_runner_configs())
    for name in SHIPPED:
        argv = resolve_beam_args(name, [])
        assert argv[0].startswith("--runner="), name
        PipelineOptions(argv).view_as(StandardOptions)  # Beam parses every flag


def test_direct_by_name():
    argv = resolve_beam_args("direct", [])
    assert argv == ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                    "--direct_num_workers=0"]
    opts = PipelineOptions(argv).view_as(DirectOptions)
    assert opts.direct_running_mode == "multi_processing" and opts.direct_num_workers == 0


def test_by_path_and_env_expansion(write_config, monkeypatch):
    monkeypatch.setenv("NK_TEST_WORKERS", "7")
    monkeypatch.delenv("NK_TEST_UNSET", raising=False)
    path = write_config({"runner": "DataflowRunner",
                         "max_num_workers": "${NK_TEST_WORKERS}",
                         "temp_location": "${NK_TEST_UNSET:-gs://fallback/tmp}",
                         "experiments": ["a", "b"],
                         "labels": {"team": "eeg"},
                         "save_main_session": True,
                         "use_public_ips": False,
                         "streaming": False})
    argv = resolve_beam_args(str(path), [])
    assert argv == ["--runner=DataflowRunner", "--max_num_workers=7",
                    "--temp_location=gs://fallback/tmp", "--experiments=a",
                    "--experiments=b", "--labels=team=eeg", "--save_main_session",
                    "--no_use_public_ips"]
    # A false switch becomes its paired "--no_" flag, or is left out (streaming), never
    # "--x=False".


def test_flink_local_jar_path_under_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROKUBE_CACHE", str(tmp_path))
    argv = resolve_beam_args("flink_local", [])
    assert f"--flink_job_server_jar={tmp_path}/flink/job-server.jar" in argv
    monkeypatch.delenv("NEUROKUBE_CACHE")
    argv = resolve_beam_args("flink_local", [])
    assert not any("$" in a or "~" in a for a in argv), argv


@pytest.mark.parametrize("explicit", [
    ["--direct_num_workers=3"],
    ["--direct_num_workers", "3"],
])
def test_explicit_value_overrides_config(explicit):
    argv = resolve_beam_args("direct", explicit)
    assert argv.count("--direct_num_workers=0") == 0
    assert argv[-len(explicit):] == explicit
    assert PipelineOptions(argv).view_as(DirectOptions).direct_num_workers == 3


def test_explicit_overrides_runner_and_keeps_the_rest():
    argv = resolve_beam_args("direct", ["--runner=FlinkRunner", "--job_name", "x"])
    assert argv == ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                    "--runner=FlinkRunner", "--job_name", "x"]


def test_boolean_and_negated_switches_override(write_config):
    path = write_config({"runner": "DataflowRunner", "use_public_ips": True,
                         "experiments": ["use_runner_v2", "x"]})
    # --no_use_public_ips has the same destination as --use_public_ips.
    argv = resolve_beam_args(str(path), ["--no_use_public_ips"])
    assert "--use_public_ips" not in argv and argv[-1] == "--no_use_public_ips"
    assert PipelineOptions(argv).view_as(WorkerOptions).use_public_ips is False
    # A repeated option is replaced whole, not merged.
    argv = resolve_beam_args(str(path), ["--experiments=only"])
    assert [a for a in argv if a.startswith("--experiments")] == ["--experiments=only"]


def test_negated_switch_in_config(write_config):
    path = write_config({"runner": "DataflowRunner", "no_use_public_ips": True})
    assert resolve_beam_args(str(path), []) == ["--runner=DataflowRunner",
                                                "--no_use_public_ips"]


def test_no_config_returns_explicit_unchanged():
    assert resolve_beam_args(None, ["--runner=DirectRunner"]) == ["--runner=DirectRunner"]
    assert resolve_beam_args(None, None) == []


def test_runner_config_flag_inside_explicit_args():
    argv = resolve_beam_args(None, ["--runner_config", "direct", "--direct_num_workers=1"])
    assert argv == ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                    "--direct_num_workers=1"]
    argv = resolve_beam_args(None, ["--runner_config=direct"])
    assert argv[0] == "--runner=DirectRunner"


def test_add_runner_config_argument():
    parser = add_runner_config_argument(argparse.ArgumentParser())
    args, rest = parser.parse_known_args(["--runner_config", "flink_local", "--parallelism=1"])
    assert args.runner_config == "flink_local" and rest == ["--parallelism=1"]
    assert "direct" in parser.format_help()
    args = parser.parse_args([])
    assert args.runner_config is None


def test_unknown_name_lists_available():
    with pytest.raises(RunnerConfigError) as err:
        resolve_beam_args("flonk", [])
    message = str(err.value)
    assert "flonk" in message
    for name in SHIPPED:
        assert name in message


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(RunnerConfigError, match="does not exist"):
        resolve_beam_args(str(tmp_path / "nope.yaml"), [])


def test_application_flags_are_rejected(write_config):
    path = write_config({"runner": "DirectRunner", "input": "corpus/*.edf"})
    with pytest.raises(RunnerConfigError, match="input.*not Beam runner options"):
        resolve_beam_args(str(path), [])


@pytest.mark.parametrize("content, match", [
    ("- just\n- a list\n", "mapping"),
    ("options: {runner: DirectRunner}\nextra: 1\n", "unknown top-level keys"),
    ("options: {direct_num_workers: 2}\n", "must set 'runner'"),
    ("options: [runner]\n", "must be a mapping"),
    ("options: {runner: [unclosed\n", "not valid YAML"),
    ("options: {runner: DirectRuner}\n", "runner 'DirectRuner': Unexpected pipeline runner"),
])
def test_malformed_files(tmp_path, content, match):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(RunnerConfigError, match=match):
        rc.load_runner_config(str(path))


def test_switch_with_a_value_is_an_error(write_config):
    path = write_config({"runner": "DirectRunner", "save_main_session": "yes"})
    with pytest.raises(RunnerConfigError, match="switch"):
        resolve_beam_args(str(path), [])


def test_config_dir_env_is_searched_first(tmp_path, monkeypatch):
    (tmp_path / "direct.yaml").write_text(
        "options:\n  runner: DirectRunner\n  direct_num_workers: 5\n")
    monkeypatch.setenv(rc.RUNNER_CONFIG_DIR_ENV, str(tmp_path))
    assert resolve_beam_args("direct", []) == ["--runner=DirectRunner",
                                               "--direct_num_workers=5"]


def test_kubernetes_and_schedule_manifests():
    import json
    from pathlib import Path
    root = Path(rc.__file__).resolve().parents[1] / "runner_configs"
    deployment, service = yaml.safe_load_all((root / "k8s" / "flink-deployment.yaml").read_text())
    assert deployment["kind"] == "FlinkDeployment"
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    assert deployment["spec"]["flinkConfiguration"]["job.autoscaler.enabled"] == "true"
    containers = deployment["spec"]["taskManager"]["podTemplate"]["spec"]["containers"]
    (pool,) = [c for c in containers if c["name"] == "beam-worker-pool"]
    assert pool["command"] + pool["args"] == [
        "python", "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port=50000"]
    assert service["spec"]["ports"][0]["port"] == 8081
    k8s_cfg = rc.load_runner_config("flink_kubernetes")
    assert k8s_cfg["environment_type"] == "EXTERNAL"
    assert k8s_cfg["environment_config"] == "localhost:50000"
    assert k8s_cfg["flink_master"].startswith(service["metadata"]["name"])

    cron = yaml.safe_load((root / "k8s" / "cronjob-relabel.yaml").read_text())
    assert cron["kind"] == "CronJob" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    (job,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    cmd = job["command"] + job["args"]
    assert cmd[:5] == ["neurokube", "label", "--incremental", "--runner_config",
                       "flink_kubernetes"]
    model = cmd[cmd.index("--model") + 1]  # a bundle folder the image holds
    assert model.startswith("/opt/neurokube/models/")
    assert (root.parent / model.removeprefix("/opt/neurokube/") / "bundle.json").is_file()

    template = json.loads((root / "dataflow" / "flex_template.json").read_text())
    assert template["sdkInfo"]["language"] == "PYTHON"
    names = {p["name"] for p in template["metadata"]["parameters"]}
    assert {"input", "output", "incremental", "runner_config"} <= names
    schedule = yaml.safe_load((root / "dataflow" / "scheduler.yaml").read_text())
    assert schedule["httpTarget"]["uri"].endswith("/flexTemplates:launch")
    assert schedule["httpTarget"]["body"]["launchParameter"]["parameters"]["incremental"] == "true"


def test_a_misspelled_runner_flag_is_refused_before_any_job():
    with pytest.raises(RunnerConfigError, match="--runner: runner 'DirectRuner'"):
        resolve_beam_args("direct", ["--runner=DirectRuner"])
    with pytest.raises(RunnerConfigError, match="--runner: runner 'Nope'"):
        resolve_beam_args(None, ["--runner", "Nope"])
    with pytest.raises(RunnerConfigError, match="DirectRuner"):
        resolve_beam_args(None, ["--runner=apache_beam.runners.direct.DirectRuner"])
    resolve_beam_args(None, ["--runner=apache_beam.runners.direct.DirectRunner"])


def test_the_flex_template_runs_the_gpu_engine_on_gpu_workers():
    import importlib.util
    path = Path(rc.__file__).resolve().parents[1] / "runner_configs" / "dataflow" / "flex_main.py"
    spec = importlib.util.spec_from_file_location("flex_main", path)
    flex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(flex)
    base = ["--input=gs://c/*.edf", "--output=gs://o/"]
    default = flex.label_argv(base + ["--incremental=true"])
    assert default[:3] == ["label", "--runner_config", "dataflow_gpu"]
    assert default[-4:] == ["--device", "GPU", "--model_copies", "1"]
    assert "--incremental" in default
    assert "--device" not in flex.label_argv(base + ["--runner_config=dataflow_cpu"])
    assert flex.label_argv(base + ["--device=CPU"]).count("--device=CPU") == 1
    assert "GPU" not in flex.label_argv(base + ["--device=CPU"])
    mine = flex.label_argv(base + ["--model_copies=2"])  # the user's value stays
    assert "--model_copies=2" in mine and "1" not in mine
