"""Tests of tff_rec.data.generic_csv on tiny hand-written files."""

from __future__ import annotations

import os

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests.data import loader_files
from tff_rec import errors
from tff_rec.data import generic_csv


class CsvTest(loader_files.LoaderTestCase):
    def test_default_columns(self):
        data = generic_csv.load_csv(
            os.path.join(self.write(loader_files.CSV), "events.csv")
        )
        self.assertEqual(data.name, "events")
        self.assertEqual(data.user_vocab, ("alice", "bob"))
        self.assert_ids_map_back(data, ["alice", "bob", "alice"], ["x", "y", "y"])
        np.testing.assert_array_equal(data.ratings, [5.0, 2.5, 1.0])
        np.testing.assert_array_equal(data.timestamps, [3, 1, 2])

    def test_custom_columns_delimiter_bom_and_quotes(self):
        content = '\ufeffwho\ttime\twhat\n"u 1"\t7\t"a\tb"\n'
        path = os.path.join(self.write({"x.tsv": content}), "x.tsv")
        data = generic_csv.load_csv(
            path, user_col="who", item_col="what", rating_col=None,
            timestamp_col="time", delimiter="\t",
        )  # fmt: skip
        self.assert_ids_map_back(data, ["u 1"], ["a\tb"])
        np.testing.assert_array_equal(data.ratings, [1.0])
        np.testing.assert_array_equal(data.timestamps, [7])

    def test_timestamp_column_is_optional(self):
        path = os.path.join(self.write({"r.csv": "user,item,rating\n1,2,3\n"}), "r.csv")
        data = generic_csv.load_csv(path)
        self.assertIsNone(data.timestamps)
        events = os.path.join(self.write(loader_files.CSV), "events.csv")
        data = generic_csv.load_csv(events, timestamp_col=None)
        self.assertIsNone(data.timestamps)

    @parameterized.named_parameters(
        ("long", ";;"),
        ("quote", '"'),
        ("newline", "\n"),
        ("not_a_string", 1),
    )
    def test_bad_delimiter(self, delimiter):
        with self.assertRaisesRegex(errors.UserInputError, "delimiter"):
            generic_csv.load_csv("unused.csv", delimiter=delimiter)


if __name__ == "__main__":
    absltest.main()
