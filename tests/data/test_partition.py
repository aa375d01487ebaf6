"""Tests for tff_rec.data.partition."""

from __future__ import annotations

from unittest import mock

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition

_GENRES = ("Action", "Comedy", "Drama", "Horror")
_OCCUPATIONS = ("student", "engineer", "artist", "other")


def _synthetic(num_users: int = 50, num_items: int = 30, seed: int = 0):
    """Users with 1..30 items; zip codes with 10 digit prefixes plus oddities."""
    rng = np.random.default_rng(seed)
    raw_users, raw_items, ratings = [], [], []
    for u in range(num_users):
        n = 1 + (u * 7) % num_items
        for i in rng.choice(num_items, size=n, replace=False):
            raw_users.append(f"u{u}")
            raw_items.append(f"i{i}")
            ratings.append(float(rng.integers(1, 6)))
    zip_codes = {f"u{u}": f"{u % 10}{u:04d}" for u in range(num_users)}
    zip_codes["u3"] = "T8H1N"  # Canadian: no digit prefix.
    del zip_codes["u13"]  # Missing.
    user_features = {
        "zip_code": zip_codes,
        "occupation": {f"u{u}": _OCCUPATIONS[u % 4] for u in range(num_users)},
        "gender": {f"u{u}": "MF"[u % 2] for u in range(num_users)},
    }
    item_features = {
        "genres": {
            f"i{i}": () if i == 0 else (_GENRES[i % 4], _GENRES[(i + 1) % 4])
            for i in range(num_items)
        }
    }
    return interactions_lib.from_raw_ids(
        raw_users,
        raw_items,
        ratings,
        rng.permutation(len(raw_users)),
        user_features=user_features,
        item_features=item_features,
    )


_ALL_PARTITIONS = (
    ("user", partition.PartitionType.USER, {}),
    ("attribute", partition.PartitionType.ATTRIBUTE, {}),
    ("attribute_merged", partition.PartitionType.ATTRIBUTE, {"num_clients": 4}),
    ("attribute_occupation", "attribute", {"attribute": "occupation"}),
    ("iid", partition.PartitionType.IID, {"num_clients": 7}),
    ("dirichlet", partition.PartitionType.DIRICHLET, {"num_clients": 7}),
    ("dirichlet_occupation", "dirichlet", {"num_clients": 5, "label": "occupation"}),
)


class PartitionInvariantsTest(parameterized.TestCase):
    @parameterized.named_parameters(*_ALL_PARTITIONS)
    def test_each_row_in_exactly_one_client(self, partition_type, kwargs):
        data = _synthetic()
        p = partition.make_partition(data, partition_type, **kwargs)
        self.assertEqual(p.sizes().sum(), len(data))
        np.testing.assert_array_equal(
            np.sort(np.concatenate(p.client_indices)), np.arange(len(data))
        )
        self.assertTrue(all(len(i) > 0 for i in p.client_indices))
        self.assertLen(p.client_ids, p.num_clients)
        self.assertLen(set(p.client_ids), p.num_clients)

    @parameterized.named_parameters(*_ALL_PARTITIONS)
    def test_user_never_split_across_clients(self, partition_type, kwargs):
        data = _synthetic()
        p = partition.make_partition(data, partition_type, **kwargs)
        users = np.concatenate([p.users_of(k, data) for k in range(p.num_clients)])
        self.assertLen(users, len(set(users.tolist())))
        self.assertLen(users, len(np.unique(data.users)))

    @parameterized.named_parameters(*_ALL_PARTITIONS)
    def test_reproducible(self, partition_type, kwargs):
        data = _synthetic()
        a = partition.make_partition(data, partition_type, **kwargs)
        b = partition.make_partition(data, partition_type, **kwargs)
        self.assertEqual(a.client_ids, b.client_ids)
        for x, y in zip(a.client_indices, b.client_indices, strict=False):
            np.testing.assert_array_equal(x, y)

    @parameterized.named_parameters(*_ALL_PARTITIONS)
    def test_logs_summary(self, partition_type, kwargs):
        with mock.patch.object(
            partition.logging, "info", wraps=partition.logging.info
        ) as info:
            p = partition.make_partition(_synthetic(), partition_type, **kwargs)
        info.assert_called_once_with("%s", p.summary())


