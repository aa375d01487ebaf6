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


def install_runtime(
    *, simulate_secure_aggregation: bool = False, workers: str | None = None
) -> None:
    """Installs the TFF execution context that runs the computations.

    Args:
      simulate_secure_aggregation: compile secure intrinsics to their insecure
        bodies (TFF's C++ runtime cannot run them).
      workers: comma-separated ``host:port`` of running TFF workers
        (``python -m pipelines.worker``); None runs everything on a local
        worker process that this process owns.

    Raises:
      tff_rec.errors.UserInputError: bad or unreachable worker addresses.
    """
    if workers:
        from tff_rec.runtime import remote

        remote.set_remote_execution_context(
            workers, simulate_secure_aggregation=simulate_secure_aggregation
        )
        return
    from tff_rec.runtime import local_cpp

    local_cpp.set_local_cpp_execution_context(
        simulate_secure_aggregation=simulate_secure_aggregation
    )
