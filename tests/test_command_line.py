"""A command line that cannot surprise: every bad argument is one line and exit status 2,
before any worker starts; inputs may be single files, several paths or globs; a run with
dead letters exits 3 unless allowed."""
import json
import shutil

import pytest

from neurokube.pipelines import cli


@pytest.fixture
def setup(tmp_path, make_edf, random_bundle):
    make_edf("a.edf", folder="corpus/s1")
    make_edf("b.edf", folder="corpus/s2", seed=2)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("someone's work")
    (tmp_path / "empty.list").write_text("# nothing\n")
    altered = tmp_path / "altered_bundle"
    shutil.copytree(random_bundle, altered)
    (altered / "VERSION").write_text("0123456789abcdef\n")
    truncated = tmp_path / "truncated_bundle"
    shutil.copytree(random_bundle, truncated)
    (truncated / "p1.keras").write_bytes((truncated / "p1.keras").read_bytes()[:100])
    (tmp_path / "bad_spec.json").write_text("{not json")
    return tmp_path, random_bundle


def _bad_lines(t, bundle):
    c, o = str(t / "corpus"), str(t / "out")
    label = ["label", "--input", c, "--output", o, "--model", str(bundle)]
    return {
        "no input": ["label", "--output", o],
        "no output": ["label", "--input", c],
        "missing model": ["label", "--input", c, "--output", o, "--model", str(t / "none")],
        "model is a file": ["label", "--input", c, "--output", o, "--model", str(t / "a_file")],
        "altered VERSION": ["label", "--input", c, "--output", o, "--model",
                            str(t / "altered_bundle")],
        "truncated weights": ["label", "--input", c, "--output", o, "--model",
                              str(t / "truncated_bundle")],
        "output is a file": ["label", "--input", c, "--output", str(t / "a_file"), "--model",
                             str(bundle)],
        "output is the input": ["label", "--input", c, "--output", c, "--model", str(bundle)],
        "output holds the input": ["label", "--input", c, "--output", str(t), "--model",
                                   str(bundle)],
        "output holds foreign files": ["label", "--input", c, "--output", str(t / "foreign"),
                                       "--model", str(bundle)],
        "output cannot be created": ["label", "--input", c, "--output", "/proc/nk/out",
                                     "--model", str(bundle)],
        "unknown format": label + ["--formats", "csv_bi,pdf"],
        "empty formats": label + ["--formats", ","],
        "unknown runner config": label + ["--runner_config", "no_such_runner"],
        "chunk_s zero": label + ["--chunk_s", "0"],
        "chunk_s nan": label + ["--chunk_s", "nan"],
        "chunk_s text": label + ["--chunk_s", "long"],
        "whole_max_s negative": label + ["--whole_max_s", "-5"],
        "zero batch": label + ["--p1_batch_windows", "0"],
        "negative batch": label + ["--max_batch_size", "-1"],
        "unknown device": label + ["--device", "TPU"],
        "typo flag": label + ["--fromats", "tse"],
        "unknown beam flag": label + ["--direct_num_wrkers=2"],
        "beam flag without its value": label + ["--dry_run"],
        "beam flag with a bad value": label + ["--direct_num_workers=abc"],
        "stray value": label + ["--formats", "csv_bi", "tse"],
        "evaluate stray value": ["evaluate", "--corpus", f"x={c}", "--output", o,
                                 "--thresholds", "0.5", "0.7"],
        "glob matching nothing": ["label", "--input", str(t / "*.edf"), "--output", o],
        "input that does not exist": ["label", "--input", str(t / "nope.edf"), "--output", o],
        "empty list file": ["label", "--input", str(t / "empty.list"), "--output", o],
        "featurize bad spec": ["featurize", "--input", c, "--output", o, "--feature_spec",
                               str(t / "bad_spec.json")],
        "featurize missing spec": ["featurize", "--input", c, "--output", o, "--feature_spec",
                                   str(t / "none.json")],
        "score missing ref": ["score", "--ref", str(t / "none"), "--hyp", c],
        "score unknown scorer": ["score", "--ref", c, "--hyp", c, "--scorers", "roc"],
        "score extra flag": ["score", "--ref", c, "--hyp", c, "--runner=DirectRunner"],
        "evaluate bad corpus": ["evaluate", "--corpus", "nameonly", "--output", o],
        "evaluate bad thresholds": ["evaluate", "--corpus", f"x={c}", "--output", o,
                                    "--thresholds", "0.5,2"],
        "review missing results": ["review", "--input", c, "--results", str(t / "none"),
                                   "--output", o, "--model", str(bundle)],
        "review without results": ["review", "--input", c, "--results", str(t / "foreign"),
                                   "--output", o, "--model", str(bundle)],
        "unknown command": ["relabel", "--input", c],
        "no command": [],
    }


def test_every_bad_command_line_is_one_line_and_status_2(setup, capsys):
    tmp_path, bundle = setup
    lines = _bad_lines(tmp_path, bundle)
    assert len(lines) >= 41
    for what, argv in lines.items():
        status = cli.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2, f"{what}: exit {status}"
        assert len(err) == 1 and "error:" in err[0], f"{what}: {err}"
        assert "Traceback" not in err[0]
    assert not (tmp_path / "out").exists(), "a refused run must not start"


def test_inputs_may_be_files_several_paths_and_globs(setup, tmp_path):
    root, bundle = setup
    a, b = root / "corpus/s1/a.edf", root / "corpus/s2/b.edf"
    for i, inputs in enumerate([[str(a)], [str(a), str(b)], [str(root / "corpus/*/*.edf")]]):
        out = tmp_path / f"o{i}"
        assert cli.main(["label", "--input", *inputs, "--output", str(out), "--model",
                         str(bundle), "--direct_running_mode=in_memory"]) == 0
        run = json.loads((out / "run.json").read_text())
        assert run["inputs"] == run["results"] == len(inputs if i < 2 else [a, b])


def test_dead_letters_exit_3_unless_allowed(setup, tmp_path):
    root, bundle = setup
    (root / "corpus/s3").mkdir()
    (root / "corpus/s3/broken.edf").write_bytes(b"0       " + b"x" * 300)
    argv = ["label", "--input", str(root / "corpus"), "--model", str(bundle),
            "--direct_running_mode=in_memory"]
    assert cli.main(argv + ["--output", str(tmp_path / "o1")]) == 3
    assert cli.main(argv + ["--output", str(tmp_path / "o2"), "--allow_dead_letters"]) == 0


def test_log_level_may_follow_the_subcommand(capsys):
    assert cli.main(["score", "--log-level", "DEBUG", "--ref", "none", "--hyp", "none"]) == 2
    assert "--log-level" not in capsys.readouterr().err  # parsed, not refused


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.startswith("neurokube ")
