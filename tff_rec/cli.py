"""Command-line conventions of absl entry points over tff_rec.

A bad flag or a `tff_rec.errors.UserInputError` (bad data, settings) ends the
program with one line on stderr, ``<program>: error: <message>``, and exit
status 2, never a stack trace. The pipelines and the benchmarks use these
helpers; so can a user's own script:

    from absl import app
    from tff_rec import cli

    def main(argv):
        with cli.user_errors_exit():
            ...

    app.run(main, flags_parser=cli.parse_flags)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from absl import flags

from tff_rec import errors

USAGE_ERROR_EXIT_CODE = 2


def fail(message: str) -> None:
    """Prints a one-line error and exits with `USAGE_ERROR_EXIT_CODE`."""
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "pipeline"
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(USAGE_ERROR_EXIT_CODE)


def parse_flags(argv: list[str]) -> list[str]:
    """absl flags parser that reports bad flags in one line (exit status 2).

    Pass it to `absl.app.run` as ``flags_parser``.
    """
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))


@contextlib.contextmanager
def user_errors_exit() -> Iterator[None]:
    """Turns `UserInputError` (bad data, flags, settings) into exit status 2."""
    try:
        yield
    except errors.UserInputError as e:
        fail(str(e))
