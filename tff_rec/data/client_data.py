"""Participants' training data as TFF `ClientData` feeding `tf.data` pipelines.

All clients' rows are stored once, sorted by client, in constant tensors; a
client's dataset is a slice of them, looked up by client id inside the graph.
This keeps `create_tf_dataset_for_client` serializable, as TFF requires.

A round gets a client's data either as a `tf.data` dataset of batches
(`client_batches`), or as its rows in arrays (`client_tensors`) that a
computation composed into the learning process batches on the client
(`batches_computation`), with the same batches in the same order.
`slices_computation` does the same for examples laid out by the caller (the
implicit task's positives and negatives).

Each element is ``OrderedDict(user, local_user, item, rating)``: ``user`` is
the global (remapped) user id, ``local_user`` the user's position among the
users of its client (0 for per-user clients), used by Federated
Reconstruction, whose user table lives on the client.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from tensorflow.python.data.util import random_seed as tf_data_random_seed

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition as partition_lib

# (client indices, round number) -> the clients' data for that round, as the
# learning process's `next` takes it.
ClientDataFn = Callable[[np.ndarray, int], list]
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

    def item_coverage(self) -> float:
        """The average fraction of clients that hold an item.

        Distinct (client, item) pairs over ``clients x items``, counting the
        items that occur in the data: 1 when every client holds every item,
        about 0.05 on ML-100K with one client per user.
        """
        clients = np.repeat(np.arange(self.num_clients), np.diff(self.offsets))
        items = np.unique(self.items)
        if not len(items):
            return 1.0
        pairs = np.unique(
            clients.astype(np.int64) * (int(items.max()) + 1) + self.items
        )
        return len(pairs) / (self.num_clients * len(items))


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
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    client = client_tensors(data, k, user_key=user_key)
    dataset = tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(
            x=collections.OrderedDict(user=client["user"], item=client["item"]),
            y=client["rating"][:, None],
        )
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(
            DEFAULT_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    if epochs != 1:
        dataset = dataset.repeat(epochs)
    return dataset.batch(batch_size)


# A client's data as tensors (`client_tensors`), the parameter of
# `batches_computation`.
CLIENT_TENSORS_TYPE = tff.StructType(
    [
        ("user", tff.TensorType(np.int32, [None])),
        ("item", tff.TensorType(np.int32, [None])),
        ("rating", tff.TensorType(np.float32, [None])),
        ("shuffle_seed", tff.TensorType(np.int64)),
    ]
)


def client_tensors(
    data: FederatedData, k: int, *, shuffle_seed: int = 0, user_key: str = "user"
) -> collections.OrderedDict:
    """Client `k`'s rows as arrays, for a process composed with
    `batches_computation`: ``OrderedDict(user, item, rating, shuffle_seed)``.

    Raises:
      ValueError: if `user_key` is not ``user`` or ``local_user``.
    """
    if user_key not in USER_KEYS:
        raise ValueError(f"user_key must be one of {USER_KEYS}, got {user_key!r}")
    rows = data.client_rows(k)
    users = data.local_users if user_key == "local_user" else data.users
    return collections.OrderedDict(
        user=users[rows],
        item=data.items[rows],
        rating=data.ratings[rows],
        shuffle_seed=np.int64(shuffle_seed),
    )


def dataset_options() -> tf.data.Options:
    """Options of the datasets built by `batches_computation`.

    tf.data's default static optimizations (fusions, parallel batching)
    rewrite a dataset's graph with grappler every time an iterator starts,
    which for a client's few batches costs more than reading them; they are
    off, and so is autotuning (it only sizes buffers and threads). Two of
    them change what is read, and TFF's runtime applies both to datasets with
    default options: no-op elimination stays on (Federated Reconstruction's
    passes over a reshuffling dataset go through ``repeat(1)``), and the
    shuffle-and-repeat fusion is made by the computation itself (`_shuffle`).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_optimization.noop_elimination = True
    return options


