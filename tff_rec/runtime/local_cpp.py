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
TensorFlow argument transforms), with the stub pointed at a worker started by
`tff_rec.runtime.worker_processes`: it dies with this process, never holds our
stdout, and is stopped at exit, on unhandled exceptions and on SIGINT /
SIGTERM. A worker that TFF's default context had already started is stopped
when our context is installed, so afterwards only workers started here run.

Example:
    from tff_rec.runtime import local_cpp
    from tff_rec.runtime import worker_processes

    local_cpp.set_local_cpp_execution_context()
    ...  # invoke TFF computations as usual
    worker_processes.shutdown_workers()  # optional; also happens at exit
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import grpc
import portpicker
import tensorflow_federated as tff
from absl import logging

from tff_rec.runtime import worker_processes

DEFAULT_NUM_CLIENTS = 0
DEFAULT_STARTUP_TIMEOUT_SECONDS = 60.0

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
    except for the worker's lifetime and output, which are those of
    `tff_rec.runtime.worker_processes` (see the module docstring).
    The worker is started now; the first computation waits until it serves.
    Installs the process-wide exit and signal hooks on first use.

    Args:
      default_num_clients: Number of clients when it cannot be inferred from a
        computation's arguments. None means `DEFAULT_NUM_CLIENTS` (0).
      max_concurrent_computation_calls: Cap on concurrent calls of one
        computation inside the worker; nonpositive means no cap. None means
        `worker_processes.DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS` (-1, no cap).
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
        max_concurrent_computation_calls = (
            worker_processes.DEFAULT_MAX_CONCURRENT_COMPUTATION_CALLS
        )
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
    binary = worker_processes.worker_binary_path()
    if not os.path.isfile(binary):
        raise RuntimeError(f"Expected TFF's worker binary at {binary}.")

    worker_processes.install_hooks()
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
    TFF's own default context had started, if any (see
    `worker_processes.stop_tff_worker`)."""
    previous = tff.framework.get_context_stack().current
    tff.framework.set_default_context(context)
    worker_processes.stop_tff_worker(previous)


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
            worker_processes.stop_processes(
                [self._process], worker_processes.DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
            )
        if self._channel is not None:
            self._channel.close()
        port = portpicker.pick_unused_port()
        args = [
            self._binary,
            f"--port={port}",
            f"--max_concurrent_computation_calls={self._max_calls}",
        ]
        self._process = worker_processes.spawn(args, self._log_path)
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
                worker_processes.stop_processes(
                    [self._process], worker_processes.DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
                )
                raise RuntimeError(
                    f"TFF worker {pid} did not serve within "
                    f"{self._startup_timeout} s (startup_timeout)."
                )
            time.sleep(_READY_POLL_SECONDS)
        return True
