"""Negative sampling for implicit feedback, done where the data lives.

Each positive (user, item) gets `negatives` items the user has not interacted
with, drawn uniformly (with replacement across positives, as in He et al.,
"Neural Collaborative Filtering", WWW 2017, arXiv:1708.05031). A client
samples from its own users' unseen items only, so no other participant's
data is needed. Negatives are redrawn every round from a seed made of the
run seed, the round and the client, so runs are reproducible and a resumed
run draws what an uninterrupted one would.

Examples are laid out in groups ``[positive, negative_1, ..., negative_r]``
(labels ``1, 0, ..., 0``) and shuffled by whole groups, so a batch of
``batch_size`` positives is ``batch_size * (1 + r)`` rows holding whole
groups, which the BPR loss (`tff_rec.tasks.losses`) relies on.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from tff_rec import errors
from tff_rec.data import client_data as client_data_lib

DEFAULT_NEGATIVES = 4
# Rejection sampling draws again for rejected cells; a user who has seen
# almost the whole catalogue needs many draws, so give up after this many.
_MAX_DRAWS = 1000
# Stream of numpy SeedSequence([seed, stream, round, client]).
_NEGATIVES_STREAM = 0x6E656773


def seen_keys(users: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
    """Sorted unique ``user * num_items + item`` keys of the interactions."""
    return np.unique(users.astype(np.int64) * num_items + items.astype(np.int64))


def sample_unseen(
    rng: np.random.Generator,
    users: np.ndarray,
    seen: np.ndarray,
    num_items: int,
    count: int,
) -> np.ndarray:
    """``[len(users), count]`` items that the row's user has not interacted with.

    Args:
      rng: the generator.
      users: one user id per row.
      seen: `seen_keys` of the interactions to avoid.
      num_items: catalogue size.
      count: items per row (drawn with replacement).

    Raises:
      tff_rec.errors.UserInputError: if a user has interacted with every item.
    """
    users = np.asarray(users, dtype=np.int64)
    out = rng.integers(num_items, size=(len(users), count))
    todo = np.ones(out.shape, dtype=bool)
    for _ in range(_MAX_DRAWS):
        keys = users[:, None] * num_items + out
        pos = np.searchsorted(seen, keys[todo])
        hit = pos < len(seen)
        hit[hit] = seen[pos[hit]] == keys[todo][hit]
        if not hit.any():
            return out
        rows, cols = np.nonzero(todo)
        todo[:] = False
        todo[rows[hit], cols[hit]] = True
        out[todo] = rng.integers(num_items, size=int(todo.sum()))
    stuck = np.unique(users[np.nonzero(todo)[0]])
    raise errors.UserInputError(
        f"cannot sample negatives: users {stuck[:5].tolist()} have interacted "
        f"with (nearly) all {num_items} items"
    )


def with_negatives(
    users: np.ndarray,
    items: np.ndarray,
    *,
    num_items: int,
    negatives: int,
    rng: np.random.Generator,
    seen: np.ndarray | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positives with sampled negatives, in groups.

    Args:
      users, items: the positives.
      num_items: catalogue size.
      negatives: negatives per positive (>= 1).
      rng: draws negatives and the group order.
      seen: `seen_keys` to avoid; None means those of the positives.
      shuffle: shuffle whole groups.

    Returns:
      ``(rows, users, items, labels)``: ``rows`` the index of each example's
      positive in the input (to look up per-positive columns), then the
      example columns, ``len(users) * (1 + negatives)`` long.
    """
    if negatives < 1:
        raise errors.UserInputError(f"negatives must be >= 1, got {negatives}")
    users = np.asarray(users)
    items = np.asarray(items)
    if seen is None:
        seen = seen_keys(users, items, num_items)
    order = rng.permutation(len(users)) if shuffle else np.arange(len(users))
    neg = sample_unseen(rng, users[order], seen, num_items, negatives)
    group = 1 + negatives
    rows = np.repeat(order, group)
    out_items = np.concatenate([items[order][:, None], neg], axis=1).reshape(-1)
    labels = np.tile(np.array([1.0] + [0.0] * negatives, np.float32), len(order))
    return rows, users[rows], out_items.astype(np.int32), labels


