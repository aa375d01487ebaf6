"""TFF `worker_binary` processes that this process owns and that die with it.

TFF 0.87's local C++ runtime starts its worker with ``subprocess.Popen`` and
stops it only in ``ServiceManager.__del__`` (see `tff_rec.runtime.local_cpp`),
so the worker can outlive our process and keep our stdout open. The workers
started here (by `start_worker`, and by the local C++ context for its own
worker) come with these guarantees instead:

* The worker gets ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` before ``exec`` (Linux),
  so the kernel kills it when our process dies, even by SIGKILL. The death
  signal follows the *thread* that forked the worker, so every worker is forked
  from one long-lived daemon thread owned by this module.
* Its stdin, stdout and stderr never are ours: DEVNULL, or a log file.
* It is stopped (SIGTERM, a bounded wait, then SIGKILL) by ``atexit``, by an
  unhandled exception (``sys.excepthook``) and by SIGINT / SIGTERM handlers that
  then defer to the handler that was installed before (a KeyboardInterrupt for
  SIGINT; death by SIGTERM, exit status 128 + 15, when it was the default).
* A worker that TFF's default context had already started can be stopped
  (`stop_tff_worker`), so that only workers started here run.

Example:
    from tff_rec.runtime import worker_processes

    worker = worker_processes.start_worker(8000)
    ...  # serve computations until
    worker_processes.shutdown_workers()  # optional; also happens at exit
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import tensorflow_federated as tff
from absl import logging

DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS = -1
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 5.0

_PR_SET_PDEATHSIG = 1

# Every worker this module started, in start order (dead ones included).
_workers: list[subprocess.Popen[bytes]] = []
_hooks_lock = threading.Lock()
_hooks_installed = False


def worker_binary_path() -> str:
    """Returns the path of the `worker_binary` shipped in the TFF wheel."""
    return os.path.join(os.path.dirname(tff.__file__), "data", "worker_binary")


def worker_pids(*, running_only: bool = False) -> tuple[int, ...]:
    """Returns the pids of the workers started by this module, oldest first.

    Args:
      running_only: If True, only workers that have not exited yet.
    """
    return tuple(p.pid for p in list(_workers) if not running_only or p.poll() is None)


def shutdown_workers(*, timeout: float | None = None) -> None:
    """Stops every running worker started by this module.

    Sends SIGTERM to all of them, waits up to `timeout` seconds in total, then
    sends SIGKILL to those left. A context whose worker was stopped starts a new
    one the next time it runs a computation.

    Args:
      timeout: Seconds to wait for a graceful exit. None means
        `DEFAULT_SHUTDOWN_TIMEOUT_SECONDS`.
    """
    if timeout is None:
        timeout = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    stop_processes(list(_workers), timeout)


def start_worker(
    port: int,
    *,
    max_concurrent_computation_calls: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts an owned TFF `worker_binary` serving on `port` (all interfaces).

    The worker has this module's lifetime guarantees: it dies with this
    process and is stopped by `shutdown_workers`, at exit and on SIGINT /
    SIGTERM. It serves insecure gRPC: keep the port on a private network.

    Args:
      port: TCP port, 1..65535.
      max_concurrent_computation_calls: Cap on concurrent calls of one
        computation inside the worker; nonpositive means no cap. None means
        `DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS` (-1, no cap).
      log_path: file that receives the worker's output (appended); None
        discards it.

    Returns:
      The worker process.

    Raises:
      RuntimeError: if TFF's worker binary is missing.
      ValueError: if `port` is outside 1..65535.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"port={port} is outside 1..65535")
    if max_concurrent_computation_calls is None:
        max_concurrent_computation_calls = DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS
    binary = worker_binary_path()
    if not os.path.isfile(binary):
        raise RuntimeError(f"Expected TFF's worker binary at {binary}.")
    install_hooks()
    return spawn(
        [
            binary,
            f"--port={port}",
            f"--max_concurrent_computation_calls={max_concurrent_computation_calls}",
        ],
        None if log_path is None else os.fspath(log_path),
    )


class _Spawner:
    """Forks workers from one daemon thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the forking thread exits, not the process: a
    worker forked from, e.g., the event-loop thread of a discarded TFF context
    or a short-lived caller thread would be killed early.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="tff_rec-worker-spawner", daemon=True
                )
                self._thread.start()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._requests.put((fn, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            fn, future = self._requests.get()
            try:
                future.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller.
                future.set_exception(e)


_spawner = _Spawner()


def spawn(args: list[str], log_path: str | None) -> subprocess.Popen[bytes]:
    """Starts and records a worker that dies with this process.

    Callers install the stop hooks first (`install_hooks`).

    Args:
      args: the worker's command line (`worker_binary_path` and its flags).
      log_path: file that receives the worker's stdout and stderr (appended);
        None discards them.

    Returns:
      The worker process, also listed by `worker_pids`.
    """
    preexec_fn = _die_with_parent_fn() if sys.platform.startswith("linux") else None

    def popen() -> subprocess.Popen[bytes]:
        if log_path is None:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=preexec_fn,
            )
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec_fn,
            )

    process = _spawner.run(popen)
    _workers.append(process)
    return process


