"""The in-memory interaction table every loader produces.

Raw dataset ids (strings) are remapped to contiguous integers
``0..num_users-1`` / ``0..num_items-1``; the vocabularies map them back and
are kept so an exported model can accept raw ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Interactions:
    """User-item interactions with contiguous integer ids.

    Attributes:
      users: int32 array, the remapped user id of each interaction.
      items: int32 array, the remapped item id of each interaction.
      ratings: float32 array, the rating (or 1.0 for implicit feedback).
      timestamps: int64 array of event times, or None if the data has none.
      user_vocab: raw user id (string) of each remapped user id.
      item_vocab: raw item id (string) of each remapped item id.
      user_features: per-user feature columns (one value per remapped user),
        e.g. ``age``, ``gender``, ``occupation``, ``zip_code``.
      item_features: per-item feature columns (one value per remapped item),
        e.g. ``genres`` (lists of strings), ``year``.
      name: a short name of the dataset, for reports.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray | None
    user_vocab: Sequence[str]
    item_vocab: Sequence[str]
    user_features: Mapping[str, Sequence] = dataclasses.field(default_factory=dict)
    item_features: Mapping[str, Sequence] = dataclasses.field(default_factory=dict)
    name: str = "interactions"

    def __post_init__(self):
        n = len(self.users)
        for field in ("items", "ratings"):
            if len(getattr(self, field)) != n:
                raise ValueError(
                    f"Interactions.{field} has {len(getattr(self, field))} "
                    f"entries, expected {n} (one per interaction)."
                )
        if self.timestamps is not None and len(self.timestamps) != n:
            raise ValueError(
                f"Interactions.timestamps has {len(self.timestamps)} entries, "
                f"expected {n}."
            )

    @property
    def num_users(self) -> int:
        return len(self.user_vocab)

    @property
    def num_items(self) -> int:
        return len(self.item_vocab)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, indices: np.ndarray) -> Interactions:
        """Returns the interactions at `indices`, with the same vocabularies."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self,
            users=self.users[indices],
            items=self.items[indices],
            ratings=self.ratings[indices],
            timestamps=None if self.timestamps is None else self.timestamps[indices],
        )

    def stats(self) -> dict[str, float]:
        """Returns a small summary for logs and reports."""
        return {
            "interactions": len(self),
            "users": self.num_users,
            "items": self.num_items,
            "mean_rating": float(np.mean(self.ratings)) if len(self) else 0.0,
        }


def from_raw_ids(
    raw_users: Sequence[str],
    raw_items: Sequence[str],
    ratings: Sequence[float],
    timestamps: Sequence[int] | None = None,
    *,
    user_features: Mapping[str, Mapping[str, object]] | None = None,
    item_features: Mapping[str, Mapping[str, object]] | None = None,
    name: str = "interactions",
) -> Interactions:
    """Builds `Interactions`, remapping raw ids to contiguous integers.

    Ids are numbered in sorted order of their raw value (numerically when all
    raw ids are integers), so the mapping does not depend on row order.

    Args:
      raw_users: raw user id (as string) per interaction.
      raw_items: raw item id (as string) per interaction.
      ratings: rating per interaction.
      timestamps: event time per interaction, or None.
      user_features: feature name -> {raw user id -> value}. Users without a
        value get None.
      item_features: feature name -> {raw item id -> value}.
      name: dataset name.

    Returns:
      An `Interactions` table.
    """
    user_vocab = _sorted_vocab(raw_users)
    item_vocab = _sorted_vocab(raw_items)
    user_index = {u: i for i, u in enumerate(user_vocab)}
    item_index = {v: i for i, v in enumerate(item_vocab)}
    users = np.fromiter((user_index[u] for u in raw_users), np.int32, len(raw_users))
    items = np.fromiter((item_index[v] for v in raw_items), np.int32, len(raw_items))
    ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
    return Interactions(
        users=users,
        items=items,
        ratings=np.asarray(ratings, dtype=np.float32),
        timestamps=ts,
        user_vocab=tuple(user_vocab),
        item_vocab=tuple(item_vocab),
        user_features={
            k: [col.get(u) for u in user_vocab]
            for k, col in (user_features or {}).items()
        },
        item_features={
            k: [col.get(v) for v in item_vocab]
            for k, col in (item_features or {}).items()
        },
        name=name,
    )


def _sorted_vocab(raw_ids: Sequence[str]) -> list[str]:
    unique = set(raw_ids)
    try:
        return sorted(unique, key=int)
    except ValueError:
        return sorted(unique)


def drop_duplicate_pairs(interactions: Interactions) -> tuple[Interactions, int]:
    """Keeps one row per (user, item): the latest.

    The latest is the one with the greatest timestamp, or, without timestamps
    or among equal ones, the last in the file. The kept rows stay in file
    order.

    Returns:
      ``(interactions, number of rows dropped)``.
    """
    n = len(interactions)
    if n == 0:
        return interactions, 0
    key = interactions.users.astype(np.int64) * max(interactions.num_items, 1)
    key += interactions.items
    order = np.arange(n)
    times = interactions.timestamps if interactions.timestamps is not None else order
    # Sorted by pair, then time, then file position: the last of a pair wins.
    ranked = np.lexsort((order, times, key))
    last = np.ones(n, dtype=bool)
    last[:-1] = key[ranked[1:]] != key[ranked[:-1]]
    kept = np.sort(ranked[last])
    dropped = n - len(kept)
    if not dropped:
        return interactions, 0
    return interactions.subset(kept), dropped
