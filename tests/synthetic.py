"""Small synthetic rating data for tests: low-rank structure plus noise."""

from __future__ import annotations

import csv
import pathlib

import numpy as np

from tff_rec.data import interactions as interactions_lib


def make_ratings(
    num_users: int = 30,
    num_items: int = 20,
    per_user: int = 12,
    *,
    rank: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, ratings, timestamps) with ratings in [1, 5]."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(num_users, rank))
    q = rng.normal(size=(num_items, rank))
    users, items = [], []
    for u in range(num_users):
        chosen = rng.choice(num_items, size=per_user, replace=False)
        users.extend([u] * per_user)
        items.extend(chosen)
    users = np.array(users)
    items = np.array(items)
    scores = np.sum(p[users] * q[items], axis=1) + rng.normal(0, 0.3, len(users))
    ratings = np.clip(np.round(3 + scores), 1, 5).astype(np.float32)
    timestamps = rng.integers(1_000_000, 2_000_000, len(users))
    return users, items, ratings, timestamps


def make_interactions(**kwargs) -> interactions_lib.Interactions:
    users, items, ratings, timestamps = make_ratings(**kwargs)
    return interactions_lib.from_raw_ids(
        [f"u{u}" for u in users],
        [f"i{i}" for i in items],
        ratings,
        timestamps,
        name="synthetic",
    )


def write_csv(path: pathlib.Path, **kwargs) -> pathlib.Path:
    """Writes a generic ``user,item,rating,timestamp`` CSV file."""
    users, items, ratings, timestamps = make_ratings(**kwargs)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user", "item", "rating", "timestamp"])
        for row in zip(users, items, ratings, timestamps, strict=True):
            writer.writerow([f"u{row[0]}", f"i{row[1]}", f"{row[2]:.0f}", row[3]])
    return path
