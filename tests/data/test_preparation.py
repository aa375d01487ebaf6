"""Tests of `prepare`: a run's data loaded, split and partitioned consistently."""

from __future__ import annotations

import numpy as np
import pytest

from tests import synthetic
from tff_rec.data import config as data_config
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import preparation
from tff_rec.data import splits

# 10 users with 5 ratings each: 50 rows.
_USERS, _ITEMS, _PER_USER = 10, 8, 5


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return synthetic.write_csv(
        tmp_path_factory.mktemp("data") / "ratings.csv",
        num_users=_USERS,
        num_items=_ITEMS,
        per_user=_PER_USER,
    )


def _prepare(csv_path, **options):
    config = data_config.DataConfig(dataset="csv", data_dir=str(csv_path), **options)
    return preparation.prepare(config, seed=0)


def test_holdout_split_partition_and_clients_agree(csv_path):
    data = _prepare(csv_path)
    assert len(data.interactions) == _USERS * _PER_USER
    assert data.interactions.num_users == _USERS
    # round(5 * 0.2) = 1 test rating per user.
    assert len(data.split.test) == _USERS
    assert len(data.split.train) == _USERS * (_PER_USER - 1)
    assert data.split.test_history is None
    # One client per user, holding that user's 4 training rows.
    assert data.partition.num_clients == _USERS
    assert data.federated.num_clients == _USERS
    assert data.federated.client_ids == data.partition.client_ids
    assert data.federated.max_users_per_client == 1
    assert len(data.federated.ratings) == len(data.split.train)
    for k, rows in enumerate(data.partition.client_indices):
        assert data.federated.client_size(k) == len(rows) == _PER_USER - 1
        client_rows = data.federated.client_rows(k)
        np.testing.assert_array_equal(
            data.federated.users[client_rows], data.split.train.users[rows]
        )
        np.testing.assert_array_equal(
            data.federated.ratings[client_rows], data.split.train.ratings[rows]
        )
    # The history of a holdout split is its training table.
    assert data.history is data.split.train


def test_summary(csv_path):
    data = _prepare(csv_path)
    summary = data.summary()
    assert list(summary) == [
        "num_clients",
        "partition",
        "rating_scale",
        "duplicates_dropped",
    ]
    assert summary["rating_scale"] is None  # A CSV file without --rating_scale.
    assert summary["duplicates_dropped"] == 0
    assert summary["num_clients"] == _USERS
    assert summary["partition"] == {
        "num_clients": _USERS,
        "min_examples": _PER_USER - 1,
        "median_examples": float(_PER_USER - 1),
        "max_examples": _PER_USER - 1,
        "total_examples": _USERS * (_PER_USER - 1),
    }


def test_held_out_users_history_adds_their_history(csv_path):
    data = _prepare(csv_path, split="held_out_users")
    split = data.split
    assert split.split_type is splits.SplitType.HELD_OUT_USERS
    # round(0.1 * 10) = 1 user held out; round(5 * 0.5) = 2 (ties to even) of
    # their 5 ratings are history, 3 are scored.
    assert len(split.train) == (_USERS - 1) * _PER_USER
    assert len(split.test_history) == 2
    assert len(split.test) == 3
    held_out = set(split.test.users)
    assert len(held_out) == 1
    assert set(split.test_history.users) == held_out
    assert not held_out & set(split.train.users)
    # Only the training users become clients.
    assert data.partition.num_clients == data.federated.num_clients == _USERS - 1
    assert len(data.federated.ratings) == len(split.train)

    history = data.history
    expected = preparation.training_history(split)
    np.testing.assert_array_equal(history.users, expected.users)
    n = len(split.train)
    assert len(history) == n + 2
    for field in ("users", "items", "ratings", "timestamps"):
        np.testing.assert_array_equal(
            getattr(history, field)[:n], getattr(split.train, field)
        )
        np.testing.assert_array_equal(
            getattr(history, field)[n:], getattr(split.test_history, field)
        )
    assert history.user_vocab == split.train.user_vocab


def test_training_history_without_timestamps():
    # Three users with two ratings each; one user held out, one of their two
    # ratings is history (round(2 * 0.5) = 1).
    table = interactions_lib.from_raw_ids(
        ["a", "a", "b", "b", "c", "c"],
        ["x", "y", "x", "z", "y", "z"],
        [1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
    )
    split = splits.held_out_users(
        table, user_fraction=0.34, history_fraction=0.5, seed=0
    )
    history = preparation.training_history(split)
    assert len(split.train) == 4
    assert len(history) == 5
    assert history.timestamps is None
    assert sorted(history.ratings.tolist()) == sorted(
        split.train.ratings.tolist() + split.test_history.ratings.tolist()
    )
