"""Tests of the user-facing errors: their messages and attributes."""

import enum
import pathlib

import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors


class _Algorithm(enum.Enum):
    FEDAVG = "fedavg"
    FEDRECON = "fedrecon"


class ParseEnumTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("member", _Algorithm.FEDRECON),
        ("value", "fedrecon"),
    )
    def test_member_or_value_gives_the_member(self, value):
        self.assertIs(
            errors.parse_enum(_Algorithm, value, "algorithm"), _Algorithm.FEDRECON
        )

    def test_unknown_value_names_what_was_received_and_what_is_allowed(self):
        with self.assertRaises(errors.UserInputError) as raised:
            errors.parse_enum(_Algorithm, "fedprox", "algorithm")
        self.assertEqual(
            str(raised.exception),
            "unknown algorithm 'fedprox'; allowed: 'fedavg', 'fedrecon'",
        )
        # The enum's own ValueError is not chained into the one-line message.
        self.assertIsNone(raised.exception.__cause__)
        self.assertTrue(raised.exception.__suppress_context__)

    def test_values_are_case_sensitive(self):
        with self.assertRaisesRegex(errors.UserInputError, "unknown split 'FEDAVG'"):
            errors.parse_enum(_Algorithm, "FEDAVG", "split")

    def test_a_member_of_another_enum_is_unknown(self):
        class Other(enum.Enum):
            FEDAVG = "fedavg"

        with self.assertRaisesRegex(
            errors.UserInputError, r"unknown algorithm <Other.FEDAVG: 'fedavg'>"
        ):
            errors.parse_enum(_Algorithm, Other.FEDAVG, "algorithm")


class DataFormatErrorTest(tf.test.TestCase):
    def test_message_with_line(self):
        error = errors.DataFormatError(
            "ratings.csv", "rating 'abc' is not a number", line=17
        )
        self.assertEqual(str(error), "ratings.csv:17: rating 'abc' is not a number")
        self.assertEqual(error.path, "ratings.csv")
        self.assertEqual(error.line, 17)
        self.assertEqual(error.problem, "rating 'abc' is not a number")

    def test_message_without_line(self):
        error = errors.DataFormatError(pathlib.Path("data") / "u.item", "empty file")
        self.assertEqual(str(error), "data/u.item: empty file")
        self.assertEqual(error.path, "data/u.item")
        self.assertIsNone(error.line)

    def test_line_zero_is_still_a_line(self):
        self.assertEqual(str(errors.DataFormatError("f", "bad", line=0)), "f:0: bad")

    def test_is_a_user_input_error(self):
        error = errors.DataFormatError("f", "bad")
        self.assertIsInstance(error, errors.UserInputError)
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(
            errors.DataUnavailableError("gone"), errors.UserInputError
        )


class TrainingDivergedErrorTest(tf.test.TestCase):
    def test_round_num_and_message(self):
        error = errors.TrainingDivergedError("loss is nan in round 7", round_num=7)
        self.assertEqual(error.round_num, 7)
        self.assertEqual(str(error), "loss is nan in round 7")

    def test_is_not_a_user_input_error(self):
        error = errors.TrainingDivergedError("diverged", 3)
        self.assertIsInstance(error, RuntimeError)
        self.assertNotIsInstance(error, errors.UserInputError)


if __name__ == "__main__":
    tf.test.main()
