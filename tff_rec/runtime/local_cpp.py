"""TFF's local C++ execution context, with a worker process that we own.

How TFF 0.87 runs the worker: ``import tensorflow_federated`` calls
``tff.backends.native.set_sync_local_cpp_execution_context()``
(``core/backends/native/execution_contexts.py``), which wraps
``executor_factory.local_cpp_executor_factory`` (in
``core/impl/executor_stacks/executor_factory.py``) in a ``SyncExecutionContext``.
That factory starts nothing at import: its ``stack_fn``, run the first time a
computation is invoked, asks a closure-local ``ServiceManager`` for a gRPC stub,
and ``ServiceManager.get_stub`` launches ``start_process()``:
``subprocess.Popen([.../data/worker_binary, --port=P, ...], stdout=sys.stdout,
stderr=sys.stderr)``. The only stop is ``ServiceManager.__del__`` (SIGINT, then
an unbounded ``wait()``), which does not run when the interpreter is killed and
often not at exit either. The orphaned worker keeps our stdout pipe open, so
``python run.py | cat`` never ends.

The route taken here: keep every TFF piece above the process launch and
replace only the launch. TFF's factory hides ``start_process`` inside a closure,
so there is no narrow hook to patch; instead this module builds the same stack
from TFF's public parts, exactly as ``local_cpp_executor_factory`` does
(``tff.framework.RemoteExecutorGrpcStub`` -> ``tff.framework.RemoteExecutor``
-> ``tff.framework.ResourceManagingExecutorFactory`` ->
``tff.framework.SyncExecutionContext`` with the native compiler and the
TensorFlow argument transforms), with the stub pointed at a worker that this
module starts and tracks:

* The worker gets ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` before ``exec`` (Linux),
  so the kernel kills it when our process dies, even by SIGKILL. The death
  signal follows the *thread* that forked the worker, so every worker is forked
  from one long-lived daemon thread owned by this module.
* Its stdin, stdout and stderr never are ours: DEVNULL, or a log file.
* It is stopped (SIGTERM, a bounded wait, then SIGKILL) by ``atexit``, by an
  unhandled exception (``sys.excepthook``) and by SIGINT / SIGTERM handlers that
  then defer to the handler that was installed before (a KeyboardInterrupt for
  SIGINT; death by SIGTERM, exit status 128 + 15, when it was the default).
* A worker that TFF's default context had already started is stopped when our
  context is installed, so afterwards only workers started here run.

Example:
    from tff_rec.runtime import local_cpp

    local_cpp.set_local_cpp_execution_context()
    ...  # invoke TFF computations as usual
    local_cpp.shutdown_workers()  # optional; also happens at exit
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

import grpc
import portpicker
import tensorflow_federated as tff
from absl import logging

DEFAULT_NUM_CLIENTS = 0
DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS = -1
DEFAULT_STARTUP_TIMEOUT_SECONDS = 60.0
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 5.0

# Same gRPC options as TFF's own local context.
_GRPC_MAX_MESSAGE_LENGTH_BYTES = 2 * 1000 * 1000 * 1000
GRPC_CHANNEL_OPTIONS = (
    ("grpc.max_message_length", _GRPC_MAX_MESSAGE_LENGTH_BYTES),
    ("grpc.max_receive_message_length", _GRPC_MAX_MESSAGE_LENGTH_BYTES),
    ("grpc.max_send_message_length", _GRPC_MAX_MESSAGE_LENGTH_BYTES),
)
_READY_POLL_SECONDS = 0.05
# A worker that exits during startup most likely lost its port to another
# process between portpicker's check and its bind: retry on a new port.
_START_ATTEMPTS = 3
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
    _stop_processes(list(_workers), timeout)


def start_worker(
    port: int,
    *,
    max_concurrent_computation_calls: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts an owned TFF `worker_binary` serving on `port` (all interfaces).

    The worker gets the same lifetime guarantees as the local context's: it
    dies with this process and is stopped by `shutdown_workers`, at exit and
    on SIGINT / SIGTERM. It serves insecure gRPC: keep the port on a private
    network.

    Args:
      port: TCP port, 1..65535.
      max_concurrent_computation_calls: see
        `create_local_cpp_execution_context`.
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
    _install_hooks()
    return _spawn(
        [
            binary,
            f"--port={port}",
            f"--max_concurrent_computation_calls={max_concurrent_computation_calls}",
        ],
        None if log_path is None else os.fspath(log_path),
    )


def native_compiler(simulate_secure_aggregation: bool = False):
    """TFF's native compiler, after replacing secure intrinsics if asked.

    Args:
      simulate_secure_aggregation: replace each secure intrinsic by its
        insecure body with the same bounds and modular arithmetic, as TFF's
        test backend does (TFF's C++ runtime cannot execute them).
    """
    if not simulate_secure_aggregation:
        return tff.backends.native.desugar_and_transform_to_native

    def compile_secure(comp):
        comp = tff.backends.test.replace_secure_intrinsics_with_bodies(comp)
        return tff.backends.native.desugar_and_transform_to_native(comp)

    return compile_secure


def create_local_cpp_execution_context(
    *,
    default_num_clients: int | None = None,
    max_concurrent_computation_calls: int | None = None,
    stream_structs: bool = False,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float | None = None,
    simulate_secure_aggregation: bool = False,
) -> tff.framework.SyncExecutionContext:
    """Returns a sync local C++ execution context running an owned worker.

    Equivalent to `tff.backends.native.create_sync_local_cpp_execution_context`
    except for the worker's lifetime and output (see the module docstring).
    The worker is started now; the first computation waits until it serves.
    Installs the process-wide exit and signal hooks on first use.

    Args:
      default_num_clients: Number of clients when it cannot be inferred from a
        computation's arguments. None means `DEFAULT_NUM_CLIENTS` (0).
      max_concurrent_computation_calls: Cap on concurrent calls of one
        computation inside the worker; nonpositive means no cap. None means
        `DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS` (-1, no cap).
      stream_structs: Whether to decompose and stream struct values.
      log_path: File that receives the worker's stdout and stderr (appended).
        None discards them. TFF imports JAX, which sets TF_CPP_MIN_LOG_LEVEL=1
        when unset, so the worker logs warnings and errors only.
      startup_timeout: Seconds to wait for a new worker to accept connections.
        None means `DEFAULT_STARTUP_TIMEOUT_SECONDS`.
      simulate_secure_aggregation: TFF's local runtime cannot execute secure
        summation intrinsics (``federated_secure_sum_bitwidth``...). If True,
        computations are compiled as TFF's test backend does: each secure
        intrinsic is replaced by its insecure body with the same bounds and
        modular arithmetic, which gives the same results as a real secure sum.

    Returns:
      A `tff.framework.SyncExecutionContext`.

    Raises:
      RuntimeError: If TFF's worker binary is missing.
      ValueError: If `default_num_clients` is negative or `startup_timeout` is
        not positive.
    """
    if default_num_clients is None:
        default_num_clients = DEFAULT_NUM_CLIENTS
    if max_concurrent_computation_calls is None:
        max_concurrent_computation_calls = DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS
    if startup_timeout is None:
        startup_timeout = DEFAULT_STARTUP_TIMEOUT_SECONDS
    if default_num_clients < 0:
        raise ValueError(
            f"default_num_clients={default_num_clients} is negative; "
            "expected an integer >= 0."
        )
    if startup_timeout <= 0:
        raise ValueError(
            f"startup_timeout={startup_timeout} is not positive; expected "
            "seconds > 0."
        )
    binary = worker_binary_path()
    if not os.path.isfile(binary):
        raise RuntimeError(f"Expected TFF's worker binary at {binary}.")

    _install_hooks()
    service = _WorkerService(
        binary=binary,
        max_concurrent_computation_calls=max_concurrent_computation_calls,
        log_path=None if log_path is None else os.fspath(log_path),
        startup_timeout=startup_timeout,
    )
    service.start()

    def executor_stack_fn(cardinalities):
        if cardinalities.get(tff.CLIENTS) is None:
            cardinalities[tff.CLIENTS] = default_num_clients
        executor = tff.framework.RemoteExecutor(
            service.get_stub(), stream_structs=stream_structs
        )
        executor.set_cardinalities(cardinalities)
        return executor

    return tff.framework.SyncExecutionContext(
        executor_fn=tff.framework.ResourceManagingExecutorFactory(
            executor_stack_fn=executor_stack_fn
        ),
        compiler_fn=native_compiler(simulate_secure_aggregation),
        transform_args=tff.tensorflow.transform_args,
        transform_result=tff.tensorflow.transform_result,
    )


def set_local_cpp_execution_context(
    *,
    default_num_clients: int | None = None,
    max_concurrent_computation_calls: int | None = None,
    stream_structs: bool = False,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float | None = None,
    simulate_secure_aggregation: bool = False,
) -> tff.framework.SyncExecutionContext:
    """Installs an owned-worker local C++ context as TFF's default context.

    Replaces what `tff.backends.native.set_sync_local_cpp_execution_context()`
    (run by `import tensorflow_federated`) installed, and stops the worker that
    context had started, if any. Like TFF's, the default context is per thread:
    call this in the thread that invokes computations.

    Args:
      default_num_clients: See `create_local_cpp_execution_context`.
      max_concurrent_computation_calls: See
        `create_local_cpp_execution_context`.
      stream_structs: See `create_local_cpp_execution_context`.
      log_path: See `create_local_cpp_execution_context`.
      startup_timeout: See `create_local_cpp_execution_context`.
      simulate_secure_aggregation: See `create_local_cpp_execution_context`.

    Returns:
      The installed context.

    Raises:
      RuntimeError: If TFF's worker binary is missing.
      ValueError: On invalid arguments (see
        `create_local_cpp_execution_context`).
    """
    context = create_local_cpp_execution_context(
        default_num_clients=default_num_clients,
        max_concurrent_computation_calls=max_concurrent_computation_calls,
        stream_structs=stream_structs,
        log_path=log_path,
        startup_timeout=startup_timeout,
        simulate_secure_aggregation=simulate_secure_aggregation,
    )
    install_stopping_tff_worker(context)
    return context


def install_stopping_tff_worker(context: tff.framework.SyncContext) -> None:
    """Installs `context` as the default context and stops the worker that
    TFF's own default context had started, if any (see `_stop_tff_worker`)."""
    previous = tff.framework.get_context_stack().current
    tff.framework.set_default_context(context)
    _stop_tff_worker(previous)


class _WorkerService:
    """One owned worker and a gRPC stub for it, restarted when it is down."""

    def __init__(
        self,
        *,
        binary: str,
        max_concurrent_computation_calls: int,
        log_path: str | None,
        startup_timeout: float,
    ):
        self._binary = binary
        self._max_calls = max_concurrent_computation_calls
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: tff.framework.RemoteExecutorGrpcStub | None = None
        self._ready = False

    def start(self) -> None:
        """Launches a worker without waiting for it to serve."""
        with self._lock:
            self._launch()

    def get_stub(self) -> tff.framework.RemoteExecutorGrpcStub:
        """Returns a stub of a serving worker, (re)starting one if needed."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._launch()
            elif self._ready:
                # An idle channel reconnects on its next call; TFF's own
                # manager restarts the worker here instead.
                return self._stub
            for attempt in range(1, _START_ATTEMPTS + 1):
                if self._wait_until_ready():
                    self._ready = True
                    return self._stub
                if attempt < _START_ATTEMPTS:
                    logging.warning(
                        "TFF worker %d exited during startup (status %s); "
                        "restarting it.",
                        self._process.pid,
                        self._process.returncode,
                    )
                    self._launch()
            raise RuntimeError(
                f"TFF worker_binary exited during startup {_START_ATTEMPTS} "
                f"times (last status {self._process.returncode}); "
                f"log: {self._log_path or 'discarded (pass log_path)'}."
            )

    def _launch(self) -> None:
        if self._process is not None:
            _stop_processes([self._process], DEFAULT_SHUTDOWN_TIMEOUT_SECONDS)
        if self._channel is not None:
            self._channel.close()
        port = portpicker.pick_unused_port()
        args = [
            self._binary,
            f"--port={port}",
            f"--max_concurrent_computation_calls={self._max_calls}",
        ]
        self._process = _spawn(args, self._log_path)
        logging.info("Started TFF worker %d on port %d.", self._process.pid, port)
        self._channel = grpc.insecure_channel(
            f"localhost:{port}", options=GRPC_CHANNEL_OPTIONS
        )
        self._stub = tff.framework.RemoteExecutorGrpcStub(self._channel)
        self._ready = False

    def _wait_until_ready(self) -> bool:
        """Returns False if the worker exits first; raises on timeout."""
        deadline = time.monotonic() + self._startup_timeout
        while not self._stub.is_ready:
            if self._process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                pid = self._process.pid
                _stop_processes([self._process], DEFAULT_SHUTDOWN_TIMEOUT_SECONDS)
                raise RuntimeError(
                    f"TFF worker {pid} did not serve within "
                    f"{self._startup_timeout} s (startup_timeout)."
                )
            time.sleep(_READY_POLL_SECONDS)
        return True


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


def _spawn(args: list[str], log_path: str | None) -> subprocess.Popen[bytes]:
    """Starts and records a worker that dies with this process."""
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


def _stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM, up to `timeout` seconds in total, then SIGKILL."""
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


def _stop_tff_worker(context: object) -> None:
    """Stops the worker of a context made by TFF's local C++ factory, if any.

    TFF keeps the worker in a `ServiceManager` in the closure of the factory's
    `stack_fn`; anything else (another kind of context) is left alone.
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
        _stop_processes([process], DEFAULT_SHUTDOWN_TIMEOUT_SECONDS)
        # Its __del__ would otherwise signal a pid that may be reused by then.
        manager._process = None  # noqa: SLF001
        manager._stub = None  # noqa: SLF001


def _install_hooks() -> None:
    """Stops the workers at exit, on unhandled exceptions, SIGINT and SIGTERM."""
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