def _die_with_parent_fn() -> Callable[[], None]:
    """Returns a `preexec_fn` that makes the child get SIGKILL when we die."""
    # Resolved here, in the parent: the forked child must not load libraries.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent_pid = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _reap(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Waits up to `timeout` seconds for `process` to exit; True if it did.

    Polls ``waitpid`` itself rather than calling ``Popen.wait``: a signal
    handler that stops the workers may run on top of a ``worker.wait()`` (the
    worker pipeline blocks in one), and that call holds the lock that any
    other ``Popen.wait`` or ``poll`` of the same process needs.
    """
    deadline = time.monotonic() + timeout
    while process.returncode is None:
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by another waiter, which records the status itself.
            return True
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """Stops `processes`: SIGTERM, up to `timeout` seconds in total, then SIGKILL.

    Args:
      processes: processes started by `spawn` (or by TFF); those that have
        already exited are skipped.
      timeout: seconds to wait for all of them to exit after SIGTERM.
    """
    running = [p for p in processes if p.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        if _reap(process, max(0.0, deadline - time.monotonic())):
            continue
        logging.warning("TFF worker %d ignored SIGTERM; killing it.", process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        if not _reap(process, timeout):
            logging.error("TFF worker %d survived SIGKILL.", process.pid)


def stop_tff_worker(context: object) -> None:
    """Stops the worker of a context made by TFF's local C++ factory, if any.

    TFF keeps the worker in a `ServiceManager` in the closure of the factory's
    `stack_fn`; anything else (another kind of context) is left alone.

    Args:
      context: a TFF context, e.g. the default context that ours replaces.
    """
    factory = getattr(context, "executor_factory", None)
    stack_fn = getattr(factory, "_executor_stack_fn", None)
    code = getattr(stack_fn, "__code__", None)
    if code is None or not stack_fn.__closure__:
        return
    free_vars = dict(zip(code.co_freevars, stack_fn.__closure__, strict=True))
    if "service_manager" not in free_vars:
        return
    try:
        manager = free_vars["service_manager"].cell_contents
    except ValueError:  # An empty cell.
        return
    process = getattr(manager, "_process", None)
    if isinstance(process, subprocess.Popen):
        logging.info("Stopping the worker %d started by TFF.", process.pid)
        stop_processes([process], DEFAULT_SHUTDOWN_TIMEOUT_SECONDS)
        # Its __del__ would otherwise signal a pid that may be reused by then.
        manager._process = None  # noqa: SLF001
        manager._stub = None  # noqa: SLF001


def install_hooks() -> None:
    """Installs, once per process, what stops the workers: an ``atexit`` hook,
    an unhandled-exception hook and SIGINT / SIGTERM handlers (on the main
    thread only; see the module docstring)."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(shutdown_workers)
        _chain_excepthook()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                _chain_signal_handler(signum)
        else:
            logging.warning(
                "Not on the main thread: no SIGINT/SIGTERM handlers installed; "
                "TFF workers still die with this process."
            )


def _chain_excepthook() -> None:
    previous = sys.excepthook

    def excepthook(exc_type, exc_value, traceback) -> None:
        # An interactive interpreter survives its exceptions: keep the worker.
        if not hasattr(sys, "ps1"):
            shutdown_workers()
        previous(exc_type, exc_value, traceback)

    sys.excepthook = excepthook


def _chain_signal_handler(signum: int) -> None:
    previous = signal.getsignal(signum)
    if previous in (signal.SIG_IGN, None):
        # Ignored (e.g. SIGINT of a background job) or set outside Python.
        return

    def handler(received: int, frame) -> None:
        shutdown_workers()
        if callable(previous):
            previous(received, frame)
            return
        # SIG_DFL: die of the signal itself, so the exit status stays 128 + n.
        signal.signal(received, signal.SIG_DFL)
        os.kill(os.getpid(), received)
        os._exit(128 + received)

    signal.signal(signum, handler)
