"""Train/test splits of an `Interactions` table.

Four protocols are supported, named by `SplitType`:

* `HOLDOUT`: per user, a random fraction of the interactions is held out
  (every user stays in train, the usual rating-prediction protocol).
* `LEAVE_LAST_OUT`: per user, the latest interactions by timestamp are held
  out (next-item evaluation without looking into the future).
* `RANDOM_LEAVE_ONE_OUT`: per user, one interaction chosen at random (seeded)
  is held out: the leave-one-out protocol of the NCF evaluation for data
  without timestamps that order it (e.g. a MovieLens-1M copy without times).
* `HELD_OUT_USERS`: a random fraction of the users is removed from train
  entirely; part of their interactions (`test_history`) may be used at
  evaluation time to build their representation, the rest is scored. This is
  the cold-start protocol of "Federated Reconstruction: Partially Local
  Federated Learning" (Singhal et al., NeurIPS 2021, arXiv:2102.03448).

Random choices come from a hash of (seed, user, item, timestamp), so a user's
split depends only on the seed and that user's own interactions, not on the
row order or on the other users in the table.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib

DEFAULT_SEED = 0
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_NUM_TEST = 1
DEFAULT_USER_FRACTION = 0.1
DEFAULT_HISTORY_FRACTION = 0.5

# Salts that keep the random streams of the different choices independent.
_HOLDOUT_SALT = 0x5EED_0001
_USER_SALT = 0x5EED_0002
_HISTORY_SALT = 0x5EED_0003
_LEAVE_ONE_OUT_SALT = 0x5EED_0004


class SplitType(enum.Enum):
    """How interactions are divided into train and test."""

    HOLDOUT = "holdout"
    LEAVE_LAST_OUT = "leave_last_out"
    RANDOM_LEAVE_ONE_OUT = "random_leave_one_out"
    HELD_OUT_USERS = "held_out_users"


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """A train/test split.

    Attributes:
      train: the training interactions.
      test: the interactions to score.
      test_history: for `SplitType.HELD_OUT_USERS` only (None otherwise): the
        held-out users' interactions that may be used at evaluation time to
        build their representation. Never part of `train`.
      split_type: the protocol that produced the split.
      train_indices: row indices of `train` in the table that was split.
      test_indices: row indices of `test` in the table that was split.
      test_history_indices: row indices of `test_history`, or None.
    """

    train: interactions_lib.Interactions
    test: interactions_lib.Interactions
    test_history: interactions_lib.Interactions | None
    split_type: SplitType
    train_indices: np.ndarray | None = dataclasses.field(default=None, repr=False)
    test_indices: np.ndarray | None = dataclasses.field(default=None, repr=False)
    test_history_indices: np.ndarray | None = dataclasses.field(
        default=None, repr=False
    )


def random_holdout(
    interactions: interactions_lib.Interactions,
    *,
    test_fraction: float | None = None,
    seed: int | None = None,
) -> Split:
    """Holds out a random fraction of each user's interactions.

    A user with `n` interactions gets `round(n * test_fraction)` of them in test
    (ties to even, like Python's `round`), but always keeps at least one in
    train: a user with a single interaction has none in test.

    Args:
      interactions: the table to split.
      test_fraction: fraction of each user's interactions to hold out, in
        (0, 1). None means `DEFAULT_TEST_FRACTION`.
      seed: seed of the random choice. None means `DEFAULT_SEED`.

    Returns:
      A `Split` with `split_type=SplitType.HOLDOUT` and no `test_history`.

    Raises:
      UserInputError: if `test_fraction` is not in (0, 1).
    """
    if test_fraction is None:
        test_fraction = DEFAULT_TEST_FRACTION
    if seed is None:
        seed = DEFAULT_SEED
    _check_fraction("test_fraction", test_fraction, allow_zero=False)
    keys = _row_keys(interactions, seed, _HOLDOUT_SALT)
    is_test = _take_first_per_user(
        interactions.users, keys, test_fraction, keep_at_least=1
    )
    return _make(interactions, ~is_test, is_test, None, SplitType.HOLDOUT)


def leave_last_out(
    interactions: interactions_lib.Interactions,
    *,
    num_test: int = DEFAULT_NUM_TEST,
) -> Split:
    """Holds out each user's latest interactions.

    Interactions are ordered by timestamp; among equal timestamps a later row
    counts as later. Users with `num_test` or fewer interactions keep all of
    them in train.

    Args:
      interactions: the table to split; it must have timestamps.
      num_test: how many of each user's latest interactions go to test.

    Returns:
      A `Split` with `split_type=SplitType.LEAVE_LAST_OUT`.

    Raises:
      UserInputError: if the table has no timestamps, or all equal (they do
        not order anything), or `num_test` < 1.
    """
    if interactions.timestamps is None:
        raise errors.UserInputError(
            f"leave_last_out needs timestamps, but '{interactions.name}' has "
            "none; use the 'holdout' or 'held_out_users' split instead."
        )
    if isinstance(num_test, bool) or not isinstance(num_test, (int, np.integer)):
        raise errors.UserInputError(f"num_test must be an integer, got {num_test!r}.")
    if num_test < 1:
        raise errors.UserInputError(f"num_test must be at least 1, got {num_test}.")
    timestamps = interactions.timestamps
    if len(timestamps) and np.all(timestamps == timestamps[0]):
        raise errors.UserInputError(
            f"leave_last_out needs timestamps that order each user's "
            f"interactions, but every timestamp of '{interactions.name}' is "
            f"{timestamps[0]} (a copy without times?); splitting by file order "
            "would not hold out the latest; use the 'holdout' or "
            "'held_out_users' split instead."
        )
    users = interactions.users
    rows = np.arange(len(users))
    # Latest first: sort by user, then descending time, then descending row.
    order = np.lexsort((-rows, -interactions.timestamps, users))
    rank = _rank_within_user(users, order)
    counts = np.bincount(users, minlength=interactions.num_users)
    is_test = (rank < num_test) & (counts[users] > num_test)
    return _make(interactions, ~is_test, is_test, None, SplitType.LEAVE_LAST_OUT)


def random_leave_one_out(
    interactions: interactions_lib.Interactions,
    *,
    num_test: int = DEFAULT_NUM_TEST,
    seed: int = DEFAULT_SEED,
) -> Split:
    """Holds out `num_test` random interactions of each user.

    Users with `num_test` or fewer interactions keep all of them in train.

    Args:
      interactions: the table to split.
      num_test: how many of each user's interactions go to test.
      seed: seed of the random choice.

    Returns:
      A `Split` with `split_type=SplitType.RANDOM_LEAVE_ONE_OUT`.

    Raises:
      UserInputError: if `num_test` < 1.
    """
    if isinstance(num_test, bool) or not isinstance(num_test, (int, np.integer)):
        raise errors.UserInputError(f"num_test must be an integer, got {num_test!r}.")
    if num_test < 1:
        raise errors.UserInputError(f"num_test must be at least 1, got {num_test}.")
    users = interactions.users
    keys = _row_keys(interactions, seed, _LEAVE_ONE_OUT_SALT)
    order = np.lexsort((np.arange(len(users)), keys, users))
    rank = _rank_within_user(users, order)
    counts = np.bincount(users, minlength=interactions.num_users)
    is_test = (rank < num_test) & (counts[users] > num_test)
    return _make(interactions, ~is_test, is_test, None, SplitType.RANDOM_LEAVE_ONE_OUT)


def held_out_users(
    interactions: interactions_lib.Interactions,
    *,
    user_fraction: float = DEFAULT_USER_FRACTION,
    history_fraction: float = DEFAULT_HISTORY_FRACTION,
    seed: int = DEFAULT_SEED,
) -> Split:
    """Holds out a random fraction of the users entirely (cold start).

    `round(user_fraction * U)` of the `U` users with interactions are held out
    (at least one, and at least one user stays in train). Each held-out user
    with `n` interactions gets `round(n * history_fraction)` of them in
    `test_history`, keeping at least one in `test`.

    Args:
      interactions: the table to split.
      user_fraction: fraction of the users to hold out, in (0, 1).
      history_fraction: fraction of a held-out user's interactions available
        at evaluation time, in [0, 1).
      seed: seed of the random choices.

    Returns:
      A `Split` with `split_type=SplitType.HELD_OUT_USERS`; its `train` has no
      interaction of a held-out user.

    Raises:
      UserInputError: if a fraction is out of range or fewer than two users
        have interactions.
    """
    _check_fraction("user_fraction", user_fraction, allow_zero=False)
    _check_fraction("history_fraction", history_fraction, allow_zero=True)
    users = interactions.users
    active = np.unique(users)
    if len(active) < 2:
        raise errors.UserInputError(
            f"held_out_users needs at least 2 users with interactions, "
            f"'{interactions.name}' has {len(active)}."
        )
    num_held_out = int(np.clip(round(user_fraction * len(active)), 1, len(active) - 1))
    user_keys = _mix64(
        np.full(len(active), _USER_SALT, np.uint64),
        _seed_key(seed),
        active.astype(np.uint64),
    )
    held_out = active[np.lexsort((active, user_keys))[:num_held_out]]
    is_held_out = np.zeros(interactions.num_users, bool)
    is_held_out[held_out] = True
    row_held_out = is_held_out[users]

    keys = _row_keys(interactions, seed, _HISTORY_SALT)
    is_history = row_held_out & _take_first_per_user(
        users, keys, history_fraction, keep_at_least=1
    )
    is_test = row_held_out & ~is_history
    return _make(
        interactions, ~row_held_out, is_test, is_history, SplitType.HELD_OUT_USERS
    )


def make_split(
    interactions: interactions_lib.Interactions,
    split_type: SplitType | str,
    *,
    seed: int = DEFAULT_SEED,
    test_fraction: float | None = None,
    num_test: int = DEFAULT_NUM_TEST,
    user_fraction: float = DEFAULT_USER_FRACTION,
    history_fraction: float = DEFAULT_HISTORY_FRACTION,
) -> Split:
    """Splits `interactions` with the protocol named by `split_type`.

    Args:
      interactions: the table to split.
      split_type: a `SplitType` or its string value, e.g. 'holdout'.
      seed: seed of the random choices (unused by leave_last_out).
      test_fraction: for 'holdout'; None means `DEFAULT_TEST_FRACTION`.
      num_test: for 'leave_last_out' and 'random_leave_one_out'.
      user_fraction: for 'held_out_users'.
      history_fraction: for 'held_out_users'.

    Returns:
      The `Split`.

    Raises:
      UserInputError: on an unknown split type or an invalid option.
    """
    split_type = _parse_split_type(split_type)
    if split_type is SplitType.HOLDOUT:
        return random_holdout(interactions, test_fraction=test_fraction, seed=seed)
    if split_type is SplitType.LEAVE_LAST_OUT:
        return leave_last_out(interactions, num_test=num_test)
    if split_type is SplitType.RANDOM_LEAVE_ONE_OUT:
        return random_leave_one_out(interactions, num_test=num_test, seed=seed)
    return held_out_users(
        interactions,
        user_fraction=user_fraction,
        history_fraction=history_fraction,
        seed=seed,
    )


def _parse_split_type(value: SplitType | str) -> SplitType:
    return errors.parse_enum(SplitType, value, "split type")


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> None:
    is_number = isinstance(value, (int, float, np.integer, np.floating))
    if (
        isinstance(value, bool)
        or not is_number
        or not (value >= 0 if allow_zero else value > 0)
        or not value < 1
    ):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise errors.UserInputError(f"{name} must be in {interval}, got {value!r}.")


def _seed_key(seed: int) -> np.uint64:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise errors.UserInputError(f"seed must be an integer, got {seed!r}.")
    return np.uint64(int(seed) % 2**64)


def _mix64(*columns: np.ndarray) -> np.ndarray:
    """Hashes uint64 columns row by row (splitmix64 finalizer, chained)."""
    with np.errstate(over="ignore"):
        h = np.zeros(np.broadcast(*columns).shape, np.uint64)
        for column in columns:
            h = h ^ column
            h = h + np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return h


def _row_keys(
    interactions: interactions_lib.Interactions, seed: int, salt: int
) -> np.ndarray:
    """Returns a pseudo-random key per row from (seed, user, item, timestamp)."""
    n = len(interactions)
    timestamps = (
        np.zeros(n, np.int64)
        if interactions.timestamps is None
        else interactions.timestamps
    )
    return _mix64(
        np.full(n, salt, np.uint64),
        _seed_key(seed),
        interactions.users.astype(np.uint64),
        interactions.items.astype(np.uint64),
        timestamps.astype(np.uint64),
    )


def _rank_within_user(users: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Returns each row's position among its user's rows in `order`.

    `order` must sort rows by user first.
    """
    sorted_users = users[order]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.empty(len(users), np.int64)
    rank[order] = np.arange(len(users)) - starts
    return rank


def _take_first_per_user(
    users: np.ndarray, keys: np.ndarray, fraction: float, *, keep_at_least: int
) -> np.ndarray:
    """Marks `round(n * fraction)` rows of each user, those with smallest key.

    At most `n - keep_at_least` rows of a user with `n` rows are marked. Equal
    keys (duplicate rows) are ordered by row.
    """
    rows = np.arange(len(users))
    order = np.lexsort((rows, keys, users))
    rank = _rank_within_user(users, order)
    counts = np.bincount(users) if len(users) else np.zeros(0, np.int64)
    quota = np.minimum(np.rint(counts * fraction), counts - keep_at_least)
    return rank < quota[users]


def _make(
    interactions: interactions_lib.Interactions,
    train_mask: np.ndarray,
    test_mask: np.ndarray,
    history_mask: np.ndarray | None,
    split_type: SplitType,
) -> Split:
    train_indices = np.flatnonzero(train_mask)
    test_indices = np.flatnonzero(test_mask)
    history_indices = None if history_mask is None else np.flatnonzero(history_mask)
    return Split(
        train=interactions.subset(train_indices),
        test=interactions.subset(test_indices),
        test_history=(
            None if history_indices is None else interactions.subset(history_indices)
        ),
        split_type=split_type,
        train_indices=train_indices,
        test_indices=test_indices,
        test_history_indices=history_indices,
    )
