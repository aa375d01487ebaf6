import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.data import client_data
from tff_rec.data import negatives
from tff_rec.data import partition


class SampleUnseenTest(tf.test.TestCase):
    def test_never_returns_a_seen_item(self):
        rng = np.random.default_rng(0)
        num_items = 12
        users = rng.integers(0, 5, size=40)
        items = rng.integers(0, num_items, size=40)
        seen = negatives.seen_keys(users, items, num_items)
        drawn = negatives.sample_unseen(rng, users, seen, num_items, 7)
        self.assertEqual(drawn.shape, (40, 7))
        seen_pairs = set(zip(users.tolist(), items.tolist(), strict=True))
        for u, row in zip(users, drawn, strict=True):
            for item in row:
                self.assertNotIn((int(u), int(item)), seen_pairs)
                self.assertBetween(int(item), 0, num_items - 1)

    def test_user_with_one_unseen_item_always_gets_it(self):
        users = np.zeros(4, np.int64)
        items = np.array([0, 1, 2, 4])
        seen = negatives.seen_keys(users, items, 5)
        drawn = negatives.sample_unseen(np.random.default_rng(1), users, seen, 5, 3)
        self.assertTrue(np.all(drawn == 3))

    def test_user_who_saw_everything_is_an_error(self):
        users = np.array([0, 0, 0, 1])
        items = np.array([0, 1, 2, 0])
        seen = negatives.seen_keys(users, items, 3)
        with self.assertRaisesRegex(errors.UserInputError, r"users \[0\]"):
            negatives.sample_unseen(np.random.default_rng(0), users, seen, 3, 2)


class WithNegativesTest(tf.test.TestCase):
    def test_groups_of_positive_then_negatives(self):
        users = np.array([0, 0, 1, 1, 1])
        items = np.array([0, 1, 2, 3, 4])
        rows, out_users, out_items, labels = negatives.with_negatives(
            users, items, num_items=8, negatives=3, rng=np.random.default_rng(0)
        )
        self.assertLen(labels, 5 * 4)
        groups = labels.reshape(5, 4)
        np.testing.assert_array_equal(groups[:, 0], 1.0)
        np.testing.assert_array_equal(groups[:, 1:], 0.0)
        # Each group is one positive (all rows point to it) and its user.
        self.assertEqual(sorted(rows[::4].tolist()), [0, 1, 2, 3, 4])
        np.testing.assert_array_equal(
            rows.reshape(5, 4).T, rows[::4][None].repeat(4, 0)
        )
        np.testing.assert_array_equal(out_items[::4], items[rows[::4]])
        np.testing.assert_array_equal(out_users, users[rows])
        for u, item, label in zip(out_users, out_items, labels, strict=True):
            if label == 0:
                self.assertNotIn(item, items[users == u])

    def test_seeded_and_shuffled_by_group(self):
        users = np.repeat(np.arange(10), 5)
        items = np.tile(np.arange(5), 10)

        def draw(seed, shuffle=True):
            return negatives.with_negatives(
                users,
                items,
                num_items=40,
                negatives=2,
                rng=np.random.default_rng(seed),
                shuffle=shuffle,
            )

        for a, b in zip(draw(3), draw(3), strict=True):
            np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(draw(3)[2], draw(4)[2]))
        np.testing.assert_array_equal(draw(3, shuffle=False)[0][::3], np.arange(50))
        self.assertFalse(np.array_equal(draw(3)[0][::3], np.arange(50)))

    def test_negatives_must_be_positive(self):
        with self.assertRaisesRegex(errors.UserInputError, "negatives must be >= 1"):
            negatives.with_negatives(
                np.zeros(2),
                np.arange(2),
                num_items=5,
                negatives=0,
                rng=np.random.default_rng(0),
            )


class ImplicitBatchesTest(parameterized.TestCase, tf.test.TestCase):
    def setUp(self):
        super().setUp()
        interactions = synthetic.make_interactions(
            num_users=12, num_items=30, per_user=8
        )
        part = partition.make_partition(interactions, "iid", num_clients=3, seed=0)
        self.data = client_data.build_federated_data(interactions, part)
        self.num_items = interactions.num_items

    def _examples(self, k, **kwargs):
        dataset = negatives.implicit_batches(
            self.data, k, num_items=self.num_items, **kwargs
        )
        batches = list(dataset.as_numpy_iterator())
        x = {
            key: np.concatenate([b["x"][key] for b in batches])
            for key in batches[0]["x"]
        }
        return batches, x, np.concatenate([b["y"][:, 0] for b in batches])

    def test_negatives_come_from_the_clients_own_unseen_items(self):
        batches, x, y = self._examples(
            1, negatives=3, batch_size=4, seed=0, round_num=2
        )
        rows = self.data.client_rows(1)
        self.assertLen(y, 4 * (rows.stop - rows.start))
        self.assertEqual(y.sum(), rows.stop - rows.start)
        for b in batches[:-1]:
            self.assertLen(b["y"], 4 * 4)  # batch_size positives, whole groups
        own = {
            (int(u), int(i))
            for u, i in zip(self.data.users[rows], self.data.items[rows], strict=True)
        }
        for u, i, label in zip(x["user"], x["item"], y, strict=True):
            self.assertEqual((int(u), int(i)) in own, label == 1)
        self.assertEqual(set(x["user"].tolist()), set(self.data.users[rows].tolist()))

    def test_redrawn_each_round_reproducible_per_seed(self):
        first = self._examples(0, seed=5, round_num=1)[1]["item"]
        np.testing.assert_array_equal(
            first, self._examples(0, seed=5, round_num=1)[1]["item"]
        )
        self.assertFalse(
            np.array_equal(first, self._examples(0, seed=5, round_num=2)[1]["item"])
        )
        self.assertFalse(
            np.array_equal(first, self._examples(0, seed=6, round_num=1)[1]["item"])
        )

    def test_local_user_ids_and_user_columns(self):
        age = np.arange(self.data.users.max() + 1) * 10
        _, x, _ = self._examples(
            2, user_key="local_user", user_columns={"age": age}, round_num=1
        )
        rows = self.data.client_rows(2)
        self.assertEqual(
            set(x["user"].tolist()), set(self.data.local_users[rows].tolist())
        )
        self.assertLess(x["user"].max(), self.data.max_users_per_client)
        self.assertEqual(
            set(x["age"].tolist()), set((self.data.users[rows] * 10).tolist())
        )

    def test_bad_user_key(self):
        with self.assertRaisesRegex(ValueError, "user_key"):
            negatives.implicit_batches(self.data, 0, num_items=30, user_key="id")


if __name__ == "__main__":
    tf.test.main()
