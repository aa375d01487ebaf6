"""Participants' training data as TFF `ClientData` feeding `tf.data` pipelines.

All clients' rows are stored once, sorted by client, in constant tensors; a
client's dataset is a slice of them, looked up by client id inside the graph.
This keeps `create_tf_dataset_for_client` serializable, as TFF requires.

Each element is ``OrderedDict(user, local_user, item, rating)``: ``user`` is
the global (remapped) user id, ``local_user`` the user's position among the
users of its client (0 for per-user clients), used by Federated
Reconstruction, whose user table lives on the client.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition as partition_lib

DEFAULT_BATCH_SIZE = 16
DEFAULT_SHUFFLE_BUFFER = 1024


@dataclasses.dataclass(frozen=True)
class FederatedData:
    """Training rows grouped by client.

    Attributes:
      client_ids: client names, in partition order.
      users: global user id per row, rows sorted by client.
      local_users: user's index within its client per row.
      items: item id per row.
      ratings: rating per row.
      offsets: ``offsets[k]:offsets[k+1]`` are client k's rows.
      max_users_per_client: size of a client-side user table.
    """

    client_ids: tuple[str, ...]
    users: np.ndarray
    local_users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    offsets: np.ndarray
    max_users_per_client: int

    @property
    def num_clients(self) -> int:
        return len(self.client_ids)

    def client_size(self, k: int) -> int:
        return int(self.offsets[k + 1] - self.offsets[k])

    def client_rows(self, k: int) -> slice:
        return slice(int(self.offsets[k]), int(self.offsets[k + 1]))


def build_federated_data(
    train: interactions_lib.Interactions, partition: partition_lib.Partition
) -> FederatedData:
    """Groups `train` rows by the clients of `partition`."""
    order = np.concatenate(partition.client_indices).astype(np.int64)
    sizes = np.array([len(ix) for ix in partition.client_indices], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    users = train.users[order]
    local_users = np.zeros_like(users)
    max_users = 1
    for k in range(len(sizes)):
        rows = slice(offsets[k], offsets[k + 1])
        _, local = np.unique(users[rows], return_inverse=True)
        local_users[rows] = local
        if len(local):
            max_users = max(max_users, int(local.max()) + 1)
    return FederatedData(
        client_ids=tuple(partition.client_ids),
        users=users.astype(np.int32),
        local_users=local_users.astype(np.int32),
        items=train.items[order].astype(np.int32),
        ratings=train.ratings[order].astype(np.float32),
        offsets=offsets,
        max_users_per_client=max_users,
    )


def client_dataset(data: FederatedData, k: int) -> tf.data.Dataset:
    """The raw (unbatched) dataset of client `k`."""
    rows = data.client_rows(k)
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(
            user=data.users[rows],
            local_user=data.local_users[rows],
            item=data.items[rows],
            rating=data.ratings[rows],
        )
    )


def to_client_data(data: FederatedData) -> tff.simulation.datasets.ClientData:
    """Wraps `data` as a `tff.simulation.datasets.ClientData`."""
    columns = collections.OrderedDict(
        user=data.users,
        local_user=data.local_users,
        item=data.items,
        rating=data.ratings,
    )
    offsets = data.offsets.astype(np.int64)

    def dataset_fn(client_id):
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(data.client_ids, tf.string),
                tf.range(data.num_clients, dtype=tf.int64),
            ),
            default_value=-1,
        )
        k = table.lookup(tf.convert_to_tensor(client_id, tf.string))
        start = tf.gather(tf.constant(offsets), k)
        end = tf.gather(tf.constant(offsets), k + 1)
        sliced = collections.OrderedDict(
            (name, tf.constant(values)[start:end]) for name, values in columns.items()
        )
        return tf.data.Dataset.from_tensor_slices(sliced)

    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(
        list(data.client_ids), dataset_fn
    )


USER_KEYS = ("user", "local_user")


def client_batches(
    data: FederatedData,
    k: int,
    *,
    batch_size: int | None = None,
    epochs: int = 1,
    shuffle_seed: int | None = None,
    user_key: str = "user",
) -> tf.data.Dataset:
    """Model-ready batches of client `k`: ``preprocess(client_dataset(data, k))``.

    Same elements in the same order as that composition, but built from
    arrays already in the model's input structure, so no Python function is
    traced: every `Dataset.map` traces a new graph function that TensorFlow
    keeps for the life of the process (about 85 KB each), which over
    thousands of client datasets grows host memory without bound. The round
    loop builds every client's data with this function.

    Args:
      data: the clients' data.
      k: client index.
      batch_size, epochs, shuffle_seed, user_key: as for `preprocess`.

    Raises:
      ValueError: if `user_key` is not ``user`` or ``local_user``.
    """
    if user_key not in USER_KEYS:
        raise ValueError(f"user_key must be one of {USER_KEYS}, got {user_key!r}")
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    rows = data.client_rows(k)
    users = data.local_users if user_key == "local_user" else data.users
    dataset = tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(
            x=collections.OrderedDict(user=users[rows], item=data.items[rows]),
            y=data.ratings[rows][:, None],
        )
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(
            DEFAULT_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    if epochs != 1:
        dataset = dataset.repeat(epochs)
    return dataset.batch(batch_size)


def preprocess(
    dataset: tf.data.Dataset,
    *,
    batch_size: int | None = None,
    epochs: int = 1,
    shuffle_seed: int | None = None,
    user_key: str = "user",
) -> tf.data.Dataset:
    """Shuffles, repeats and batches a client dataset into model inputs.

    Args:
      dataset: raw elements ``OrderedDict(user, local_user, item, rating)``.
      batch_size: examples per batch; None means `DEFAULT_BATCH_SIZE`.
      epochs: passes over the data.
      shuffle_seed: seed of the per-epoch shuffle; None disables shuffling.
      user_key: which id feeds the model's ``user`` input: ``user`` (global
        id, for models whose user table is global) or ``local_user``
        (reconstruction).

    Returns:
      Batches ``OrderedDict(x=OrderedDict(user, item), y=rating[:, None])``.
    """
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if shuffle_seed is not None:
        dataset = dataset.shuffle(
            DEFAULT_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    if epochs != 1:
        dataset = dataset.repeat(epochs)
    dataset = dataset.batch(batch_size)
    return dataset.map(
        lambda b: collections.OrderedDict(
            x=collections.OrderedDict(user=b[user_key], item=b["item"]),
            y=tf.expand_dims(b["rating"], 1),
        )
    )
