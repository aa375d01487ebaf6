"""The bias-only model with user-level DP: what privacy costs the simplest model.

A reference to hold a private recommender against, not a federated algorithm:
the non-personalized model ``prior + b_u + b_i`` whose item biases are
released once with the Gaussian mechanism, under the same user-level
(epsilon, delta) guarantee as a DP-FedAvg run. Every user fits its bias on its
own ratings and contributes, for every item it rated, the pair (1, residual),
its whole vector scaled to L2 norm <= ``clip``. The server adds Gaussian noise
of stddev ``noise_multiplier * clip`` to every item's weighted count and
residual sum. With every user in the one release, the noise multiplier of one
round at q = 1 (`tff_rec.privacy.accounting`) gives its (epsilon, delta).
`benchmarks/privacy_utility.py` reports it next to the federated curve.
"""

from __future__ import annotations

import numpy as np

from tff_rec.data import interactions as interactions_lib


def _user_biases(
    data: interactions_lib.Interactions, item_biases, prior: float, user_l2: float
) -> np.ndarray:
    """Each user's ridge fit of ``rating - prior - b_i`` (reconstruction)."""
    counts = np.bincount(data.users, minlength=data.num_users)
    residual = data.ratings - prior - item_biases[data.items]
    return np.bincount(data.users, residual, data.num_users) / (counts + user_l2)


def item_bias_statistics(
    train: interactions_lib.Interactions, *, clip: float, prior: float, user_l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-item weighted counts and residual sums, each user's part clipped.

    Every user fits its bias around `prior` and contributes, for every item it
    rated, the pair (1, rating - prior - b_u), its whole vector scaled to L2
    norm <= `clip`: adding or removing one user moves the two stacked
    statistics by at most `clip` in L2 norm.
    """
    b_u = _user_biases(train, np.zeros(train.num_items), prior, user_l2)
    residual = train.ratings - prior - b_u[train.users]
    norm = np.sqrt(np.bincount(train.users, 1 + residual**2, train.num_users))
    weight = np.minimum(1.0, clip / np.maximum(norm, 1e-12))[train.users]
    count = np.bincount(train.items, weight, train.num_items)
    total = np.bincount(train.items, weight * residual, train.num_items)
    return count, total


def private_bias_only_rmse(
    train: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    *,
    noise_multiplier: float,
    clip: float,
    prior: float,
    rng: np.random.Generator,
    user_l2: float = 5.0,
    item_l2: float = 3.0,
) -> float:
    """Test RMSE of ``prior + b_u + b_i`` with the item biases released once.

    The server adds Gaussian noise of stddev ``noise_multiplier * clip`` to
    every item's `item_bias_statistics` and sets ``b_i = sum / (max(count, 0)
    + item_l2)``; each user then refits its bias against these item biases,
    as reconstruction does.

    Args:
      train, test: the ratings fitted and scored.
      noise_multiplier: noise stddev over the clip (one release, q = 1).
      clip: L2 bound of one user's part of the statistics.
      prior: the public offset (e.g. the middle of the rating scale).
      rng: draws the noise.
      user_l2, item_l2: ridge shrinkage of the user and item biases.
    """
    count, total = item_bias_statistics(train, clip=clip, prior=prior, user_l2=user_l2)
    scale = noise_multiplier * clip
    count = count + rng.normal(0.0, scale, count.shape)
    total = total + rng.normal(0.0, scale, total.shape)
    b_i = total / (np.maximum(count, 0.0) + item_l2)
    b_u = _user_biases(train, b_i, prior, user_l2)
    predictions = prior + b_u[test.users] + b_i[test.items]
    return float(np.sqrt(np.mean((predictions - test.ratings) ** 2)))


def bias_only_rmse(train, test, *, l2: float = 1e-3, epochs: int = 20) -> float:
    """Test RMSE of the non-private floor ``b + b_u + b_i`` (mean rating,
    biases fitted centrally by alternating ridge updates)."""
    mean = float(np.mean(train.ratings))
    b_u = np.zeros(train.num_users)
    b_i = np.zeros(train.num_items)
    n_u = np.bincount(train.users, minlength=train.num_users)
    n_i = np.bincount(train.items, minlength=train.num_items)
    for _ in range(epochs):
        residual = train.ratings - mean - b_i[train.items]
        b_u = np.bincount(train.users, residual, train.num_users) / (n_u + l2 * n_u + 1)
        residual = train.ratings - mean - b_u[train.users]
        b_i = np.bincount(train.items, residual, train.num_items) / (n_i + l2 * n_i + 1)
    predictions = mean + b_u[test.users] + b_i[test.items]
    return float(np.sqrt(np.mean((predictions - test.ratings) ** 2)))
