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


_GENRES = ("unknown", "Action", "Comedy", "Drama", "Romance")
_OCCUPATIONS = ("engineer", "student", "writer", "other")


def write_ml100k(
    directory: pathlib.Path,
    *,
    num_users: int = 40,
    num_items: int = 30,
    per_user: int = 10,
    seed: int = 0,
) -> pathlib.Path:
    """Writes GroupLens ML-100K files (u.data, u.user, u.item, u.genre).

    Users get ages, genders, occupations and zip codes whose first digits
    cover 0-9 (plus a non-digit one), items get genres and release years, so
    every feature and the zip-prefix partition have several values.
    """
    rng = np.random.default_rng(seed)
    users, items, ratings, timestamps = make_ratings(
        num_users=num_users, num_items=num_items, per_user=per_user, seed=seed
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "u.data").write_text(
        "".join(
            f"{u + 1}\t{i + 1}\t{r:.0f}\t{t}\n"
            for u, i, r, t in zip(users, items, ratings, timestamps, strict=True)
        )
    )
    user_lines = []
    for u in range(num_users):
        zip_code = "T8H1N" if u % 11 == 10 else f"{u % 11}{rng.integers(1000, 9999)}"
        user_lines.append(
            f"{u + 1}|{rng.integers(15, 70)}|{'MF'[u % 2]}|"
            f"{_OCCUPATIONS[u % len(_OCCUPATIONS)]}|{zip_code}\n"
        )
    (directory / "u.user").write_text("".join(user_lines))
    item_lines = []
    for i in range(num_items):
        flags = ["0"] * len(_GENRES)
        for g in rng.choice(len(_GENRES), size=2, replace=False):
            flags[g] = "1"
        year = 1950 + int(rng.integers(0, 48))
        item_lines.append(
            f"{i + 1}|Movie {i + 1} ({year})|01-Jan-{year}||http://x|"
            + "|".join(flags)
            + "\n"
        )
    (directory / "u.item").write_text("".join(item_lines))
    (directory / "u.genre").write_text(
        "".join(f"{g}|{k}\n" for k, g in enumerate(_GENRES)) + "\n"
    )
    return directory
