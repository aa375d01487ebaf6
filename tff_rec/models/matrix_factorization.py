"""Biased matrix factorization as a functional Keras model.

    r_hat(u, i) = b + b_u + b_i + <p_u, q_i>

Koren, Bell and Volinsky, "Matrix Factorization Techniques for Recommender
Systems", IEEE Computer 42(8), 2009.

The item side (``q_i``, ``b_i``) and the global bias ``b`` are *global*
layers, shared by all participants; the user side (``p_u``, ``b_u``) are
*local* layers. Federated Reconstruction keeps local layers on the client and
never aggregates them; FedAvg aggregates everything.

The training model outputs two columns per example: the predicted rating and
the example's L2 penalty
``l2 * (|p_u|^2 + |q_i|^2) + bias_l2 * (b_u^2 + b_i^2)``. Putting
the penalty in the output, rather than in ``model.losses``, regularizes only
the rows an example touches (the classic SGD formulation of MF) and works
with every TFF algorithm, including reconstruction, whose loss only sees
``(y_true, y_pred)``. `tff_rec.tasks.losses` knows the column layout.
"""

from __future__ import annotations

import collections
import dataclasses

import tensorflow as tf

DEFAULT_EMBEDDING_DIM = 32
DEFAULT_L2 = 0.05
DEFAULT_BIAS_L2 = 0.0
PREDICTION_COLUMN = 0
PENALTY_COLUMN = 1

USER_EMBEDDING = "user_embedding"
USER_BIAS = "user_bias"
ITEM_EMBEDDING = "item_embedding"
ITEM_BIAS = "item_bias"
GLOBAL_BIAS = "global_bias"


@dataclasses.dataclass(frozen=True)
class RecommenderModel:
    """A Keras recommender with its global/local split.

    Attributes:
      keras_model: functional model taking ``OrderedDict(user=, item=)`` int32
        ids of shape ``[batch]`` and returning ``[batch, 2]`` (prediction,
        L2 penalty).
      global_layers: layers shared by all participants (aggregated).
      local_layers: layers private to a participant (the user side).
      input_spec: the element spec of a batch, ``OrderedDict(x=..., y=...)``.
    """

    keras_model: tf.keras.Model
    global_layers: tuple[tf.keras.layers.Layer, ...]
    local_layers: tuple[tf.keras.layers.Layer, ...]
    input_spec: collections.OrderedDict


class GlobalBias(tf.keras.layers.Layer):
    """Adds a scalar (the global mean rating, by default not trained)."""

    def __init__(self, initial_value: float = 0.0, train_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._initial_value = float(initial_value)
        self._train_bias = bool(train_bias)

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias",
            shape=(),
            initializer=tf.keras.initializers.Constant(self._initial_value),
            trainable=self._train_bias,
        )
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self.bias

    def get_config(self):
        return {
            **super().get_config(),
            "initial_value": self._initial_value,
            "train_bias": self._train_bias,
        }


def batch_input_spec() -> collections.OrderedDict:
    """The element spec of a training batch for rating models."""
    return collections.OrderedDict(
        x=collections.OrderedDict(
            user=tf.TensorSpec([None], tf.int32),
            item=tf.TensorSpec([None], tf.int32),
        ),
        y=tf.TensorSpec([None, 1], tf.float32),
    )


