"""Chooses and installs the execution context that runs TFF computations.

One call picks among the runtimes of this package and installs it as TFF's
default context: the in-process runner (`tff_rec.runtime.inprocess`), TFF's
C++ runtime on a worker process this process owns
(`tff_rec.runtime.local_cpp`), or TFF's C++ runtime on running remote workers
(`tff_rec.runtime.remote`).

Example:
    from tff_rec.runtime import selection

    selection.install_runtime(runtime=selection.RuntimeType.TFF_CPP)
    ...  # invoke TFF computations as usual
"""

from __future__ import annotations

import enum

import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.runtime import inprocess
from tff_rec.runtime import local_cpp
from tff_rec.runtime import remote


class RuntimeType(enum.Enum):
    """What executes the computations.

    INPROCESS: this process, many clients per TensorFlow graph run, on a GPU
      when one is visible.
    TFF_CPP: TFF's C++ runtime, on a worker process this process owns or on
      remote workers.
    """

    INPROCESS = "inprocess"
    TFF_CPP = "tff_cpp"


DEFAULT_RUNTIME = RuntimeType.INPROCESS


def install_runtime(
    *,
    runtime: RuntimeType | str | None = None,
    simulate_secure_aggregation: bool = False,
    workers: str | None = None,
    workers_connect_timeout: float | None = None,
    workers_call_timeout: float | None = None,
    log_device_placement: bool = False,
) -> tff.framework.SyncContext:
    """Installs the TFF execution context that runs the computations.

    Args:
      runtime: a `RuntimeType` or its value. ``inprocess``: rounds run in this
        process, many clients per graph run, on a GPU when one is visible.
        ``tff_cpp``: TFF's C++ runtime on a worker process. None means
        ``tff_cpp`` when `workers` is given, else `DEFAULT_RUNTIME`.
      simulate_secure_aggregation: compile secure intrinsics to their insecure
        bodies (TFF's C++ runtime cannot run them; the in-process runtime sums
        secure values in the clear itself).
      workers: comma-separated ``host:port`` of running TFF workers
        (``python -m pipelines.worker``); None runs everything in this
        process or on a local worker process that this process owns.
      workers_connect_timeout: seconds to wait for each of `workers` to
        accept a connection; None means
        `tff_rec.runtime.remote.DEFAULT_CONNECT_TIMEOUT_SECONDS`.
      workers_call_timeout: deadline of every call to `workers`, in seconds;
        None means `tff_rec.runtime.remote.DEFAULT_CALL_TIMEOUT_SECONDS`.
      log_device_placement: in-process runtime only: log each op's device and
        record the devices that ran client work (`InProcessContext.
        devices_used`).

    Returns:
      The installed context.

    Raises:
      tff_rec.errors.UserInputError: bad worker addresses, a timeout that is
        not positive and finite, an unknown runtime, or workers with the
        in-process runtime.
      tff_rec.errors.WorkerUnavailableError: a worker did not answer.
    """
    if runtime is None:
        runtime = RuntimeType.TFF_CPP if workers else DEFAULT_RUNTIME
    runtime = errors.parse_enum(RuntimeType, runtime, "runtime")
    if workers:
        if runtime is not RuntimeType.TFF_CPP:
            raise errors.UserInputError(
                "--workers runs rounds on TFF's C++ workers: use it with "
                f"--runtime={RuntimeType.TFF_CPP.value}, "
                f"not --runtime={runtime.value}"
            )
        if workers_connect_timeout is None:
            workers_connect_timeout = remote.DEFAULT_CONNECT_TIMEOUT_SECONDS
        if not 0 < workers_connect_timeout < float("inf"):
            raise errors.UserInputError(
                "workers_connect_timeout must be > 0 seconds and finite, got "
                f"{workers_connect_timeout:g}"
            )
        if workers_call_timeout is None:
            workers_call_timeout = remote.DEFAULT_CALL_TIMEOUT_SECONDS
        remote.check_call_timeout(workers_call_timeout)
        return remote.set_remote_execution_context(
            workers,
            connect_timeout=workers_connect_timeout,
            call_timeout=workers_call_timeout,
            simulate_secure_aggregation=simulate_secure_aggregation,
        )
    if runtime is RuntimeType.INPROCESS:
        return inprocess.set_inprocess_execution_context(
            fallback_fn=lambda: local_cpp.create_local_cpp_execution_context(
                simulate_secure_aggregation=simulate_secure_aggregation
            ),
            log_device_placement=log_device_placement,
        )
    return local_cpp.set_local_cpp_execution_context(
        simulate_secure_aggregation=simulate_secure_aggregation
    )
