"""Tests for tff_rec.data.splits."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import splits


def _synthetic(num_users: int = 50, num_items: int = 30, seed: int = 0):
    """Users with 1..30 distinct items each, unique timestamps."""
    rng = np.random.default_rng(seed)
    raw_users, raw_items, ratings = [], [], []
    for u in range(num_users):
        n = 1 + (u * 7) % num_items
        for i in rng.choice(num_items, size=n, replace=False):
            raw_users.append(f"u{u}")
            raw_items.append(f"i{i}")
            ratings.append(float(rng.integers(1, 6)))
    timestamps = rng.permutation(len(raw_users)) * 10 + 1000
    return interactions_lib.from_raw_ids(raw_users, raw_items, ratings, timestamps)


def _row_set(table: interactions_lib.Interactions) -> set[tuple[str, str, int]]:
    return {
        (table.user_vocab[u], table.item_vocab[i], int(t))
        for u, i, t in zip(table.users, table.items, table.timestamps, strict=False)
    }


def _per_user(table: interactions_lib.Interactions) -> collections.Counter:
    return collections.Counter(table.user_vocab[u] for u in table.users)


_ALL_SPLITS = (
    ("holdout", splits.SplitType.HOLDOUT),
    ("leave_last_out", splits.SplitType.LEAVE_LAST_OUT),
    ("held_out_users", splits.SplitType.HELD_OUT_USERS),
)


class SplitInvariantsTest(parameterized.TestCase):
    @parameterized.named_parameters(*_ALL_SPLITS)
    def test_indices_are_disjoint_and_cover_all_rows(self, split_type):
        data = _synthetic()
        split = splits.make_split(data, split_type)
        parts = [split.train_indices, split.test_indices]
        if split.test_history is not None:
            parts.append(split.test_history_indices)
        all_indices = np.concatenate(parts)
        np.testing.assert_array_equal(np.sort(all_indices), np.arange(len(data)))
        self.assertEqual(split.split_type, split_type)

    @parameterized.named_parameters(*_ALL_SPLITS)
    def test_no_test_row_in_train(self, split_type):
        split = splits.make_split(_synthetic(), split_type)
        train_rows = _row_set(split.train)
        self.assertGreater(len(split.test), 0)
        self.assertEmpty(_row_set(split.test) & train_rows)
        if split.test_history is not None:
            self.assertEmpty(_row_set(split.test_history) & train_rows)

    @parameterized.named_parameters(*_ALL_SPLITS)
    def test_tables_match_indices(self, split_type):
        data = _synthetic()
        split = splits.make_split(data, split_type)
        np.testing.assert_array_equal(
            split.train.users, data.users[split.train_indices]
        )
        np.testing.assert_array_equal(split.test.items, data.items[split.test_indices])
        self.assertEqual(split.train.user_vocab, data.user_vocab)

    @parameterized.named_parameters(*_ALL_SPLITS)
    def test_accepts_string_value(self, split_type):
        data = _synthetic()
        by_enum = splits.make_split(data, split_type, seed=3)
        by_string = splits.make_split(data, split_type.value, seed=3)
        np.testing.assert_array_equal(by_enum.test_indices, by_string.test_indices)


class RandomHoldoutTest(parameterized.TestCase):
    @parameterized.named_parameters(("default", None, 0.2), ("half", 0.5, 0.5))
    def test_per_user_test_counts(self, test_fraction, expected_fraction):
        data = _synthetic()
        split = splits.random_holdout(data, test_fraction=test_fraction)
        totals = _per_user(data)
        tests = _per_user(split.test)
        trains = _per_user(split.train)
        for user, n in totals.items():
            expected = min(round(n * expected_fraction), n - 1)
            self.assertEqual(tests.get(user, 0), expected, msg=f"user {user}, n={n}")
            self.assertGreaterEqual(trains[user], 1)

    def test_hand_computed(self):
        # a: 1 interaction -> none in test; b: 10 -> round(2.0) = 2;
        # c: 2 -> round(0.4) = 0.
        users = ["a"] + ["b"] * 10 + ["c"] * 2
        items = ["x"] + [f"y{i}" for i in range(10)] + ["z0", "z1"]
        data = interactions_lib.from_raw_ids(users, items, [1.0] * 13, range(13))
        split = splits.random_holdout(data, test_fraction=0.2, seed=7)
        self.assertEqual(_per_user(split.test), {"b": 2})
        self.assertLen(split.train, 11)
        self.assertIsNone(split.test_history)

    def test_same_seed_same_split(self):
        data = _synthetic()
        a = splits.random_holdout(data, seed=5)
        b = splits.random_holdout(data, seed=5)
        np.testing.assert_array_equal(a.test_indices, b.test_indices)

    def test_different_seed_different_split(self):
        data = _synthetic()
        a = splits.random_holdout(data, seed=5)
        b = splits.random_holdout(data, seed=6)
        self.assertNotEqual(set(a.test_indices), set(b.test_indices))

    def test_independent_of_row_order(self):
        data = _synthetic()
        permuted = data.subset(np.random.default_rng(1).permutation(len(data)))
        a = splits.random_holdout(data, seed=2)
        b = splits.random_holdout(permuted, seed=2)
        self.assertEqual(_row_set(a.test), _row_set(b.test))

    def test_user_split_independent_of_other_users(self):
        data = _synthetic()
        kept_users = {f"u{u}" for u in range(0, 50, 2)}
        keep = [i for i, u in enumerate(data.users) if data.user_vocab[u] in kept_users]
        a = splits.random_holdout(data, seed=4)
        b = splits.random_holdout(data.subset(np.array(keep)), seed=4)
        kept_test = {r for r in _row_set(a.test) if r[0] in kept_users}
        self.assertNotEmpty(kept_test)
        self.assertEqual(kept_test, _row_set(b.test))

    @parameterized.named_parameters(
        ("zero", 0.0), ("one", 1.0), ("above", 1.5), ("negative", -0.1)
    )
    def test_bad_fraction_raises(self, test_fraction):
        with self.assertRaisesRegex(errors.UserInputError, r"test_fraction.*\(0, 1\)"):
            splits.make_split(_synthetic(), "holdout", test_fraction=test_fraction)

    def test_no_timestamps_is_fine(self):
        data = dataclasses.replace(_synthetic(), timestamps=None)
        split = splits.random_holdout(data)
        self.assertEqual(len(split.train) + len(split.test), len(data))


class LeaveLastOutTest(parameterized.TestCase):
    def test_picks_latest(self):
        data = _synthetic()
        split = splits.leave_last_out(data)
        counts = np.bincount(data.users)
        expected = set()
        for u in np.flatnonzero(counts > 1):
            rows = np.flatnonzero(data.users == u)
            expected.add(int(rows[np.argmax(data.timestamps[rows])]))
        self.assertEqual(set(split.test_indices.tolist()), expected)

    @parameterized.parameters(1, 2, 3)
    def test_num_test(self, num_test):
        data = _synthetic()
        split = splits.leave_last_out(data, num_test=num_test)
        totals = _per_user(data)
        tests = _per_user(split.test)
        for user, n in totals.items():
            self.assertEqual(tests.get(user, 0), num_test if n > num_test else 0)
        # Every test interaction is later than the user's training ones.
        for u in np.unique(split.test.users):
            last_train = split.train.timestamps[split.train.users == u].max()
            first_test = split.test.timestamps[split.test.users == u].min()
            self.assertGreater(first_test, last_train)

    def test_ties_broken_by_row_order(self):
        data = interactions_lib.from_raw_ids(
            ["a", "a", "a", "b"], ["x", "y", "z", "x"], [1.0] * 4, [5, 9, 9, 1]
        )
        split = splits.leave_last_out(data)
        np.testing.assert_array_equal(split.test_indices, [2])
        np.testing.assert_array_equal(split.train_indices, [0, 1, 3])

    def test_no_timestamps_raises(self):
        data = dataclasses.replace(_synthetic(), timestamps=None)
        with self.assertRaisesRegex(errors.UserInputError, "timestamps"):
            splits.make_split(data, splits.SplitType.LEAVE_LAST_OUT)

    def test_timestamps_that_order_nothing_raise(self):
        data = _synthetic()
        data = dataclasses.replace(data, timestamps=np.zeros_like(data.timestamps))
        with self.assertRaisesRegex(errors.UserInputError, "every timestamp.*is 0"):
            splits.make_split(data, splits.SplitType.LEAVE_LAST_OUT)

    def test_bad_num_test_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "num_test.*got 0"):
            splits.leave_last_out(_synthetic(), num_test=0)


class RandomLeaveOneOutTest(parameterized.TestCase):
    @parameterized.parameters(1, 2)
    def test_num_test_per_user(self, num_test):
        data = _synthetic()
        split = splits.make_split(
            data, "random_leave_one_out", seed=3, num_test=num_test
        )
        self.assertEqual(split.split_type, splits.SplitType.RANDOM_LEAVE_ONE_OUT)
        totals, tests = _per_user(data), _per_user(split.test)
        for user, n in totals.items():
            self.assertEqual(tests.get(user, 0), num_test if n > num_test else 0)
        self.assertLen(data, len(split.train) + len(split.test))

    def test_seeded_and_independent_of_row_order(self):
        data = _synthetic()
        a = splits.random_leave_one_out(data, seed=1)
        b = splits.random_leave_one_out(data, seed=1)
        np.testing.assert_array_equal(a.test_indices, b.test_indices)
        c = splits.random_leave_one_out(data, seed=2)
        self.assertFalse(np.array_equal(a.test_indices, c.test_indices))
        shuffled = data.subset(np.random.default_rng(0).permutation(len(data)))
        pairs = {(u, i) for u, i in zip(a.test.users, a.test.items, strict=True)}
        again = splits.random_leave_one_out(shuffled, seed=1).test
        self.assertEqual(
            pairs, {(u, i) for u, i in zip(again.users, again.items, strict=True)}
        )

    def test_works_without_ordering_timestamps(self):
        data = _synthetic()
        data = dataclasses.replace(data, timestamps=np.zeros_like(data.timestamps))
        split = splits.random_leave_one_out(data, seed=0)
        self.assertNotEmpty(split.test_indices)
        # Not simply each user's last row in the file.
        last_rows = {
            int(np.flatnonzero(data.users == u)[-1]) for u in np.unique(data.users)
        }
        self.assertNotEqual(set(split.test_indices.tolist()), last_rows)


class HeldOutUsersTest(parameterized.TestCase):
    def test_held_out_users_absent_from_train(self):
        data = _synthetic()
        split = splits.held_out_users(data, user_fraction=0.2, seed=1)
        train_users = set(split.train.users.tolist())
        test_users = set(split.test.users.tolist())
        history_users = set(split.test_history.users.tolist())
        self.assertLen(test_users, 10)
        self.assertEmpty(test_users & train_users)
        self.assertEmpty(history_users & train_users)
        self.assertContainsSubset(history_users, test_users)
        self.assertLen(train_users | test_users, data.num_users)

    def test_held_out_users_keep_all_their_rows(self):
        data = _synthetic()
        split = splits.held_out_users(data, history_fraction=0.5)
        totals = _per_user(data)
        tests = _per_user(split.test)
        history = _per_user(split.test_history)
        for user, n_test in tests.items():
            n = totals[user]
            self.assertEqual(n_test + history.get(user, 0), n)
            self.assertEqual(history.get(user, 0), min(round(n * 0.5), n - 1))

    def test_zero_history_fraction(self):
        split = splits.held_out_users(_synthetic(), history_fraction=0.0)
        self.assertEmpty(split.test_history)
        self.assertLen(np.unique(split.test.users), 5)

    def test_seeded(self):
        data = _synthetic()
        a = splits.held_out_users(data, seed=1)
        b = splits.held_out_users(data, seed=1)
        c = splits.held_out_users(data, seed=2)
        np.testing.assert_array_equal(a.test_indices, b.test_indices)
        np.testing.assert_array_equal(a.test_history_indices, b.test_history_indices)
        self.assertNotEqual(set(a.test.users), set(c.test.users))

    @parameterized.named_parameters(
        ("user_zero", dict(user_fraction=0.0), "user_fraction"),
        ("user_one", dict(user_fraction=1.0), "user_fraction"),
        ("history_one", dict(history_fraction=1.0), r"history_fraction.*\[0, 1\)"),
        ("history_negative", dict(history_fraction=-0.5), "history_fraction"),
    )
    def test_bad_fraction_raises(self, kwargs, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            splits.held_out_users(_synthetic(), **kwargs)

    def test_single_user_raises(self):
        data = interactions_lib.from_raw_ids(["a", "a"], ["x", "y"], [1.0, 2.0])
        with self.assertRaisesRegex(errors.UserInputError, "at least 2 users"):
            splits.held_out_users(data)


class MakeSplitTest(absltest.TestCase):
    def test_bad_split_type_lists_allowed_values(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "'random'.*'holdout', 'leave_last_out', 'random_leave_one_out', "
            "'held_out_users'",
        ):
            splits.make_split(_synthetic(), "random")

    def test_bad_seed_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "seed"):
            splits.make_split(_synthetic(), "holdout", seed="abc")

    def test_handles_100k_rows(self):
        rng = np.random.default_rng(0)
        n = 100_000
        data = interactions_lib.Interactions(
            users=rng.integers(0, 943, n).astype(np.int32),
            items=rng.integers(0, 1682, n).astype(np.int32),
            ratings=np.ones(n, np.float32),
            timestamps=rng.integers(0, 10**9, n),
            user_vocab=tuple(str(u) for u in range(943)),
            item_vocab=tuple(str(i) for i in range(1682)),
        )
        for split_type in splits.SplitType:
            split = splits.make_split(data, split_type)
            self.assertLen(
                np.concatenate(
                    [split.train_indices, split.test_indices]
                    + (
                        []
                        if split.test_history is None
                        else [split.test_history_indices]
                    )
                ),
                n,
            )


if __name__ == "__main__":
    absltest.main()
