"""Errors raised for user mistakes.

Pipelines catch `UserInputError` and print its one-line message, exiting with
status 2, so a bad file or flag never surfaces as a stack trace.
"""

from __future__ import annotations


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
