"""Tests of tff_rec.data.recbole_atomic on tiny hand-written files."""

from __future__ import annotations

import time

import numpy as np
from absl.testing import absltest

from tests.data import loader_files
from tff_rec.data import recbole_atomic


class RecboleAtomicTest(loader_files.LoaderTestCase):
    def test_interactions(self):
        data = recbole_atomic.load_recbole_atomic(self.write(loader_files.RECBOLE))
        self.assertEqual(data.name, "ml-100k")
        self.assertEqual(data.user_vocab, ("2", "7", "10"))
        self.assertEqual(data.item_vocab, ("5", "9", "30"))
        self.assert_ids_map_back(data, ["10", "2", "7", "2"], ["5", "5", "9", "30"])
        np.testing.assert_array_equal(data.ratings, [4.0, 3.0, 1.0, 5.0])
        self.assertEqual(data.ratings.dtype, np.float32)
        np.testing.assert_array_equal(
            data.timestamps, [881250949, 881250950, 881250951, 881250952]
        )
        self.assertEqual(data.timestamps.dtype, np.int64)

    def test_user_features_only_for_users_with_interactions(self):
        data = recbole_atomic.load_recbole_atomic(self.write(loader_files.RECBOLE))
        self.assertEqual(
            dict(data.user_features),
            {
                "age": [53, 24, 33],
                "gender": ["F", "M", "F"],
                "occupation": ["other", "technician", "writer"],
                "zip_code": ["94043", "T8H1N", "32067"],
            },
        )

    def test_item_features(self):
        data = recbole_atomic.load_recbole_atomic(self.write(loader_files.RECBOLE))
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Toy Story", "Land Before Time III (1995)", "unkonwn"],
                "genres": [
                    ("Animation", "Children's", "Comedy"),
                    ("Animation",),
                    ("unknown",),
                ],
                # 'V' is not a year: taken from the title; 'unkonwn' gives None.
                "year": [1995, 1995, None],
            },
        )

    def test_side_files_are_optional(self):
        data = recbole_atomic.load_recbole_atomic(
            self.write({"ml-100k.inter": loader_files.RECBOLE["ml-100k.inter"]})
        )
        self.assertEqual(len(data), 4)
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(dict(data.item_features), {})

    def test_other_prefix_columns_in_any_order_without_rating(self):
        directory = self.write(
            {
                "ml-1m.inter": "item_id:token\tuser_id:token\n1\t2\n3\t2\n",
                "ml-1m.item": "item_id:token\tgenre:token_seq\n1\tDrama War\n",
            }
        )
        data = recbole_atomic.load_recbole_atomic(directory, prefix="ml-1m")
        self.assertEqual(data.name, "ml-1m")
        self.assert_ids_map_back(data, ["2", "2"], ["1", "3"])
        np.testing.assert_array_equal(data.ratings, [1.0, 1.0])
        self.assertIsNone(data.timestamps)
        self.assertEqual(dict(data.item_features), {"genres": [("Drama", "War"), None]})

    def test_crlf_and_float_timestamps(self):
        directory = self.write(
            {
                "ml-100k.inter": "user_id:token\titem_id:token\trating:float\t"
                "timestamp:float\r\n1\t2\t3.5\t12.0\r\n"
            }
        )
        data = recbole_atomic.load_recbole_atomic(directory)
        np.testing.assert_array_equal(data.ratings, [3.5])
        np.testing.assert_array_equal(data.timestamps, [12])

    def test_100k_lines_load_fast(self):
        rng = np.random.default_rng(0)
        lines = [
            f"{u}\t{i}\t{r}\t{t}"
            for u, i, r, t in zip(
                rng.integers(1, 944, 100_000),
                rng.integers(1, 1683, 100_000),
                rng.integers(1, 6, 100_000),
                rng.integers(874_000_000, 893_000_000, 100_000),
                strict=False,
            )
        ]
        inter = (
            loader_files.RECBOLE["ml-100k.inter"].split("\n")[0]
            + "\n"
            + "\n".join(lines)
        )
        directory = self.write({"ml-100k.inter": inter})
        start = time.perf_counter()
        data = recbole_atomic.load_recbole_atomic(directory)
        elapsed = time.perf_counter() - start
        self.assertLen(data, 100_000)
        self.assertLess(elapsed, 2.0)


if __name__ == "__main__":
    absltest.main()
