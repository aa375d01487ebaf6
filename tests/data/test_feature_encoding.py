"""Tests of the encoding of user and item side information as integer ids."""

import collections
import dataclasses

import numpy as np
import tensorflow as tf

from tests.data import side_information
from tff_rec import errors
from tff_rec.data import feature_encoding
from tff_rec.data import interactions as interactions_lib


class EncodeFeaturesTest(tf.test.TestCase):
    def test_user_features(self):
        encoded = feature_encoding.encode_user_features(
            side_information.tiny_interactions()
        )
        # Age buckets: 17 -> <18 (1), 30 -> 25-34 (3), missing -> 0, 56 -> 56+ (7).
        self.assertAllEqual(encoded.age, [1, 3, 0, 7])
        self.assertEqual(encoded.gender_vocab, ("F", "M"))
        self.assertAllEqual(encoded.gender, [2, 1, 2, 0])
        self.assertEqual(encoded.occupation_vocab, ("artist", "student"))
        self.assertAllEqual(encoded.occupation, [2, 1, 2, 0])
        # "55105" -> 1 + 5, "T8H1N" -> other, "" -> unknown, "01002" -> 1 + 0.
        self.assertAllEqual(encoded.zip_region, [6, feature_encoding.ZIP_OTHER, 0, 1])
        for name in feature_encoding.USER_FEATURE_NAMES:
            self.assertEqual(getattr(encoded, name).dtype, np.int32)
        self.assertEqual(
            encoded.sizes(),
            collections.OrderedDict(
                age=8,
                gender=3,
                occupation=3,
                zip_region=feature_encoding.ZIP_REGION_SIZE,
            ),
        )
        looked_up = encoded.lookup(np.array([3, 0]))
        self.assertEqual(list(looked_up), list(feature_encoding.USER_FEATURE_NAMES))
        self.assertAllEqual(looked_up["age"], [7, 1])
        self.assertEqual(
            list(encoded.columns()), list(feature_encoding.USER_FEATURE_NAMES)
        )
        self.assertAllEqual(encoded.columns()["zip_region"], encoded.zip_region)

    def test_age_bucket_bounds(self):
        ages = {f"u{k}": age for k, age in enumerate([1, 18, 24, 25, 45, 49, 50, 55])}
        interactions = interactions_lib.from_raw_ids(
            list(ages),
            ["i"] * len(ages),
            [1.0] * len(ages),
            user_features={
                "age": ages,
                "gender": {},
                "occupation": {},
                "zip_code": {},
            },
        )
        encoded = feature_encoding.encode_user_features(interactions)
        self.assertAllEqual(encoded.age, [1, 2, 2, 3, 5, 5, 6, 6])

    def test_item_features(self):
        encoded = feature_encoding.encode_item_features(
            side_information.tiny_interactions()
        )
        self.assertEqual(encoded.genre_vocab, ("Action", "Comedy", "Drama"))
        self.assertAllEqual(encoded.genres, [[0, 1, 1], [0, 0, 0], [1, 0, 0]])
        self.assertEqual(encoded.genres.dtype, np.float32)
        self.assertEqual(encoded.decade_vocab, (1960, 1990))
        self.assertAllEqual(encoded.year_bucket, [2, 0, 1])
        self.assertEqual(encoded.year_bucket.dtype, np.int32)
        self.assertEqual(encoded.num_items, 3)
        self.assertEqual(encoded.num_genres, 3)
        self.assertEqual(encoded.year_bucket_size, 3)

    def test_missing_user_columns_raise_user_input_error(self):
        interactions = side_information.tiny_interactions(
            user_features=False, name="my-csv"
        )
        with self.assertRaisesRegex(
            errors.UserInputError, r"'my-csv'.*age, gender, occupation, zip_code"
        ):
            feature_encoding.encode_user_features(interactions)

    def test_missing_item_columns_raise_user_input_error(self):
        interactions = side_information.tiny_interactions(
            item_features=False, name="my-csv"
        )
        with self.assertRaisesRegex(errors.UserInputError, r"'my-csv'.*genres, year"):
            feature_encoding.encode_item_features(interactions)

    def test_one_missing_column_is_named(self):
        interactions = side_information.tiny_interactions()
        partial = dataclasses.replace(
            interactions,
            user_features={
                k: v for k, v in interactions.user_features.items() if k != "occupation"
            },
        )
        with self.assertRaisesRegex(
            errors.UserInputError, r"no user feature\(s\) occupation;"
        ):
            feature_encoding.encode_user_features(partial)


if __name__ == "__main__":
    tf.test.main()