def implicit_examples(
    users: np.ndarray,
    items: np.ndarray,
    *,
    num_items: int,
    negatives: int,
    rng: np.random.Generator,
    model_users: np.ndarray | None = None,
    user_columns: Mapping[str, np.ndarray] | None = None,
) -> tuple[collections.OrderedDict, np.ndarray]:
    """Model inputs and labels of positives with their sampled negatives.

    Args:
      users, items: the positives (global user ids).
      num_items, negatives, rng: as for `with_negatives`.
      model_users: the id that feeds the model's ``user`` input for each
        positive (e.g. the user's index on its client); None means `users`.
      user_columns: extra model inputs per global user id.

    Returns:
      ``(x, labels)``: ``x`` is ``OrderedDict(user, item, *user_columns)``,
      in groups as `with_negatives` lays them out.
    """
    rows, _, out_items, labels = with_negatives(
        users, items, num_items=num_items, negatives=negatives, rng=rng
    )
    model_users = users if model_users is None else model_users
    x = collections.OrderedDict(user=np.asarray(model_users)[rows], item=out_items)
    for name, table in (user_columns or {}).items():
        x[name] = np.asarray(table)[np.asarray(users)[rows]]
    return x, labels


def group_rows(groups: np.ndarray, group_size: int) -> np.ndarray:
    """The example rows of whole groups, in the order of `groups`."""
    return (np.asarray(groups)[:, None] * group_size + np.arange(group_size)).ravel()


def client_rng(seed: int, round_num: int, k: int) -> np.random.Generator:
    """The generator of client `k`'s negatives in round `round_num`."""
    return np.random.default_rng([seed, _NEGATIVES_STREAM, round_num, k])


def implicit_tensors(
    data: client_data_lib.FederatedData,
    k: int,
    *,
    num_items: int,
    negatives: int | None = None,
    seed: int = 0,
    round_num: int = 0,
    user_key: str = "user",
    user_columns: Mapping[str, np.ndarray] | None = None,
) -> collections.OrderedDict:
    """Client `k`'s examples, its positives and its own negatives, as arrays.

    Args:
      data: the clients' (positive) training interactions.
      k: client index.
      num_items: catalogue size.
      negatives: negatives per positive; None means `DEFAULT_NEGATIVES`.
      seed, round_num: seed the negatives and the order (see `client_rng`).
      user_key: ``user`` (global id) or ``local_user`` (reconstruction) feeds
        the model's ``user`` input.
      user_columns: extra model inputs per global user id (e.g. the user
        features of `tff_rec.data.feature_encoding`), looked up for each example.

    Returns:
      ``OrderedDict(x=OrderedDict(user, item, *user_columns), y=label[:,
      None])``, in whole groups (`implicit_examples`).
    """
    if user_key not in client_data_lib.USER_KEYS:
        raise ValueError(
            f"user_key must be one of {client_data_lib.USER_KEYS}, got {user_key!r}"
        )
    negatives = DEFAULT_NEGATIVES if negatives is None else negatives
    span = data.client_rows(k)
    x, labels = implicit_examples(
        data.users[span],
        data.items[span],
        num_items=num_items,
        negatives=negatives,
        rng=client_rng(seed, round_num, k),
        model_users=(data.local_users if user_key == "local_user" else data.users)[
            span
        ],
        user_columns=user_columns,
    )
    return collections.OrderedDict(x=x, y=labels[:, None])


def implicit_batches(
    data: client_data_lib.FederatedData,
    k: int,
    *,
    num_items: int,
    negatives: int | None = None,
    batch_size: int | None = None,
    epochs: int = 1,
    seed: int = 0,
    round_num: int = 0,
    user_key: str = "user",
    user_columns: Mapping[str, np.ndarray] | None = None,
) -> tf.data.Dataset:
    """Client `k`'s training batches of `implicit_tensors`.

    Args:
      data, k, num_items, negatives, seed, round_num, user_key, user_columns:
        as for `implicit_tensors`.
      batch_size: positives per batch (a batch holds ``batch_size * (1 +
        negatives)`` examples); None means `client_data.DEFAULT_BATCH_SIZE`.
      epochs: passes over the examples (the negatives are drawn once).

    Returns:
      Batches ``OrderedDict(x=OrderedDict(user, item, *user_columns),
      y=label[:, None])``, built from arrays (no traced function, see
      `client_data.client_batches`).
    """
    negatives = DEFAULT_NEGATIVES if negatives is None else negatives
    batch_size = (
        client_data_lib.DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    )
    dataset = tf.data.Dataset.from_tensor_slices(
        implicit_tensors(
            data,
            k,
            num_items=num_items,
            negatives=negatives,
            seed=seed,
            round_num=round_num,
            user_key=user_key,
            user_columns=user_columns,
        )
    )
    return dataset.repeat(epochs).batch(batch_size * (1 + negatives))
