"""What every pipeline shares: flag parsing, error reporting, runtime setup."""

from __future__ import annotations

import contextlib
import sys

from absl import flags

from tff_rec import errors

USAGE_ERROR_EXIT_CODE = 2


def fail(message: str) -> None:
    """Prints a one-line error and exits with `USAGE_ERROR_EXIT_CODE`."""
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "pipeline"
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(USAGE_ERROR_EXIT_CODE)


def parse_flags(argv: list[str]) -> list[str]:
    """absl flags parser that reports bad flags in one line (exit status 2)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))


@contextlib.contextmanager
def user_errors_exit():
    """Turns `UserInputError` (bad data, flags, settings) into exit status 2."""
    try:
        yield
    except errors.UserInputError as e:
        fail(str(e))


RUNTIMES = ("inprocess", "tff_cpp")
DEFAULT_RUNTIME = "inprocess"


def install_runtime(
    *,
    runtime: str | None = None,
    simulate_secure_aggregation: bool = False,
    workers: str | None = None,
    workers_connect_timeout: float | None = None,
    log_device_placement: bool = False,
):
    """Installs the TFF execution context that runs the computations.

    Args:
      runtime: ``inprocess`` (`tff_rec.runtime.inprocess`: rounds run in this
        process, many clients per graph run, on a GPU when one is visible) or
        ``tff_cpp`` (TFF's C++ runtime on a worker process). None means
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
      log_device_placement: in-process runtime only: log each op's device and
        record the devices that ran client work (`InProcessContext.
        devices_used`).

    Returns:
      The installed context.

    Raises:
      tff_rec.errors.UserInputError: bad or unreachable worker addresses, a
        connect timeout that is not positive, an unknown runtime, or workers
        with the in-process runtime.
    """
    if runtime is None:
        runtime = "tff_cpp" if workers else DEFAULT_RUNTIME
    if runtime not in RUNTIMES:
        raise errors.UserInputError(
            f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}"
        )
    if workers:
        if runtime != "tff_cpp":
            raise errors.UserInputError(
                "--workers runs rounds on TFF's C++ workers: use it with "
                f"--runtime=tff_cpp, not --runtime={runtime}"
            )
        from tff_rec.runtime import remote

        if workers_connect_timeout is None:
            workers_connect_timeout = remote.DEFAULT_CONNECT_TIMEOUT_SECONDS
        if not workers_connect_timeout > 0:
            raise errors.UserInputError(
                "workers_connect_timeout must be > 0 seconds, got "
                f"{workers_connect_timeout:g}"
            )
        return remote.set_remote_execution_context(
            workers,
            connect_timeout=workers_connect_timeout,
            simulate_secure_aggregation=simulate_secure_aggregation,
        )
    from tff_rec.runtime import local_cpp

    if runtime == "inprocess":
        from tff_rec.runtime import inprocess

        return inprocess.set_inprocess_execution_context(
            fallback_fn=lambda: local_cpp.create_local_cpp_execution_context(
                simulate_secure_aggregation=simulate_secure_aggregation
            ),
            log_device_placement=log_device_placement,
        )
    return local_cpp.set_local_cpp_execution_context(
        simulate_secure_aggregation=simulate_secure_aggregation
    )
