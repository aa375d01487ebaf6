"""Typed configuration sections: the fields, their rules, their dict form.

A run's configuration (`tff_rec.training.config.TrainConfig`) is a few
frozen dataclass sections, each defined by the package that uses it
(`tff_rec.data.config.DataConfig`, `tff_rec.privacy.config.PrivacyConfig`,
...). A section field states its own rule where it is declared::

    rounds: int = settings.at_least(1, default=60)
    test_fraction: float = settings.between(0.0, 1.0, default=0.2)
    split: splits.SplitType = settings.choice(splits.SplitType, default=...)

and `Section.__post_init__` checks every field once, when the section is
made: before any data is loaded or any file written. Rules that involve
several fields of a section go in the section's `_check`; rules across
sections in `TrainConfig`. Every violation is one `errors.UserInputError`
naming the field, the value received and what is allowed.

A field marked ``resumable=True`` may change between a run and its
resumption from a checkpoint (it does not change the federated rounds).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

import numpy as np

from tff_rec import errors

_S = TypeVar("_S", bound="Section")
Rule = Callable[[str, Any], None]


def _field(default, rule: Rule | None, resumable: bool, **metadata):
    return dataclasses.field(
        default=default, metadata={"rule": rule, "resumable": resumable, **metadata}
    )


def _number(name: str, value: Any, *, integer: bool) -> float:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        what = "an integer" if integer else "a number"
        raise errors.UserInputError(f"{name} must be {what}, got {value!r}")
    if not math.isfinite(value):
        raise errors.UserInputError(f"{name} must be finite, got {value}")
    return value


def check_at_least(name: str, value: Any, minimum: int) -> None:
    """An integer >= `minimum`."""
    if _number(name, value, integer=True) < minimum:
        raise errors.UserInputError(f"{name} must be >= {minimum}, got {value}")


def check_positive(name: str, value: Any) -> None:
    """A finite number > 0."""
    if not _number(name, value, integer=False) > 0:
        raise errors.UserInputError(f"{name} must be > 0, got {value}")


def check_non_negative(name: str, value: Any) -> None:
    """A finite number >= 0."""
    if not _number(name, value, integer=False) >= 0:
        raise errors.UserInputError(f"{name} must be >= 0, got {value}")


def check_between(
    name: str, value: Any, low: float, high: float, *, closed_low: bool = False
) -> None:
    """A number in (low, high), or [low, high) with `closed_low`."""
    value = _number(name, value, integer=False)
    inside = (low <= value if closed_low else low < value) and value < high
    if not inside:
        bracket = "[" if closed_low else "("
        raise errors.UserInputError(
            f"{name} must be in {bracket}{low:g}, {high:g}), got {value}"
        )


def checked(rule: Rule | None, *, default, resumable: bool = False):
    """A field checked by `rule(name, value)` (None: by the section's `_check`)."""
    return _field(default, rule, resumable)


def check_cohort(clients_per_round: int, num_clients: int) -> None:
    """Refuses more clients per round than the population holds.

    Raises:
      tff_rec.errors.UserInputError: if `clients_per_round` > `num_clients`.
    """
    if clients_per_round > num_clients:
        raise errors.UserInputError(
            f"clients_per_round={clients_per_round} exceeds the {num_clients} "
            "clients in the data"
        )


def at_least(minimum: int, *, default, resumable: bool = False):
    """An integer field >= `minimum` (None allowed where the default is None)."""
    return _field(
        default, lambda n, v: check_at_least(n, v, minimum), resumable, kind="int"
    )


def positive(*, default, resumable: bool = False):
    """A float field > 0 (None allowed where the default is None)."""
    return _field(default, check_positive, resumable, kind="float")


def non_negative(*, default, resumable: bool = False):
    """A float field >= 0 (None allowed where the default is None)."""
    return _field(default, check_non_negative, resumable, kind="float")


def between(
    low: float, high: float, *, default, closed_low: bool = False
) -> dataclasses.Field:
    """A float field in (low, high), or [low, high) with `closed_low`."""
    return _field(
        default,
        lambda n, v: check_between(n, v, low, high, closed_low=closed_low),
        False,
        kind="float",
    )


def choice(enum_type: type[enum.Enum], *, default, resumable: bool = False):
    """An enum field; its value's string is accepted too."""
    return _field(default, None, resumable, enum=enum_type)


def flag(*, default: bool, resumable: bool = False):
    """A boolean field."""

    def rule(name, value):
        if not isinstance(value, bool):
            raise errors.UserInputError(f"{name} must be true or false, got {value!r}")

    return _field(default, rule, resumable, kind="bool")


def text(*, default, resumable: bool = False):
    """A string field (None allowed where the default is None)."""

    def rule(name, value):
        if not isinstance(value, str):
            raise errors.UserInputError(f"{name} must be a string, got {value!r}")

    return _field(default, rule, resumable, kind="str")


def path(*, default, resumable: bool = False):
    """A file or folder path (a string or `os.PathLike`, kept as a string;
    None allowed where the default is None)."""

    def rule(name, value):
        if not isinstance(value, str):
            raise errors.UserInputError(f"{name} must be a path, got {value!r}")

    return _field(default, rule, resumable, kind="path")


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of a configuration section: checks its fields when made."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            enum_type = f.metadata.get("enum")
            if f.metadata.get("kind") == "path" and isinstance(value, os.PathLike):
                object.__setattr__(self, f.name, os.fspath(value))
            elif enum_type is not None:
                object.__setattr__(
                    self, f.name, errors.parse_enum(enum_type, value, f.name)
                )
            elif f.metadata.get("kind") in ("int", "float") and isinstance(
                value, (int, float, np.number)
            ):
                # Plain Python numbers (numpy's too), floats for float fields.
                kind = int if f.metadata["kind"] == "int" else float
                if not isinstance(value, bool) and kind(value) == value:
                    object.__setattr__(self, f.name, kind(value))
            rule = f.metadata.get("rule")
            if rule is not None:
                rule(f.name, getattr(self, f.name))
        self._check()

    def _check(self) -> None:
        """Rules across this section's fields; none by default."""

    def as_dict(self) -> dict[str, Any]:
        """The fields, enums as their values (JSON-serializable)."""
        return {
            f.name: (v.value if isinstance(v, enum.Enum) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }

    def given(self) -> dict[str, Any]:
        """The fields that differ from their defaults."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resumable_names(cls) -> frozenset[str]:
        """Fields that may change when a run resumes from a checkpoint."""
        return frozenset(
            f.name for f in dataclasses.fields(cls) if f.metadata.get("resumable")
        )

    @classmethod
    def from_dict(cls: type[_S], values: Mapping[str, Any]) -> _S:
        """The section of `values` (`as_dict` output or a subset of it).

        Raises:
          tff_rec.errors.UserInputError: unknown names or invalid values.
        """
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise errors.UserInputError(
                f"unknown {cls.__name__} settings: {', '.join(unknown)}"
            )
        return cls(**values)


def reject_given(section: Section, names, reason: str) -> None:
    """Refuses the fields `names` of `section` set away from their defaults.

    Args:
      section: the section holding them.
      names: the fields to check.
      reason: the rest of the message, after the names ("only for
        task='implicit'").
    """
    given = [n for n in names if n in section.given()]
    if given:
        raise errors.UserInputError(f"{', '.join(given)}: {reason}")