def _shuffle(
    dataset: tf.data.Dataset, seed: tf.Tensor, graph_seed: int, epochs: int
) -> tf.data.Dataset:
    """``dataset.shuffle(DEFAULT_SHUFFLE_BUFFER, seed,
    reshuffle_each_iteration=True).repeat(epochs)`` made in a TFF
    computation's graph, read as TFF's runtime reads that dataset made
    eagerly.

    In a graph, `tf.data.Dataset.shuffle` makes the legacy ``ShuffleDataset``
    op, whose reshuffled orders (second and later passes, as Federated
    Reconstruction makes) differ from those of eager's ``ShuffleDatasetV3``;
    and tf.data's default optimizations, on for a dataset TFF's runtime
    receives, fuse a shuffle followed by a repeat into one
    ``ShuffleAndRepeatDatasetV2``, which reshuffles differently too. This
    makes the op TFF's runtime would read, with the seeds eager derives
    (`graph_seed` stands for the global seed).
    """
    graph = tf.compat.v1.get_default_graph()
    previous, graph.seed = graph.seed, graph_seed
    try:
        seed, seed2 = tf_data_random_seed.get_seed(seed)
    finally:
        graph.seed = previous
    specs = tf.nest.flatten(dataset.element_spec)
    arguments = dict(
        input_dataset=tf.data.experimental.to_variant(dataset),
        buffer_size=tf.constant(DEFAULT_SHUFFLE_BUFFER, tf.int64),
        seed=seed,
        seed2=seed2,
        seed_generator=tf.raw_ops.DummySeedGenerator(),
        output_types=[spec.dtype for spec in specs],
        output_shapes=[spec.shape for spec in specs],
        reshuffle_each_iteration=True,
    )
    if epochs == 1:
        variant = tf.raw_ops.ShuffleDatasetV3(**arguments)
    else:
        variant = tf.raw_ops.ShuffleAndRepeatDatasetV2(
            count=tf.constant(epochs, tf.int64), **arguments
        )
    return tf.data.experimental.from_variant(variant, dataset.element_spec)


def batches_computation(
    *, batch_size: int | None = None, epochs: int = 1, shuffle: bool = True
) -> tff.Computation:
    """A TFF computation from a client's tensors to its model-ready batches.

    Composed with a learning process
    (`tff.simulation.compose_dataset_computation_with_learning_process`), it
    makes a process whose ``next`` takes each client's arrays
    (`client_tensors`) and builds the client's dataset inside the round, on
    the client: the same elements in the same order as `client_batches`, with
    no dataset made in Python or serialized per client.

    Args:
      batch_size: examples per batch; None means `DEFAULT_BATCH_SIZE`.
      epochs: passes over the data.
      shuffle: reshuffle each pass, seeded by the client's ``shuffle_seed``.

    Returns:
      A computation of type ``CLIENT_TENSORS_TYPE -> <x=<user,item>,y>*``.
    """
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    # The first of the two seeds an eager shuffle gets: TensorFlow's global
    # seed if one is set, else TensorFlow's default.
    graph_seed, _ = tf.compat.v1.get_seed(1)

    @tff.tensorflow.computation(CLIENT_TENSORS_TYPE)
    def batches(client):
        dataset = tf.data.Dataset.from_tensor_slices(
            collections.OrderedDict(
                x=collections.OrderedDict(user=client.user, item=client.item),
                y=tf.expand_dims(client.rating, 1),
            )
        )
        if shuffle:
            dataset = _shuffle(dataset, client.shuffle_seed, graph_seed, epochs)
        elif epochs != 1:
            dataset = dataset.repeat(epochs)
        return dataset.batch(batch_size).with_options(dataset_options())

    return batches


def tensors_type(example: collections.OrderedDict) -> tff.StructWithPythonType:
    """The TFF type of a client's examples like `example`, of any length.

    `example` is a (nested) ``OrderedDict`` of arrays whose first dimension
    counts the examples; the type keeps dtypes, structure and trailing
    dimensions, and leaves the first dimension unknown.
    """

    def convert(value):
        if isinstance(value, collections.OrderedDict):
            return tff.StructWithPythonType(
                [(name, convert(v)) for name, v in value.items()],
                collections.OrderedDict,
            )
        value = np.asarray(value)
        if value.ndim < 1:
            raise ValueError(f"each array needs an examples dimension, got {value!r}")
        return tff.TensorType(value.dtype, [None, *value.shape[1:]])

    return convert(example)


def slices_computation(
    examples_type: tff.Type, *, batch_size: int | None = None, epochs: int = 1
) -> tff.Computation:
    """A TFF computation from a client's examples, in order, to its batches.

    ``from_tensor_slices(examples).repeat(epochs).batch(batch_size)`` made on
    the client inside the round, as `batches_computation` does for rating
    rows, for examples whose order the caller has fixed (the implicit task's
    groups of a positive and its negatives). Composed with a learning process
    like `batches_computation`.

    Args:
      examples_type: the examples' type (`tensors_type`).
      batch_size: examples per batch; None means `DEFAULT_BATCH_SIZE`.
      epochs: passes over the examples.
    """
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size

    @tff.tensorflow.computation(examples_type)
    def batches(examples):
        dataset = tf.data.Dataset.from_tensor_slices(examples)
        if epochs != 1:
            dataset = dataset.repeat(epochs)
        return dataset.batch(batch_size).with_options(dataset_options())

    return batches


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
