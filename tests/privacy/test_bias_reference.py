"""The bias-only model released with user-level DP (`bias_reference`)."""

import numpy as np
import pytest

from tests import synthetic
from tff_rec.data import interactions
from tff_rec.privacy import bias_reference


@pytest.fixture(name="train")
def _train():
    return synthetic.make_interactions(num_users=25, num_items=15, per_user=8)


@pytest.mark.parametrize("clip", [0.3, 1.0, 5.0])
def test_one_user_moves_the_statistics_by_at_most_the_clip(train, clip):
    def stacked(data):
        count, total = bias_reference.item_bias_statistics(
            data, clip=clip, prior=3.0, user_l2=5.0
        )
        return np.concatenate([count, total])

    full = stacked(train)
    moves = [
        np.linalg.norm(full - stacked(train.subset(np.flatnonzero(train.users != u))))
        for u in range(train.num_users)
    ]
    assert max(moves) <= clip * (1 + 1e-9)
    # The bound is reached by users whose part was scaled down.
    assert max(moves) > 0.5 * clip


def test_statistics_without_clipping_are_counts_and_residual_sums():
    users = np.array([0, 0, 1])
    items = np.array([0, 1, 1])
    ratings = np.array([5.0, 3.0, 2.0], np.float32)
    train = interactions.Interactions(
        users=users,
        items=items,
        ratings=ratings,
        timestamps=None,
        user_vocab=["a", "b"],
        item_vocab=["x", "y"],
    )
    count, total = bias_reference.item_bias_statistics(
        train, clip=1e6, prior=3.0, user_l2=2.0
    )
    # b_0 = (2 + 0) / (2 + 2) = 0.5; b_1 = -1 / (1 + 2) = -1/3.
    np.testing.assert_allclose(count, [1.0, 2.0])
    np.testing.assert_allclose(total, [2.0 - 0.5, (0.0 - 0.5) + (-1.0 + 1 / 3)])


def test_noise_costs_accuracy(train):
    test = train.subset(np.arange(0, len(train), 4))

    def rmse(noise_multiplier):
        return np.mean(
            [
                bias_reference.private_bias_only_rmse(
                    train,
                    test,
                    noise_multiplier=noise_multiplier,
                    clip=1.0,
                    prior=3.0,
                    item_l2=1.0,
                    rng=np.random.default_rng(draw),
                )
                for draw in range(20)
            ]
        )

    assert rmse(10.0) > rmse(0.1) + 0.05
