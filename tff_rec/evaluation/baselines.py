"""Non-federated baselines on the same split: centralized and local-only.

* Centralized: the same Keras model trained on all training data pooled in
  one place, the quality ceiling a federated run is measured against.
* Local-only: every participant trains the same model alone on its own data
  and is scored on its own test data, with no collaboration.

Local-only training is done for all participants at once, exactly: each
participant gets its own copy of every parameter it can touch (a global bias,
its users' factors, and a row for each item *it* rated). Items a participant
never rated keep the zero initialisation, so they are predicted from the
participant's biases alone. No parameter is shared between participants, so
one optimizer over the union trains them all at once: a lazy Adam
(`tff_rec.evaluation.lazy_adam`), which moves a participant's rows only in
the steps whose batch holds its data, as its own training loop would (the
bias correction follows the shared step count).
"""

from __future__ import annotations

import collections
import dataclasses
import time

import numpy as np
import tensorflow as tf

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition as partition_lib
from tff_rec.evaluation import lazy_adam
from tff_rec.evaluation import rating_metrics
from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import losses

DEFAULT_EPOCHS = 15
DEFAULT_BATCH_SIZE = 512
DEFAULT_LEARNING_RATE = 0.002


@dataclasses.dataclass(frozen=True)
class BaselineResult:
    metrics: rating_metrics.RatingMetrics
    epochs: int
    wall_seconds: float
    examples_per_second: float
    weights: rating_metrics.MatrixFactorizationWeights | None = None
    predictions: np.ndarray | None = None