class PartitionDataclassTest(absltest.TestCase):
    def test_stats_and_summary(self):
        p = partition.Partition(
            client_ids=("a", "b", "c"),
            client_indices=(np.array([0, 3]), np.array([1]), np.array([2, 4, 5, 6])),
            partition_type=partition.PartitionType.IID,
            description="iid partition (seed=0)",
        )
        self.assertEqual(p.num_clients, 3)
        np.testing.assert_array_equal(p.sizes(), [2, 1, 4])
        self.assertEqual(
            p.stats(),
            {
                "num_clients": 3,
                "min_examples": 1,
                "median_examples": 2.0,
                "max_examples": 4,
                "total_examples": 7,
            },
        )
        self.assertEqual(
            p.summary(),
            "iid partition (seed=0): 3 clients, examples per client min 1 / "
            "median 2 / max 4, 7 in total",
        )

    def test_users_of(self):
        data = interactions_lib.from_raw_ids(
            ["b", "a", "b", "c"], ["x", "y", "z", "x"], [1.0] * 4
        )
        p = partition.Partition(
            ("k0", "k1"),
            (np.array([0, 1, 2]), np.array([3])),
            partition.PartitionType.IID,
            "",
        )
        np.testing.assert_array_equal(p.users_of(0, data), [0, 1])
        np.testing.assert_array_equal(p.users_of(1, data), [2])


class PartitionByUserTest(absltest.TestCase):
    def test_one_client_per_active_user(self):
        data = _synthetic()
        train = data.subset(np.flatnonzero(data.users >= 5))
        p = partition.partition_by_user(train)
        self.assertEqual(p.num_clients, data.num_users - 5)
        self.assertEqual(p.client_ids, tuple(data.user_vocab[5:]))
        for k in range(p.num_clients):
            np.testing.assert_array_equal(p.users_of(k, train), [k + 5])


class PartitionByAttributeTest(parameterized.TestCase):
    def test_zip_prefix_groups(self):
        data = _synthetic()
        p = partition.partition_by_attribute(data)
        self.assertEqual(p.client_ids, tuple("0123456789") + ("other",))
        other = p.client_ids.index("other")
        users = {data.user_vocab[u] for u in p.users_of(other, data)}
        self.assertEqual(users, {"u3", "u13"})
        three = {data.user_vocab[u] for u in p.users_of(3, data)}
        self.assertEqual(three, {"u23", "u33", "u43"})

    def test_user_feature_groups(self):
        data = _synthetic()
        p = partition.partition_by_attribute(data, attribute="gender")
        self.assertEqual(p.client_ids, ("F", "M"))
        for k, gender in enumerate(p.client_ids):
            for u in p.users_of(k, data):
                self.assertEqual(data.user_features["gender"][u], gender)

    def test_merges_smallest_groups(self):
        # Group sizes in rows: a=1, b=2, c=3, d=10.
        users = ["u1"] + ["u2"] * 2 + ["u3"] * 3 + ["u4"] * 10
        items = [f"i{i}" for i in range(len(users))]
        region = {"u1": "a", "u2": "b", "u3": "c", "u4": "d"}
        data = interactions_lib.from_raw_ids(
            users, items, [1.0] * len(users), user_features={"region": region}
        )
        three = partition.partition_by_attribute(
            data, attribute="region", num_clients=3
        )
        self.assertEqual(three.client_ids, ("a+b", "c", "d"))
        np.testing.assert_array_equal(three.sizes(), [3, 3, 10])
        # Next the two groups of size 3 merge: a+b with c.
        two = partition.partition_by_attribute(data, attribute="region", num_clients=2)
        self.assertEqual(two.client_ids, ("a+b+c", "d"))
        one = partition.partition_by_attribute(data, attribute="region", num_clients=1)
        self.assertEqual(one.client_ids, ("a+b+c+d",))

    @parameterized.parameters(1, 4, 11)
    def test_num_clients_honored(self, num_clients):
        p = partition.make_partition(_synthetic(), "attribute", num_clients=num_clients)
        self.assertEqual(p.num_clients, num_clients)

    def test_too_many_clients_raises(self):
        with self.assertRaisesRegex(
            errors.UserInputError, "num_clients=12 exceeds the 11 groups.*zip_prefix"
        ):
            partition.partition_by_attribute(_synthetic(), num_clients=12)

    def test_missing_feature_names_available(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "'age'.*available: 'gender', 'occupation', 'zip_code', 'zip_prefix'",
        ):
            partition.make_partition(_synthetic(), "attribute", attribute="age")


