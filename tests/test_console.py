"""The stderr filter of ``quiet``: framework noise goes, the user's lines and real errors stay."""
import subprocess
import sys

from neurokube.pipelines.console import _StderrFilter

# As Beam's SDK worker printed it when a stream was stopped with Ctrl-C (paths shortened).
WORKER_TRACEBACK = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/sdk_worker.py", line 310, in _execute
    response = task()
               ^^^^^^
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/sdk_worker.py", line 596, in release
    self.active_bundle_processors.pop(instruction_id))
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 'bundle_1421'
""".splitlines() + [""]

OWN_TRACEBACK = """Traceback (most recent call last):
  File "/repo/neurokube/pipelines/label_job.py", line 12, in run
    raise ValueError("bad")
ValueError: bad""".splitlines()


def _shown(lines):
    lines_filter = _StderrFilter()
    shown = [out for line in lines for out in lines_filter.feed(line)]
    return shown + lines_filter.finish()


def test_the_worker_copy_of_a_traceback_and_its_blank_line_are_dropped():
    assert _shown(WORKER_TRACEBACK + ["stream stopped by the user"]) == [
        "stream stopped by the user"]


def test_other_tracebacks_noise_and_plain_lines():
    lines = (["labelling 3 recordings", "I0000 00:00:1700000000.0  123 cuda.cc:1] x",
              "WARNING:apache_beam.runners:slow"] + OWN_TRACEBACK + [""])
    assert _shown(lines) == ["labelling 3 recordings"] + OWN_TRACEBACK + [""]


def test_a_traceback_cut_off_at_the_end_is_still_shown():
    assert _shown(OWN_TRACEBACK[:2]) == OWN_TRACEBACK[:2]


def test_quiet_filters_descriptor_2_and_restores_it():
    script = (
        "import os, sys\n"
        "from neurokube.pipelines.console import quiet\n"
        "with quiet('WARNING'):\n"
        f"    os.write(2, {repr(chr(10).join(WORKER_TRACEBACK))}.encode() + b'\\nkept\\n')\n"
        "    print('W0000 00:00:1.0  1 x.cc:1] noise', file=sys.stderr)\n"
        "    print('mine', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "kept\nmine\nafter\n"