def build_matrix_factorization(
    num_users: int,
    num_items: int,
    *,
    embedding_dim: int | None = None,
    l2: float | None = None,
    bias_l2: float | None = None,
    global_bias: float = 0.0,
    train_global_bias: bool = False,
    init_stddev: float = 0.05,
    seed: int | None = None,
) -> RecommenderModel:
    """Builds a biased matrix factorization model.

    Args:
      num_users: rows of the user tables. For reconstruction this is the
        number of users on one client (1 for per-user clients), indexed by the
        user's position on that client.
      num_items: rows of the item tables (the whole catalogue).
      embedding_dim: size of ``p_u`` and ``q_i``; None means
        `DEFAULT_EMBEDDING_DIM`.
      l2: per-example L2 penalty weight on ``p_u`` and ``q_i``; None means
        `DEFAULT_L2`.
      bias_l2: per-example L2 penalty weight on ``b_u`` and ``b_i``; None
        means `DEFAULT_BIAS_L2`.
      global_bias: value of ``b``, the global mean rating.
      train_global_bias: if True ``b`` is trained from `global_bias`; by
        default it is a constant. A constant suits federated training: ``b``
        is the one parameter every example touches, so an update scaled for
        the sparse item rows would overshoot on it.
      init_stddev: standard deviation of the normal embedding initializer.
      seed: initializer seed; None draws one.

    Returns:
      A `RecommenderModel`.

    Raises:
      ValueError: if a size is not positive or `l2` is negative.
    """
    embedding_dim = DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    l2 = DEFAULT_L2 if l2 is None else l2
    bias_l2 = DEFAULT_BIAS_L2 if bias_l2 is None else bias_l2
    for name, value in (
        ("num_users", num_users),
        ("num_items", num_items),
        ("embedding_dim", embedding_dim),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    if l2 < 0 or bias_l2 < 0:
        raise ValueError(f"l2 and bias_l2 must be >= 0, got {l2}, {bias_l2}.")

    def normal(offset):
        return tf.keras.initializers.RandomNormal(
            stddev=init_stddev, seed=None if seed is None else seed + offset
        )

    user = tf.keras.Input(shape=(), dtype=tf.int32, name="user")
    item = tf.keras.Input(shape=(), dtype=tf.int32, name="item")
    user_embedding = tf.keras.layers.Embedding(
        num_users, embedding_dim, embeddings_initializer=normal(0), name=USER_EMBEDDING
    )
    user_bias = tf.keras.layers.Embedding(
        num_users, 1, embeddings_initializer="zeros", name=USER_BIAS
    )
    item_embedding = tf.keras.layers.Embedding(
        num_items, embedding_dim, embeddings_initializer=normal(1), name=ITEM_EMBEDDING
    )
    item_bias = tf.keras.layers.Embedding(
        num_items, 1, embeddings_initializer="zeros", name=ITEM_BIAS
    )
    bias = GlobalBias(global_bias, train_global_bias, name=GLOBAL_BIAS)

    p_u = user_embedding(user)
    q_i = item_embedding(item)
    b_u = user_bias(user)
    b_i = item_bias(item)
    # An elementwise product and a row sum, not `tf.keras.layers.Dot`: Dot
    # lowers to a batched matmul of [batch, 1, dim] x [batch, dim, 1], which
    # oneDNN runs an order of magnitude slower than this for small batches and
    # which dominated a client's step time.
    dot = tf.keras.layers.Lambda(
        lambda t: tf.reduce_sum(t[0] * t[1], axis=1, keepdims=True), name="dot"
    )([p_u, q_i])
    prediction = bias(tf.keras.layers.Add(name="sum")([dot, b_u, b_i]))
    factors = tf.keras.layers.Concatenate(name="factors")([p_u, q_i])
    biases = tf.keras.layers.Concatenate(name="biases")([b_u, b_i])
    penalty = tf.keras.layers.Lambda(
        lambda t: l2 * tf.reduce_sum(tf.square(t[0]), axis=1, keepdims=True)
        + bias_l2 * tf.reduce_sum(tf.square(t[1]), axis=1, keepdims=True),
        name="l2_penalty",
    )([factors, biases])
    output = tf.keras.layers.Concatenate(name="prediction_and_penalty")(
        [prediction, penalty]
    )
    keras_model = tf.keras.Model(
        inputs=collections.OrderedDict(user=user, item=item),
        outputs=output,
        name="biased_mf",
    )
    return RecommenderModel(
        keras_model=keras_model,
        global_layers=(item_embedding, item_bias, bias),
        local_layers=(user_embedding, user_bias),
        input_spec=batch_input_spec(),
    )
