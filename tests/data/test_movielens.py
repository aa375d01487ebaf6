"""Tests of tff_rec.data.movielens on tiny hand-written files."""

from __future__ import annotations

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests.data import loader_files
from tff_rec.data import movielens


class OriginalMovieLensTest(loader_files.LoaderTestCase):
    def test_ml100k(self):
        data = movielens.load_ml100k(self.write(loader_files.ML100K))
        self.assertEqual(data.name, "ml-100k")
        self.assert_ids_map_back(data, ["10", "2", "7"], ["5", "5", "9"])
        np.testing.assert_array_equal(data.ratings, [4, 3, 1])
        np.testing.assert_array_equal(
            data.timestamps, [881250949, 881250950, 881250951]
        )
        self.assertEqual(data.user_features["age"], [53, 24, 33])
        self.assertEqual(data.user_features["zip_code"], ["94043", "T8H1N", "32067"])
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Misérables, Les (1995)", "Good Morning (1971)"],
                "genres": [("Drama",), ("unknown",)],
                "year": [1995, 1971],
            },
        )

    def test_ml100k_standard_genres_without_u_genre(self):
        flags = ["0"] * 19
        flags[1] = flags[18] = "1"
        files = {
            "u.data": "1\t5\t4\t1\n",
            "u.item": "5|Title|||url|" + "|".join(flags) + "\n",
        }
        data = movielens.load_ml100k(self.write(files))
        self.assertEqual(data.item_features["genres"], [("Action", "Western")])
        self.assertEqual(data.item_features["year"], [None])

    def test_ml1m(self):
        data = movielens.load_ml1m(self.write(loader_files.ML1M))
        self.assertEqual(data.name, "ml-1m")
        self.assert_ids_map_back(data, ["1", "1", "2"], ["1193", "661", "1193"])
        self.assertEqual(data.item_vocab, ("661", "1193"))
        np.testing.assert_array_equal(data.ratings, [5, 3, 4])
        np.testing.assert_array_equal(
            data.timestamps, [978300760, 978302109, 978298413]
        )
        self.assertEqual(
            dict(data.user_features),
            {
                "gender": ["F", "M"],
                "age": [1, 56],
                "occupation": ["K-12 student", "self-employed"],
                "zip_code": ["48067", "70072"],
            },
        )
        self.assertEqual(
            dict(data.item_features),
            {
                "title": [
                    "Cérémonie, La (1995)",
                    "One Flew Over the Cuckoo's Nest (1975)",
                ],
                "genres": [("Drama", "Thriller"), ("Drama",)],
                "year": [1995, 1975],
            },
        )

    def test_ml_latest(self):
        data = movielens.load_ml_latest(self.write(loader_files.ML_LATEST))
        self.assertEqual(data.name, "ml-latest")
        self.assert_ids_map_back(data, ["1", "1", "3"], ["1", "11", "1"])
        np.testing.assert_array_equal(data.ratings, [4.0, 3.5, 0.5])
        np.testing.assert_array_equal(
            data.timestamps, [964982703, 964981247, 1306463578]
        )
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Toy Story (1995)", "American President, The (1995)"],
                "genres": [
                    ("Adventure", "Animation", "Children", "Comedy", "Fantasy"),
                    (),
                ],
                "year": [1995, 1995],
            },
        )

    @parameterized.named_parameters(
        ("ml100k", movielens.load_ml100k, "u.data", loader_files.ML100K),
        ("ml1m", movielens.load_ml1m, "ratings.dat", loader_files.ML1M),
        ("ml_latest", movielens.load_ml_latest, "ratings.csv", loader_files.ML_LATEST),
    )
    def test_side_files_are_optional(self, load, name, files):
        data = load(self.write({name: files[name]}))
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(dict(data.item_features), {})


if __name__ == "__main__":
    absltest.main()
