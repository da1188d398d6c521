"""The stderr filter of ``quiet``: framework noise goes, the user's lines and real errors stay."""
import subprocess
import sys

from neurokube.pipelines.console import _StderrFilter

# As Beam's SDK worker printed it when a stream was stopped with Ctrl-C (paths shortened).
RELEASE_TRACEBACK = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/sdk_worker.py", line 310, in _execute
    response = task()
               ^^^^^^
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/sdk_worker.py", line 596, in release
    self.active_bundle_processors.pop(instruction_id))
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 'bundle_1421'
""".splitlines() + [""]

WORKER_FAILURE = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/data_plane.py", line 9, in run
    raise RuntimeError("stream lost")
RuntimeError: stream lost""".splitlines()

OWN_TRACEBACK = """Traceback (most recent call last):
  File "/repo/neurokube/pipelines/label_job.py", line 12, in run
    raise ValueError("bad")
ValueError: bad""".splitlines()

# As a Flink job's SDK worker printed it at the end of a successful run (paths shortened).
HANGUP_TRACEBACK = """Exception in thread read_grpc_client_inputs:
Traceback (most recent call last):
  File "/p/lib/python3.11/threading.py", line 1045, in _bootstrap_inner
    self.run()
  File "/v/lib/python3.11/site-packages/apache_beam/runners/worker/data_plane.py", line 764, in _read_inputs
    for elements in elements_iterator:
  File "/v/lib/python3.11/site-packages/grpc/_channel.py", line 965, in _next
    raise self
grpc._channel._MultiThreadedRendezvous: <_MultiThreadedRendezvous of RPC that terminated with:
	status = StatusCode.CANCELLED
	details = "Multiplexer hanging up"
	debug_error_string = "CANCELLED:Multiplexer hanging up"
>""".splitlines()

STOPPED = "stream stopped by the user"


def _shown(lines, ending="\n"):
    lines_filter = _StderrFilter()
    shown = [out for line in lines for out in lines_filter.feed((line + ending).encode())]
    return [line.decode().rstrip("\r\n") for line in shown + lines_filter.finish()]


def test_the_released_bundle_traceback_and_its_blank_line_are_dropped():
    assert _shown(RELEASE_TRACEBACK + [STOPPED]) == [STOPPED]
    assert _shown(RELEASE_TRACEBACK + [STOPPED], ending="\r\n") == [STOPPED]


def test_other_tracebacks_noise_and_plain_lines():
    lines = (["labelling 3 recordings", "I0000 00:00:1700000000.0  123 cuda.cc:1] x",
              "WARNING:apache_beam.runners:slow"] + OWN_TRACEBACK + [""] + WORKER_FAILURE)
    assert _shown(lines) == ["labelling 3 recordings"] + OWN_TRACEBACK + [""] + WORKER_FAILURE


def test_a_line_written_into_a_traceback_is_never_lost():
    mixed = RELEASE_TRACEBACK[:3] + [STOPPED] + RELEASE_TRACEBACK[3:]
    assert STOPPED in _shown(mixed)


def test_a_traceback_cut_off_at_the_end_is_still_shown():
    assert _shown(OWN_TRACEBACK[:2]) == OWN_TRACEBACK[:2]


def test_lines_pass_as_the_bytes_they_were_written():
    lines_filter = _StderrFilter()
    assert lines_filter.feed(b"caf\xe9 \xff\n") == [b"caf\xe9 \xff\n"]


def _run(script):
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_quiet_filters_descriptor_2_and_restores_it():
    stderr = _run(
        "import os, sys\n"
        "from neurokube.pipelines.console import quiet\n"
        "with quiet('WARNING'):\n"
        f"    os.write(2, {repr(chr(10).join(RELEASE_TRACEBACK))}.encode() + b'\\nkept\\n')\n"
        "    print('W0000 00:00:1.0  1 x.cc:1] noise', file=sys.stderr)\n"
        "    print('mine', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n")
    assert stderr == "kept\nmine\nafter\n"


def test_a_late_writer_never_reaches_a_file_opened_after_quiet(tmp_path):
    """A process that outlives the block keeps the pipe open; what it writes later goes to
    the terminal, not into whatever file reuses a closed descriptor number."""
    target = tmp_path / "summary.txt"
    stderr = _run(
        "import subprocess, time\n"
        "from neurokube.pipelines.console import quiet\n"
        "with quiet('WARNING'):\n"
        "    child = subprocess.Popen(['sh', '-c', 'sleep 6; echo late >&2'])\n"
        f"with open({str(target)!r}, 'w') as f:\n"
        "    f.write('summary\\n'); f.flush(); child.wait(); time.sleep(0.5)\n")
    assert target.read_text() == "summary\n"
    assert stderr == "late\n"


def test_the_flink_data_channel_hangup_is_dropped_other_grpc_errors_are_not():
    table = "labelled 4 of 4 recordings"
    assert _shown(HANGUP_TRACEBACK + HANGUP_TRACEBACK[1:] + [table]) == [table]
    lost = [line.replace("CANCELLED", "UNAVAILABLE").replace("Multiplexer hanging up",
                                                             "Socket closed")
            for line in HANGUP_TRACEBACK]
    assert _shown(lost + [table]) == lost + [table]
    # A thread header without a traceback, and a line written into the gRPC error.
    assert _shown(["Exception in thread x:", table]) == ["Exception in thread x:", table]
    cut = HANGUP_TRACEBACK[:10] + [table] + HANGUP_TRACEBACK[10:]
    assert table in _shown(cut)
    assert _shown(HANGUP_TRACEBACK[:11]) == HANGUP_TRACEBACK[:11]  # cut off: shown
    # Worker log lines (noise) written into it, as the worker's threads do.
    log = "INFO apache_beam.runners.worker.sdk_worker: Done consuming work."
    assert _shown(HANGUP_TRACEBACK[:3] + [log, log] + HANGUP_TRACEBACK[3:] + [table]) == [table]
    assert _shown(OWN_TRACEBACK[:2] + [log] + OWN_TRACEBACK[2:]) == OWN_TRACEBACK


def test_closing_table_lists_twenty_recordings_and_counts_the_rest(tmp_path):
    """A run of 25 recordings, one a dead letter (no result): 20 rows, then how many
    recordings the table leaves out."""
    import io
    import types

    from neurokube.core.formats import Annotation, Event, write_annotation
    from neurokube.core.paths import output_path
    from neurokube.pipelines.console import print_results_table
    from neurokube.pipelines.label_job import result_rows
    sources = [types.SimpleNamespace(name=f"r{i:02d}.edf") for i in range(25)]
    for i, source in enumerate(sources):
        if i != 3:
            events = (Event(2.0, 7.0, "seiz", 0.9),) if i == 0 else ()
            write_annotation(Annotation(f"r{i:02d}", 60.0, events),
                             output_path(tmp_path, source.name, ".csv_bi"), "csv_bi")
    rows, unlisted = result_rows(str(tmp_path), sources)
    assert [r["name"] for r in rows] == [s.name for s in sources[:21] if s.name != "r03.edf"]
    assert unlisted == 4
    assert rows[0] == {"name": "r00.edf", "duration_s": 60.0, "events": 1, "seizure_s": 5.0}
    out = io.StringIO()
    print_results_table(rows, unlisted, stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 22
    assert lines[-1] == "... and 4 more recordings (see run.json and the report)"
    few = io.StringIO()
    print_results_table(*result_rows(str(tmp_path), sources[:5]), stream=few)
    assert len(few.getvalue().splitlines()) == 5 and "more" not in few.getvalue()
