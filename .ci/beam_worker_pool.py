"""A Beam Python SDK worker pool (the FlinkRunner's EXTERNAL environment) that several
Flink TaskManagers on ONE host can share.

    python .ci/beam_worker_pool.py --service_port=50000 [--exit_with_pid PID]

Beam's own pool, ``python -m apache_beam.runners.worker.worker_pool_main``, is right when
each TaskManager has its own pool (the sidecar of runner_configs/k8s/flink-deployment.yaml).
Shared by two TaskManagers it breaks jobs: it files its workers by worker id, but every
TaskManager JVM numbers its SDK workers the same way ("1-1", "2-1", ...: Beam 2.62's
DefaultJobBundleFactory counts per JVM), so the StopWorker("2-1") of the TaskManager
that finishes a stage first kills the other TaskManager's worker "2-1". Seen with
``neurokube label`` on the 2-TaskManager cluster of .ci/flink_session_cluster.sh: the job
failed with "CANCELLED: client cancelled" (the worker was killed mid-stage, 0.1 s after
the other TaskManager closed its "1-1") or with "No client connected within timeout"
after 3 minutes (killed before it connected).

This pool starts each worker as Beam's pool does, a new process running
``SdkHarness(control_endpoint, worker_id=...)`` (with this Python rather than the
``python`` on PATH), but ignores StopWorker: a worker exits by itself once its TaskManager
closes its control connection (after each job here, none was left running). The pool
stops every worker it started when it exits (SIGTERM, SIGINT), and exits when the process
``--exit_with_pid`` names has exited.
"""
import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import traceback

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import (BeamFnExternalWorkerPoolServicer,
                                                         kill_process_gracefully)
from apache_beam.utils import thread_pool_executor

_LOGGER = logging.getLogger("beam_worker_pool")


class SharedHostWorkerPool(BeamFnExternalWorkerPoolServicer):
    """Beam's worker pool servicer, with workers kept in a list instead of by worker id."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._workers: list[subprocess.Popen] = []

    def StartWorker(self, request, unused_context):
        command = [
            sys.executable, "-c",
            "from apache_beam.runners.worker.sdk_worker import SdkHarness; "
            f"SdkHarness({request.control_endpoint.url!r}, worker_id={request.worker_id!r}, "
            f"state_cache_size={self._state_cache_size:d}, "
            f"data_buffer_time_limit_ms={self._data_buffer_time_limit_ms:d}).run()"]
        try:
            worker = subprocess.Popen(command, stdin=subprocess.DEVNULL, close_fds=True)
        except OSError:
            return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())
        _LOGGER.info("started worker %s (pid %d) for control endpoint %s",
                     request.worker_id, worker.pid, request.control_endpoint.url)
        with self._lock:
            self._workers = [w for w in self._workers if w.poll() is None] + [worker]
        return beam_fn_api_pb2.StartWorkerResponse()

    def StopWorker(self, request, unused_context):
        # Worker ids repeat across TaskManagers: the id cannot say whose worker to stop.
        with self._lock:
            self._workers = [w for w in self._workers if w.poll() is None]
        return beam_fn_api_pb2.StopWorkerResponse()

    def stop_all(self):
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker.poll() is None:
                kill_process_gracefully(worker, timeout=5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service_port", type=int, required=True,
                        help="port of the worker pool service (the EXTERNAL "
                             "environment_config is localhost:PORT)")
    parser.add_argument("--bind", default="localhost",
                        help="address to listen on (default localhost; Beam's pool: [::])")
    parser.add_argument("--exit_with_pid", type=int, default=None,
                        help="exit (stopping all workers) once this process has exited")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # As BeamFnExternalWorkerPoolServicer.start, keeping hold of the servicer.
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.http2.max_pings_without_data", 0),
                                  ("grpc.http2.max_ping_strikes", 0)])
    port = server.add_insecure_port(f"{args.bind}:{args.service_port}")
    pool = SharedHostWorkerPool(use_process=True, state_cache_size=0,
                                data_buffer_time_limit_ms=-1)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _LOGGER.info("worker pool listening at %s:%d (pid %d)", args.bind, port, os.getpid())
    while not stop.wait(1.0):
        if args.exit_with_pid and not _alive(args.exit_with_pid):
            _LOGGER.info("process %d has exited: stopping", args.exit_with_pid)
            break
    server.stop(0)
    pool.stop_all()
    _LOGGER.info("worker pool stopped")
    return 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
