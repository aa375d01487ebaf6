"""Command-line conventions of absl entry points over tff_rec.

A bad flag or a `tff_rec.errors.UserInputError` (bad data, settings) ends the
program with one line on stderr, ``<program>: error: <message>``, and exit
status 2, never a stack trace; a run whose training diverged
(`tff_rec.errors.TrainingDivergedError`) ends the same way with exit status
3, and one whose remote worker stopped answering
(`tff_rec.errors.WorkerUnavailableError`) with exit status 4. The
pipelines and the benchmarks use these helpers; so can a user's own script:

    from absl import app
    from tff_rec import cli

    def main(argv):
        with cli.user_errors_exit():
            ...

    app.run(main, flags_parser=cli.parse_flags)

Importing this module imports TensorFlow, so that a program importing it at
module level has TensorFlow loaded before `absl.app.run` starts. Imported
later, inside ``main``, TensorFlow lists the devices from an
``absl.app.call_after_init`` callback (registered by
``tensorflow.python.distribute.combinations``) that absl runs at once, while
still in graph mode, and every Keras model built afterwards fails with
``'SymbolicTensor' object has no attribute 'node'``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator

# Before absl's app.run initializes: see the module docstring. The
# pipelines package has set TensorFlow's log level by now.
import tensorflow as tf
from absl import flags

from tff_rec import console
from tff_rec import errors
from tff_rec import verbosity

USAGE_ERROR_EXIT_CODE = 2
DIVERGED_EXIT_CODE = 3
WORKER_UNAVAILABLE_EXIT_CODE = 4
STORAGE_EXIT_CODE = 5

# What the file system says when outputs cannot be written (a full disk, a
# read-only mount...), as `OSError.errno` and in TensorFlow's file errors.
_STORAGE_ERRNOS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EFBIG,
)
_STORAGE_MESSAGES = tuple(os.strerror(code) for code in _STORAGE_ERRNOS)


def fail(message: str, exit_code: int = USAGE_ERROR_EXIT_CODE) -> None:
    """Prints a one-line error and exits with `exit_code`."""
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "pipeline"
    console.end_live()
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(exit_code)


def parse_flags(argv: list[str]) -> list[str]:
    """absl flags parser that reports bad flags in one line (exit status 2).

    Pass it to `absl.app.run` as ``flags_parser``. Logging stays at WARNING
    unless ``--verbosity`` is given (`tff_rec.verbosity`).
    """
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))
    verbosity.default_python_verbosity(flags.FLAGS)
    return remaining


@contextlib.contextmanager
def user_errors_exit() -> Iterator[None]:
    """Turns `UserInputError` (bad data, flags, settings) into exit status 2,
    `TrainingDivergedError` into exit status 3, `WorkerUnavailableError`
    into exit status 4 and a file that cannot be written (a full disk, a
    read-only file system) into exit status 5, each with one line."""
    try:
        yield
    except errors.UserInputError as e:
        fail(str(e))
    except errors.TrainingDivergedError as e:
        fail(str(e), DIVERGED_EXIT_CODE)
    except errors.WorkerUnavailableError as e:
        fail(str(e), WORKER_UNAVAILABLE_EXIT_CODE)
    except OSError as e:
        if e.errno not in _STORAGE_ERRNOS:
            raise
        fail(_storage_message(e.filename, e.strerror), STORAGE_EXIT_CODE)
    except tf.errors.OpError as e:
        problem = next((m for m in _STORAGE_MESSAGES if m in e.message), None)
        if problem is None:
            raise
        fail(_storage_message(e.message.split(";")[0], problem), STORAGE_EXIT_CODE)


def _storage_message(filename, problem: str) -> str:
    return (
        f"cannot write {filename}: {problem}; completed checkpoints are kept: "
        "make room (or fix the folder) and rerun the same command to resume"
    )