class PartitionIidTest(parameterized.TestCase):
    @parameterized.parameters(1, 3, 7, 50)
    def test_equal_user_counts(self, num_clients):
        data = _synthetic()
        p = partition.partition_iid(data, num_clients=num_clients)
        self.assertEqual(p.num_clients, num_clients)
        users_per_client = [len(p.users_of(k, data)) for k in range(num_clients)]
        self.assertLessEqual(max(users_per_client) - min(users_per_client), 1)
        self.assertEqual(sum(users_per_client), 50)

    def test_seed_changes_partition(self):
        data = _synthetic()
        a = partition.partition_iid(data, num_clients=5, seed=1)
        b = partition.partition_iid(data, num_clients=5, seed=2)
        self.assertNotEqual(
            [a.users_of(k, data).tolist() for k in range(5)],
            [b.users_of(k, data).tolist() for k in range(5)],
        )

    def test_client_ids_zero_padded(self):
        p = partition.partition_iid(_synthetic(), num_clients=12)
        self.assertEqual(p.client_ids[0], "client_00")
        self.assertEqual(p.client_ids[-1], "client_11")


class PartitionDirichletTest(parameterized.TestCase):
    @parameterized.product(
        num_clients=[2, 10, 50], alpha=[0.01, 0.5, 100.0], label=["genre", "gender"]
    )
    def test_no_empty_client(self, num_clients, alpha, label):
        data = _synthetic()
        p = partition.partition_dirichlet(
            data, num_clients=num_clients, alpha=alpha, label=label
        )
        self.assertEqual(p.num_clients, num_clients)
        self.assertTrue(all(len(i) > 0 for i in p.client_indices))

    def test_seed_changes_partition(self):
        data = _synthetic()
        a = partition.partition_dirichlet(data, num_clients=5, seed=1)
        b = partition.partition_dirichlet(data, num_clients=5, seed=2)
        self.assertNotEqual(
            [a.users_of(k, data).tolist() for k in range(5)],
            [b.users_of(k, data).tolist() for k in range(5)],
        )

    def test_small_alpha_skews_labels(self):
        # With tiny alpha each label's users land (almost) all in one client.
        data = _synthetic(num_users=200)
        p = partition.partition_dirichlet(
            data, num_clients=4, alpha=1e-3, label="occupation"
        )
        occupation = np.array(data.user_features["occupation"])
        for value in _OCCUPATIONS:
            clients = [
                k
                for k in range(p.num_clients)
                if value in occupation[p.users_of(k, data)]
            ]
            self.assertLessEqual(len(clients), 2, msg=value)

    def test_missing_genres_raises(self):
        data = interactions_lib.from_raw_ids(["a", "b"], ["x", "y"], [1.0, 2.0])
        with self.assertRaisesRegex(errors.UserInputError, "item feature 'genres'"):
            partition.make_partition(data, "dirichlet", num_clients=2)

    def test_unknown_label_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "label='age'.*available"):
            partition.make_partition(
                _synthetic(), "dirichlet", num_clients=2, label="age"
            )

    @parameterized.parameters(0.0, -1.0)
    def test_bad_alpha_raises(self, alpha):
        with self.assertRaisesRegex(errors.UserInputError, "alpha must be"):
            partition.make_partition(
                _synthetic(), "dirichlet", num_clients=2, alpha=alpha
            )


class MakePartitionErrorsTest(parameterized.TestCase):
    def test_bad_type_lists_allowed_values(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "'random'.*'user', 'attribute', 'iid', 'dirichlet'",
        ):
            partition.make_partition(_synthetic(), "random")

    @parameterized.parameters("iid", "dirichlet")
    def test_missing_num_clients_raises(self, partition_type):
        with self.assertRaisesRegex(errors.UserInputError, "needs num_clients"):
            partition.make_partition(_synthetic(), partition_type)

    @parameterized.product(
        partition_type=["attribute", "iid", "dirichlet"], num_clients=[0, -3]
    )
    def test_num_clients_below_one_raises(self, partition_type, num_clients):
        with self.assertRaisesRegex(errors.UserInputError, "at least 1"):
            partition.make_partition(
                _synthetic(), partition_type, num_clients=num_clients
            )

    @parameterized.parameters("iid", "dirichlet")
    def test_more_clients_than_users_raises(self, partition_type):
        with self.assertRaisesRegex(
            errors.UserInputError, "num_clients=51 exceeds the 50 users"
        ):
            partition.make_partition(_synthetic(), partition_type, num_clients=51)

    def test_num_clients_for_user_partition_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "one client per user"):
            partition.make_partition(_synthetic(), "user", num_clients=10)

    def test_non_integer_num_clients_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "must be an integer"):
            partition.make_partition(_synthetic(), "iid", num_clients=2.5)


if __name__ == "__main__":
    absltest.main()