def _fit(
    keras_model,
    x,
    y,
    *,
    epochs,
    batch_size,
    learning_rate,
    seed,
    optimizer=tf.keras.optimizers.Adam,
):
    keras_model.compile(optimizer=optimizer(learning_rate), loss=losses.rating_loss())
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    start = time.perf_counter()
    keras_model.fit(dataset, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def train_centralized(
    train: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    *,
    embedding_dim: int | None = None,
    l2: float | None = None,
    bias_l2: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
) -> BaselineResult:
    """Trains biased MF on the pooled training data and scores it on `test`.

    Args:
      train: training interactions.
      test: test interactions (same id space).
      embedding_dim: None means `mf.DEFAULT_EMBEDDING_DIM`.
      l2: None means `mf.DEFAULT_L2`.
      bias_l2: None means `mf.DEFAULT_BIAS_L2`.
      epochs: None means `DEFAULT_EPOCHS`.
      batch_size: None means `DEFAULT_BATCH_SIZE`.
      learning_rate: Adam step size; None means `DEFAULT_LEARNING_RATE`.
      seed: initialisation and shuffling seed.

    Returns:
      A `BaselineResult` with the test metrics and trained weights.
    """
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    tf.keras.utils.set_random_seed(seed)
    model = mf.build_matrix_factorization(
        train.num_users,
        train.num_items,
        embedding_dim=embedding_dim,
        l2=l2,
        bias_l2=bias_l2,
        global_bias=float(np.mean(train.ratings)),
        # Pooled data lets the global bias be trained like any other weight.
        train_global_bias=True,
        seed=seed,
    )
    x = collections.OrderedDict(user=train.users, item=train.items)
    seconds = _fit(
        model.keras_model,
        x,
        train.ratings[:, None],
        epochs=epochs,
        batch_size=batch_size or DEFAULT_BATCH_SIZE,
        learning_rate=learning_rate or DEFAULT_LEARNING_RATE,
        seed=seed,
    )
    weights = rating_metrics.MatrixFactorizationWeights.from_keras(model.keras_model)
    return BaselineResult(
        metrics=rating_metrics.evaluate_global_model(weights, test),
        epochs=epochs,
        wall_seconds=seconds,
        examples_per_second=epochs * len(train) / max(seconds, 1e-9),
        weights=weights,
    )


def train_local_only(
    train: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    partition: partition_lib.Partition,
    *,
    embedding_dim: int | None = None,
    l2: float | None = None,
    bias_l2: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
) -> BaselineResult:
    """Trains one model per participant on its own data only.

    Args:
      train: training interactions; `partition` indexes its rows.
      test: test interactions. Each test row is scored by the participant
        holding that user; users absent from every participant cannot be
        scored locally and raise.
      partition: the participants.
      embedding_dim, l2, bias_l2, epochs, batch_size, learning_rate, seed: as
        in `train_centralized`.

    Returns:
      A `BaselineResult` with the test predictions (no weights: there is no
      single model).

    Raises:
      ValueError: if a test user belongs to no participant.
    """
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    embedding_dim = mf.DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    l2 = mf.DEFAULT_L2 if l2 is None else l2
    bias_l2 = mf.DEFAULT_BIAS_L2 if bias_l2 is None else bias_l2
    tf.keras.utils.set_random_seed(seed)

    client_of_row = np.empty(len(train), np.int64)
    for k, rows in enumerate(partition.client_indices):
        client_of_row[rows] = k
    client_of_user = np.full(train.num_users, -1, np.int64)
    client_of_user[train.users] = client_of_row
    if np.any(client_of_user[test.users] < 0):
        raise ValueError(
            "local-only evaluation needs every test user to be a participant; "
            "held-out users have no local model"
        )
    num_clients = partition.num_clients
    # One row per (participant, item) pair seen in training; pairs seen only
    # at test time map to `unseen`, a row kept at zero.
    train_keys = client_of_row * train.num_items + train.items
    pair_keys, train_pairs = np.unique(train_keys, return_inverse=True)
    unseen = len(pair_keys)
    test_keys = client_of_user[test.users] * train.num_items + test.items
    pos = np.searchsorted(pair_keys, test_keys)
    pos = np.minimum(pos, unseen - 1)
    test_pairs = np.where(pair_keys[pos] == test_keys, pos, unseen)
    client_means = np.bincount(
        client_of_row, weights=train.ratings, minlength=num_clients
    ) / np.maximum(np.bincount(client_of_row, minlength=num_clients), 1)

    user = tf.keras.Input(shape=(), dtype=tf.int32, name="user")
    pair = tf.keras.Input(shape=(), dtype=tf.int32, name="pair")
    client = tf.keras.Input(shape=(), dtype=tf.int32, name="client")
    normal = tf.keras.initializers.RandomNormal(stddev=0.05, seed=seed)
    p_u = tf.keras.layers.Embedding(train.num_users, embedding_dim, normal)(user)
    b_u = tf.keras.layers.Embedding(train.num_users, 1, "zeros")(user)
    q_i = tf.keras.layers.Embedding(unseen + 1, embedding_dim, normal, name="q")(pair)
    b_i = tf.keras.layers.Embedding(unseen + 1, 1, "zeros", name="b_i")(pair)
    b_c = tf.keras.layers.Embedding(
        num_clients,
        1,
        tf.keras.initializers.Constant(client_means[:, None]),
    )(client)
    dot = tf.keras.layers.Dot(axes=1)([p_u, q_i])
    prediction = tf.keras.layers.Add()([dot, b_u, b_i, b_c])
    factors = tf.keras.layers.Concatenate()([p_u, q_i])
    biases = tf.keras.layers.Concatenate()([b_u, b_i])
    penalty = tf.keras.layers.Lambda(
        lambda t: l2 * tf.reduce_sum(tf.square(t[0]), axis=1, keepdims=True)
        + bias_l2 * tf.reduce_sum(tf.square(t[1]), axis=1, keepdims=True)
    )([factors, biases])
    output = tf.keras.layers.Concatenate()([prediction, penalty])
    keras_model = tf.keras.Model(
        inputs=collections.OrderedDict(user=user, pair=pair, client=client),
        outputs=output,
    )

    x = collections.OrderedDict(
        user=train.users, pair=train_pairs.astype(np.int32), client=client_of_row
    )
    seconds = _fit(
        keras_model,
        x,
        train.ratings[:, None],
        epochs=epochs,
        batch_size=batch_size or DEFAULT_BATCH_SIZE,
        learning_rate=learning_rate or DEFAULT_LEARNING_RATE,
        seed=seed,
        # A row per (participant, item) pair: dense Adam would touch all of
        # them at every step.
        optimizer=lazy_adam.LazyAdam,
    )
    for name in ("q", "b_i"):
        layer = keras_model.get_layer(name)
        table = layer.get_weights()[0]
        table[unseen] = 0.0
        layer.set_weights([table])
    x_test = collections.OrderedDict(
        user=test.users,
        pair=test_pairs.astype(np.int32),
        client=client_of_user[test.users],
    )
    predictions = keras_model.predict(x_test, batch_size=8192, verbose=0)[:, 0]
    return BaselineResult(
        metrics=rating_metrics.from_predictions(test.ratings, predictions),
        epochs=epochs,
        wall_seconds=seconds,
        examples_per_second=epochs * len(train) / max(seconds, 1e-9),
        predictions=predictions,
    )
