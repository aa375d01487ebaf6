"""Large synthetic populations made of real users, for systems measurements.

`resample_users` builds a population of any size from a real dataset: each
new user is a copy of a user drawn at random (with replacement) from the
data, under a fresh id. Items, ratings and each user's activity follow the
data exactly; users repeat, so a model learns nothing new from the larger
population. It measures what a round, the data layer and memory cost with
10^5 users or more, not recommendation quality.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tff_rec import settings
from tff_rec.data import interactions as interactions_lib


def resample_users(
    interactions: interactions_lib.Interactions, num_users: int, *, seed: int
) -> interactions_lib.Interactions:
    """A population of `num_users` copies of users drawn from `interactions`.

    Args:
      interactions: the real data.
      num_users: users of the population (>= 1).
      seed: seeds the draw.

    Returns:
      `Interactions` with users ``0..num_users-1`` (raw ids ``"r<i>"``) and
      the items of `interactions`; no user features, and timestamps copied
      with the rows.
    """
    settings.check_at_least("num_users", num_users, 1)
    counts = np.bincount(interactions.users, minlength=interactions.num_users)
    active = np.flatnonzero(counts)
    if not len(active):
        raise ValueError(f"'{interactions.name}' has no interactions to resample")
    order = np.argsort(interactions.users, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    drawn = np.random.default_rng(seed).choice(active, num_users)
    lengths = counts[drawn]
    first_row = np.repeat(np.cumsum(lengths) - lengths, lengths)
    within = np.arange(int(lengths.sum())) - first_row
    rows = order[np.repeat(starts[drawn], lengths) + within]
    return dataclasses.replace(
        interactions,
        users=np.repeat(np.arange(num_users, dtype=np.int32), lengths),
        items=interactions.items[rows],
        ratings=interactions.ratings[rows],
        timestamps=None
        if interactions.timestamps is None
        else interactions.timestamps[rows],
        user_vocab=[f"r{i}" for i in range(num_users)],
        user_features={},
        name=f"{interactions.name}-resampled-{num_users}",
    )
