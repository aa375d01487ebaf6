"""Synthetic rating data unlike MovieLens, for tests and benchmarks.

`write_wide_scale_csv` writes a Jester-like table (Goldberg, Roeder, Gupta
and Perkins, "Eigentaste: A Constant Time Collaborative Filtering
Algorithm", Information Retrieval 4(2), 2001: about 25,000 users rating
most of 100 jokes from -10 to 10): dense, few items, ratings on a wide
scale. Neither MovieLens's 1-5 stars nor its sparsity holds, which is what
the defaults must survive.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np


def write_wide_scale_csv(
    path: str | pathlib.Path,
    *,
    num_users: int = 500,
    num_items: int = 100,
    per_user: int = 36,
    seed: int = 0,
) -> pathlib.Path:
    """Writes dense ratings in [-10, 10] as a ``user,item,rating`` CSV.

    Every user rates `per_user` or more of the items (about 20 more on
    average; popular items more often), so an item's row is trained by
    about half of a round's clients and the most popular ones by most of
    them. Ratings are a rank-4 interaction plus user and item biases and
    noise (stddev 2), clipped to [-10, 10]; their spread is about 4x
    MovieLens's.

    Args:
      path: the CSV file to write.
      num_users, num_items: the table's size.
      per_user: the fewest ratings of a user.
      seed: seeds everything.

    Returns:
      `path`.
    """
    path = pathlib.Path(path)
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(num_users, 4))
    q = rng.normal(size=(num_items, 4))
    user_bias = rng.normal(0, 2, num_users)
    item_bias = rng.normal(0, 2, num_items)
    popularity = rng.dirichlet(np.full(num_items, 2.0))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user", "item", "rating"])
        for u in range(num_users):
            count = min(num_items, per_user + int(rng.geometric(1 / 20)))
            items = rng.choice(num_items, size=count, replace=False, p=popularity)
            scores = 1.0 + user_bias[u] + item_bias[items] + 1.5 * (q[items] @ p[u])
            ratings = np.clip(scores + rng.normal(0, 2, count), -10, 10)
            for i, r in zip(items, ratings, strict=True):
                writer.writerow([f"u{u}", f"j{i}", f"{r:.2f}"])
    return path
