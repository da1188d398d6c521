"""The same small pipeline on the FlinkRunner (job server's embedded Flink cluster,
LOOPBACK SDK harness) and on the DirectRunner writes byte-identical files.

The pipeline stands in for ``neurokube label``: one element per input file (coarse
elements), NumPy inside the element, a shuffle (GroupByKey) and outputs written to a
temporary name and renamed into place. Runner flags come from ``runner_configs/``
(``flink_local`` and ``direct``) through ``resolve_beam_args``.
"""
import filecmp
import hashlib
import os
import time
import uuid
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.pipelines.runner_config import resolve_beam_args

try:
    from flink_support import flink_job_server_jar  # noqa: F401  (pytest fixture)
except ImportError:  # tests/ imported as a package
    from tests.flink_support import flink_job_server_jar  # noqa: F401

N_FILES = 6
N_SAMPLES = 512
FS_HZ = 256.0


def _fmt(x: float) -> str:
    return format(float(x), ".17g")


def load_signal(path):
    """Read one text "recording": one sample a line. Returns (name, samples)."""
    with FileSystems.open(path) as f:
        samples = np.loadtxt(f, dtype=np.float64, ndmin=1)
    return Path(path).stem, samples


def band_power(element):
    """Mean power in 4 frequency bands (NumPy, vectorised over the recording)."""
    name, x = element
    spectrum = np.abs(np.fft.rfft(x - x.mean())) ** 2 / x.size
    freqs_hz = np.fft.rfftfreq(x.size, d=1.0 / FS_HZ)
    edges_hz = [(0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0)]
    powers = [float(spectrum[(freqs_hz >= lo) & (freqs_hz < hi)].mean()) for lo, hi in edges_hz]
    return name, {"n_samples": int(x.size), "rms": float(np.sqrt(np.mean(x ** 2))),
                  "band_power": powers}


def _write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    directory, base = os.path.split(path)
    tmp = FileSystems.join(directory, f".{base}.tmp-{uuid.uuid4().hex}")
    with FileSystems.create(tmp) as f:
        f.write(data)
    FileSystems.rename([tmp], [path])


class WriteRecord(beam.DoFn):
    """Writes ``records/<name>.csv`` for one recording; emits (bucket, summary line)."""

    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element):
        name, feats = element
        lines = [f"n_samples,{feats['n_samples']}", f"rms,{_fmt(feats['rms'])}"]
        lines += [f"band_{i},{_fmt(p)}" for i, p in enumerate(feats["band_power"])]
        _write_atomically(FileSystems.join(self._output_dir, "records", f"{name}.csv"),
                          ("\n".join(lines) + "\n").encode())
        yield int(name.rsplit("_", 1)[1]) % 2, f"{name},{_fmt(feats['rms'])}"


class WriteSummary(beam.DoFn):
    """Writes ``summary_<bucket>.csv`` with its lines sorted (order-independent)."""

    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element):
        bucket, lines = element
        _write_atomically(FileSystems.join(self._output_dir, f"summary_{bucket}.csv"),
                          ("\n".join(sorted(lines)) + "\n").encode())
        yield bucket


def build_pipeline(p, input_paths, output_dir):
    """Wire the stand-in pipeline onto ``p``; returns the written buckets."""
    return (p
            | "Paths" >> beam.Create(sorted(input_paths))
            | "Load" >> beam.Map(load_signal)
            | "BandPower" >> beam.Map(band_power)
            | "WriteRecords" >> beam.ParDo(WriteRecord(output_dir))
            | "ByBucket" >> beam.GroupByKey()
            | "WriteSummaries" >> beam.ParDo(WriteSummary(output_dir)))


def run_pipeline(beam_argv, input_paths, output_dir) -> float:
    """Run the pipeline to completion; return the wall time in seconds."""
    os.makedirs(os.path.join(output_dir, "records"), exist_ok=True)
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_argv)) as p:
        build_pipeline(p, input_paths, output_dir)
    return time.perf_counter() - start


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(20240601)
    paths = []
    t_s = np.arange(N_SAMPLES) / FS_HZ
    for i in range(N_FILES):
        x = np.sin(2 * np.pi * (3 + 4 * i) * t_s) + 0.1 * rng.standard_normal(N_SAMPLES)
        path = tmp_path / "in" / f"rec_{i:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        np.savetxt(path, x, fmt="%.9f")
        paths.append(str(path))
    return paths


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.flink
def test_flink_output_identical_to_direct(corpus, tmp_path, flink_job_server_jar,
                                          monkeypatch, record_property):
    # The multi-processing DirectRunner's workers import this module by name.
    # (``test_flink_runner`` or ``tests.test_flink_runner``, per pytest's import mode).
    here = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(here), str(here.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    direct_out, flink_out = tmp_path / "direct", tmp_path / "flink"

    direct_argv = resolve_beam_args("direct", ["--direct_num_workers=2"])
    assert "--direct_running_mode=multi_processing" in direct_argv
    direct_s = run_pipeline(direct_argv, corpus, str(direct_out))

    flink_argv = resolve_beam_args("flink_local",
                                   [f"--flink_job_server_jar={flink_job_server_jar}"])
    assert "--runner=FlinkRunner" in flink_argv
    assert "--environment_type=LOOPBACK" in flink_argv
    assert "--flink_master=[local]" in flink_argv
    flink_s = run_pipeline(flink_argv, corpus, str(flink_out))
    record_property("flink_wall_s", round(flink_s, 1))
    record_property("direct_wall_s", round(direct_s, 1))
    print(f"\nFlinkRunner (job server start + embedded cluster + run): {flink_s:.1f} s; "
          f"DirectRunner multi_processing: {direct_s:.1f} s")

    expected = {"summary_0.csv", "summary_1.csv"} | {
        f"records/rec_{i:02d}.csv" for i in range(N_FILES)}
    direct_tree, flink_tree = _tree(direct_out), _tree(flink_out)
    assert set(direct_tree) == expected, "no temporary files may be left behind"
    assert flink_tree == direct_tree
    for rel in expected:
        assert filecmp.cmp(direct_out / rel, flink_out / rel, shallow=False), rel

    # And the content is right, not just equal: recompute one record here.
    name, feats = band_power(load_signal(corpus[3]))
    text = (flink_out / "records" / f"{name}.csv").read_text()
    assert f"rms,{_fmt(feats['rms'])}" in text
    # 3 + 4*3 = 15 Hz sine: its power lies in the 13-30 Hz band.
    assert int(np.argmax(feats["band_power"])) == 3
    summary = (flink_out / "summary_1.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in summary] == ["rec_01", "rec_03", "rec_05"]
