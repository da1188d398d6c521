"""The benchmark scripts still run against today's code (they are not imported elsewhere)."""
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_gpu_check_saves_and_compares_posteriors(tmp_path):
    script = [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--hours", "0.02",
              "--repeats", "1"]
    saved = subprocess.run(script + ["--save", str(tmp_path / "expected.npz")],
                           capture_output=True, text=True, timeout=600)
    assert saved.returncode == 0, saved.stderr[-2000:]
    assert "0.02 EEG-hours (22 channels)" in saved.stdout
    again = subprocess.run(script + ["--expected", str(tmp_path / "expected.npz")],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "(OK at 1e-4)" in again.stdout, again.stdout
