"""Tests of the interaction table: raw ids remapped, vocabularies, stats."""

import dataclasses

import numpy as np
import tensorflow as tf

from tff_rec.data import interactions as interactions_lib


def _table():
    """Three users (raw ids numbered numerically) and three items, four rows."""
    return interactions_lib.from_raw_ids(
        ["10", "2", "7", "2"],
        ["b", "a", "b", "c"],
        [4.0, 3.0, 1.0, 5.0],
        [40, 20, 70, 25],
        user_features={"age": {"2": 30, "10": 45, "99": 60}},
        item_features={"year": {"c": 1999}},
        name="tiny",
    )


class FromRawIdsTest(tf.test.TestCase):
    def test_ids_are_remapped_in_sorted_order(self):
        table = _table()
        # '2' < '7' < '10' numerically; 'a' < 'b' < 'c'.
        self.assertEqual(table.user_vocab, ("2", "7", "10"))
        self.assertEqual(table.item_vocab, ("a", "b", "c"))
        self.assertAllEqual(table.users, [2, 0, 1, 0])
        self.assertAllEqual(table.items, [1, 0, 1, 2])
        self.assertAllEqual(table.ratings, [4.0, 3.0, 1.0, 5.0])
        self.assertAllEqual(table.timestamps, [40, 20, 70, 25])
        self.assertEqual(table.users.dtype, np.int32)
        self.assertEqual(table.items.dtype, np.int32)
        self.assertEqual(table.ratings.dtype, np.float32)
        self.assertEqual(table.timestamps.dtype, np.int64)
        self.assertEqual((table.num_users, table.num_items, len(table)), (3, 3, 4))
        self.assertEqual(table.name, "tiny")

    def test_vocabularies_map_back_to_the_raw_ids(self):
        table = _table()
        raw_users = [table.user_vocab[u] for u in table.users]
        raw_items = [table.item_vocab[i] for i in table.items]
        self.assertEqual(raw_users, ["10", "2", "7", "2"])
        self.assertEqual(raw_items, ["b", "a", "b", "c"])

    def test_non_integer_ids_sort_as_strings(self):
        table = interactions_lib.from_raw_ids(
            ["u9", "u10", "u2"], ["i1", "i1", "i1"], [1.0, 2.0, 3.0]
        )
        self.assertEqual(table.user_vocab, ("u10", "u2", "u9"))
        self.assertAllEqual(table.users, [2, 0, 1])
        self.assertIsNone(table.timestamps)

    def test_mapping_does_not_depend_on_row_order(self):
        table = _table()
        order = [3, 1, 0, 2]
        shuffled = interactions_lib.from_raw_ids(
            [["10", "2", "7", "2"][k] for k in order],
            [["b", "a", "b", "c"][k] for k in order],
            [[4.0, 3.0, 1.0, 5.0][k] for k in order],
        )
        self.assertEqual(shuffled.user_vocab, table.user_vocab)
        self.assertEqual(shuffled.item_vocab, table.item_vocab)
        self.assertAllEqual(shuffled.users, table.users[order])
        self.assertAllEqual(shuffled.items, table.items[order])

    def test_feature_columns_follow_the_vocabularies(self):
        table = _table()
        # One value per remapped id; user '7' has no age, '99' has no rows.
        self.assertEqual(table.user_features, {"age": [30, None, 45]})
        self.assertEqual(table.item_features, {"year": [None, None, 1999]})

    def test_without_features(self):
        table = interactions_lib.from_raw_ids(["1"], ["1"], [1.0])
        self.assertEqual(table.user_features, {})
        self.assertEqual(table.item_features, {})
        self.assertEqual(table.name, "interactions")

    def test_columns_of_different_lengths_are_rejected(self):
        with self.assertRaisesRegex(
            ValueError, r"Interactions.ratings has 1 entries, expected 2"
        ):
            interactions_lib.from_raw_ids(["1", "2"], ["1", "1"], [1.0])
        with self.assertRaisesRegex(
            ValueError, r"Interactions.timestamps has 3 entries, expected 2"
        ):
            interactions_lib.from_raw_ids(["1", "2"], ["1", "1"], [1.0, 2.0], [1, 2, 3])


class InteractionsTest(tf.test.TestCase):
    def test_stats(self):
        self.assertEqual(
            _table().stats(),
            # (4 + 3 + 1 + 5) / 4 = 3.25.
            {"interactions": 4, "users": 3, "items": 3, "mean_rating": 3.25},
        )

    def test_stats_of_an_empty_table(self):
        empty = interactions_lib.from_raw_ids([], [], [])
        self.assertEqual(
            empty.stats(),
            {"interactions": 0, "users": 0, "items": 0, "mean_rating": 0.0},
        )

    def test_subset_keeps_the_vocabularies(self):
        table = _table()
        subset = table.subset(np.array([3, 0]))
        self.assertAllEqual(subset.users, [0, 2])
        self.assertAllEqual(subset.items, [2, 1])
        self.assertAllEqual(subset.ratings, [5.0, 4.0])
        self.assertAllEqual(subset.timestamps, [25, 40])
        self.assertEqual(subset.user_vocab, table.user_vocab)
        self.assertEqual(subset.item_features, table.item_features)
        # The vocabulary still counts user '7', who has no row left.
        self.assertEqual(subset.stats()["users"], 3)


if __name__ == "__main__":
    tf.test.main()


def test_duplicate_pairs_keep_the_latest_row():
    data = interactions_lib.from_raw_ids(
        ["a", "a", "b", "a", "b"],
        ["x", "x", "x", "y", "x"],
        [1.0, 2.0, 3.0, 4.0, 5.0],
        [10, 30, 5, 7, 5],
    )
    kept, dropped = interactions_lib.drop_duplicate_pairs(data)
    assert dropped == 2
    # (a, x): time 30 wins; (b, x): equal times, the later row wins.
    assert kept.ratings.tolist() == [2.0, 4.0, 5.0]
    untimed = dataclasses.replace(data, timestamps=None)
    kept, dropped = interactions_lib.drop_duplicate_pairs(untimed)
    assert (dropped, kept.ratings.tolist()) == (2, [2.0, 4.0, 5.0])
    same, none = interactions_lib.drop_duplicate_pairs(kept)
    assert none == 0 and same is kept
