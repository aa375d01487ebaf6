"""What every pipeline shares: flag parsing and one-line error reporting."""

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


def __getattr__(name: str):
    # pipelines.train still selects its runtime through these two names; the
    # selection itself is `tff_rec.runtime.selection`. Resolved on first use so
    # that the other pipelines do not import TensorFlow to parse their flags.
    if name == "RUNTIMES":
        from tff_rec.runtime import selection

        return tuple(runtime.value for runtime in selection.RuntimeType)
    if name == "install_runtime":
        from tff_rec.runtime import selection

        return selection.install_runtime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
