"""Configuration sections: field rules, enums, dict forms, resumable fields."""

import dataclasses
import enum
import math
import pathlib

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors
from tff_rec import settings


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Example(settings.Section):
    count: int = settings.at_least(1, default=2)
    rate: float = settings.positive(default=0.5)
    penalty: float | None = settings.non_negative(default=None, resumable=True)
    fraction: float = settings.between(0.0, 1.0, default=0.5)
    colour: Colour = settings.choice(Colour, default=Colour.RED)
    flag: bool = settings.flag(default=False, resumable=True)
    name: str = settings.text(default="x")
    where: str | None = settings.path(default=None)

    def _check(self):
        if self.colour is Colour.BLUE and self.count > 5:
            raise errors.UserInputError("blue needs count <= 5")


class SettingsTest(tf.test.TestCase, parameterized.TestCase):
    def test_defaults_and_conversions(self):
        example = Example(colour="blue", rate=2)
        self.assertIs(example.colour, Colour.BLUE)
        self.assertIsInstance(example.rate, float)
        self.assertEqual(example.given(), {"colour": Colour.BLUE, "rate": 2.0})
        self.assertEqual(example.as_dict()["colour"], "blue")
        self.assertEqual(Example.from_dict(example.as_dict()), example)
        self.assertEqual(Example.resumable_names(), {"penalty", "flag"})
        self.assertEqual(Example.field_names()[:2], ("count", "rate"))
        self.assertEqual(Example(count=np.int64(3)).count, 3)
        self.assertEqual(Example(where=pathlib.Path("/a/b")).where, "/a/b")

    @parameterized.named_parameters(
        ("zero_count", dict(count=0), "count must be >= 1, got 0"),
        ("float_count", dict(count=1.5), "count must be an integer"),
        ("bool_count", dict(count=True), "count must be an integer"),
        ("negative_rate", dict(rate=-1.0), "rate must be > 0"),
        ("nan_rate", dict(rate=math.nan), "rate must be finite"),
        ("inf_penalty", dict(penalty=math.inf), "penalty must be finite"),
        ("string_rate", dict(rate="fast"), "rate must be a number"),
        ("fraction", dict(fraction=1.0), r"fraction must be in \(0, 1\)"),
        ("colour", dict(colour="green"), "unknown colour 'green'; allowed: 'red'"),
        ("flag", dict(flag="yes"), "flag must be true or false"),
        ("name", dict(name=3), "name must be a string"),
        ("where", dict(where=3), "where must be a path"),
        ("cross_field", dict(colour="blue", count=6), "blue needs count <= 5"),
    )
    def test_rules(self, values, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            Example(**values)

    def test_unknown_names(self):
        with self.assertRaisesRegex(
            errors.UserInputError, "unknown Example settings: x"
        ):
            Example.from_dict({"x": 1})

    def test_reject_given(self):
        settings.reject_given(Example(), ("count", "flag"), "no")
        with self.assertRaisesRegex(errors.UserInputError, "^count, flag: only here$"):
            settings.reject_given(
                Example(count=3, flag=True), ("count", "flag"), "only here"
            )

    def test_cohort(self):
        settings.check_cohort(50, 50)
        with self.assertRaisesRegex(
            errors.UserInputError, "clients_per_round=51 exceeds the 50"
        ):
            settings.check_cohort(51, 50)

    def test_check_between_closed_low(self):
        settings.check_between("x", 0.0, 0.0, 1.0, closed_low=True)
        with self.assertRaisesRegex(errors.UserInputError, r"x must be in \[0, 1\)"):
            settings.check_between("x", 1.0, 0.0, 1.0, closed_low=True)


if __name__ == "__main__":
    tf.test.main()
