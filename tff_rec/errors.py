"""Errors raised for user mistakes.

Pipelines catch `UserInputError` and print its one-line message, exiting with
status 2, so a bad file or flag never surfaces as a stack trace.
"""

from __future__ import annotations

import enum
from typing import TypeVar

_E = TypeVar("_E", bound=enum.Enum)


class UserInputError(ValueError):
    """A problem with what the user supplied (a file, a flag, an argument)."""


class DataFormatError(UserInputError):
    """A data file that cannot be parsed.

    The message names the file, the 1-based line number (when known) and the
    problem, e.g. ``ratings.csv:17: rating 'abc' is not a number``.
    """

    def __init__(self, path: str, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


class DataUnavailableError(UserInputError):
    """The dataset cannot be found or downloaded."""


def parse_enum(enum_type: type[_E], value: _E | str, what: str) -> _E:
    """Returns `value` as a member of `enum_type`.

    Args:
      enum_type: the enum class.
      value: a member or the value of one.
      what: what the value is called in the error message ("algorithm").

    Raises:
      UserInputError: naming the received value and the allowed ones.
    """
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in enum_type)
        raise UserInputError(f"unknown {what} {value!r}; allowed: {allowed}") from None


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or model; the run stopped.

    Not a `UserInputError`: the input was valid, the optimization failed.
    Pipelines exit with status 3 and the one-line message.

    Attributes:
      round_num: the round whose loss or model was not finite.
    """

    def __init__(self, message: str, round_num: int):
        super().__init__(message)
        self.round_num = round_num


class WorkerUnavailableError(RuntimeError):
    """A remote TFF worker did not answer: dead, unreachable or too slow.

    Not a `UserInputError`: the settings may be right and the worker down.
    Pipelines exit with status 4 and the one-line message, which names the
    worker; the run's checkpoint is kept, so the same command resumes once
    the worker is back.

    Attributes:
      address: the worker's ``host:port``.
    """

    def __init__(self, message: str, address: str):
        super().__init__(message)
        self.address = address
