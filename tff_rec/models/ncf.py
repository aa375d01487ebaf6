"""Neural Collaborative Filtering: GMF, MLP and NeuMF as functional Keras models.

He, Liao, Zhang, Nie, Hu and Chua, "Neural Collaborative Filtering", WWW 2017,
arXiv:1708.05031.

* GMF: ``logit = h^T (p_u * q_i) + b`` (a generalized dot product).
* MLP: ``logit = h^T tower([p_u, q_i]) + b`` with a ReLU tower.
* NeuMF: one prediction layer over ``[p_u * q_i, tower([p'_u, q'_i])]``, the
  GMF and MLP parts having their own embeddings.

The models score implicit feedback: column `mf.PREDICTION_COLUMN` of the
``[batch, 2]`` output is the *logit* (the loss applies the sigmoid) and
column `mf.PENALTY_COLUMN` is the example's L2 penalty
``l2 * (sum of |user embedding|^2 + sum of |item embedding|^2)`` over the
embedding rows the example uses, as in `tff_rec.models.matrix_factorization`.
Dense layers are not penalized: a per-example penalty on weights every
example shares would be counted once per example, and ``model.losses`` is
ignored by TFF reconstruction.

The user embeddings are *local* layers (kept on the client by Federated
Reconstruction); the item embeddings and all dense layers are *global*.
Layer names match across the three builders, so GMF and MLP weights can be
copied into NeuMF by name (the paper's pre-training).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from collections.abc import Sequence

import tensorflow as tf

from tff_rec.models import matrix_factorization as mf

DEFAULT_EMBEDDING_DIM = 16
DEFAULT_MLP_EMBEDDING_DIM = 32
DEFAULT_HIDDEN_UNITS = (64, 32, 16)
DEFAULT_L2 = 1e-4
# The paper initializes embeddings from N(0, 0.01^2).
EMBEDDING_STDDEV = 0.01

GMF_USER_EMBEDDING = "gmf_user_embedding"
GMF_ITEM_EMBEDDING = "gmf_item_embedding"
MLP_USER_EMBEDDING = "mlp_user_embedding"
MLP_ITEM_EMBEDDING = "mlp_item_embedding"
# Initializer seed offset and layer names of each branch's embeddings.
GMF_EMBEDDINGS = (0, GMF_USER_EMBEDDING, GMF_ITEM_EMBEDDING)
MLP_EMBEDDINGS = (2, MLP_USER_EMBEDDING, MLP_ITEM_EMBEDDING)
# Hidden layer k of a tower is named f"{MLP_HIDDEN_PREFIX}{k}" (k from 0).
MLP_HIDDEN_PREFIX = "mlp_hidden_"
PREDICTION = "prediction"

# Seed offsets: embedding tables draw from seed + 0..9, dense layers from
# seed + DENSE_SEED_OFFSET + k, so no two layers share a stream.
DENSE_SEED_OFFSET = 100


def validate_sizes(sizes: Mapping[str, int]) -> None:
    """Raises ValueError naming the first size that is not >= 1."""
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")


def validate_l2(l2: float) -> None:
    """Raises ValueError if the penalty weight is negative."""
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}.")


def resolve_hidden_units(hidden_units: Sequence[int] | None) -> tuple[int, ...]:
    """Returns `hidden_units` as a tuple; None means `DEFAULT_HIDDEN_UNITS`.

    Raises:
      ValueError: if it is empty or holds anything but positive ints.
    """
    if hidden_units is None:
        return DEFAULT_HIDDEN_UNITS
    units = tuple(hidden_units) if isinstance(hidden_units, Sequence) else None
    if not units or not all(
        isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in units
    ):
        raise ValueError(
            "hidden_units must be a non-empty sequence of positive ints, got "
            f"{hidden_units!r}."
        )
    return units


def embedding_initializer(seed: int | None, offset: int, stddev: float | None = None):
    """N(0, stddev^2), seeded from ``seed + offset``; None means
    `EMBEDDING_STDDEV`."""
    return tf.keras.initializers.RandomNormal(
        stddev=EMBEDDING_STDDEV if stddev is None else stddev,
        seed=None if seed is None else seed + offset,
    )


def dense_initializer(seed: int | None, offset: int):
    """Glorot uniform, seeded from ``seed + DENSE_SEED_OFFSET + offset``."""
    return tf.keras.initializers.GlorotUniform(
        seed=None if seed is None else seed + DENSE_SEED_OFFSET + offset
    )


def dense_tower(
    hidden_units: Sequence[int], seed: int | None, first_offset: int = 0
) -> list[tf.keras.layers.Dense]:
    """ReLU layers named ``mlp_hidden_<k>``, seeded from ``first_offset + k``."""
    return [
        tf.keras.layers.Dense(
            units,
            activation="relu",
            kernel_initializer=dense_initializer(seed, first_offset + k),
            name=f"{MLP_HIDDEN_PREFIX}{k}",
        )
        for k, units in enumerate(hidden_units)
    ]


def prediction_layer(seed: int | None, offset: int) -> tf.keras.layers.Dense:
    """The final linear layer producing the logit."""
    return tf.keras.layers.Dense(
        1, kernel_initializer=dense_initializer(seed, offset), name=PREDICTION
    )


def logit_and_penalty(
    logit: tf.Tensor, penalized: Sequence[tf.Tensor], l2: float
) -> tf.Tensor:
    """Concatenates ``[logit, l2 * sum of squares of penalized]`` to ``[batch, 2]``.

    Args:
      logit: ``[batch, 1]`` Keras tensor.
      penalized: ``[batch, d_k]`` Keras tensors (the example's embedding rows).
      l2: penalty weight.
    """
    rows = (
        penalized[0]
        if len(penalized) == 1
        else tf.keras.layers.Concatenate(name="penalized_embeddings")(list(penalized))
    )
    penalty = tf.keras.layers.Lambda(
        lambda t: l2 * tf.reduce_sum(tf.square(t), axis=1, keepdims=True),
        name="l2_penalty",
    )(rows)
    return tf.keras.layers.Concatenate(name="logit_and_penalty")([logit, penalty])


def _id_inputs() -> tuple[tf.Tensor, tf.Tensor]:
    return (
        tf.keras.Input(shape=(), dtype=tf.int32, name="user"),
        tf.keras.Input(shape=(), dtype=tf.int32, name="item"),
    )


def _id_embeddings(
    num_users, num_items, dim, seed, names, init_stddev, user_init_stddev
):
    """The (user, item) embedding layers of one branch, `names` = its
    ``(offset, user layer name, item layer name)``."""
    offset, user_name, item_name = names
    user_stddev = init_stddev if user_init_stddev is None else user_init_stddev
    return (
        _embedding(num_users, dim, seed, offset, user_name, user_stddev),
        _embedding(num_items, dim, seed, offset + 1, item_name, init_stddev),
    )


def _embedding(rows, dim, seed, offset, name, stddev=None):
    return tf.keras.layers.Embedding(
        rows,
        dim,
        embeddings_initializer=embedding_initializer(seed, offset, stddev),
        name=name,
    )


def _model(
    user, item, output, name, global_layers, local_layers
) -> mf.RecommenderModel:
    keras_model = tf.keras.Model(
        inputs=collections.OrderedDict(user=user, item=item),
        outputs=output,
        name=name,
    )
    return mf.RecommenderModel(
        keras_model=keras_model,
        global_layers=tuple(global_layers),
        local_layers=tuple(local_layers),
        input_spec=mf.batch_input_spec(),
    )


def build_gmf(
    num_users: int,
    num_items: int,
    *,
    embedding_dim: int | None = None,
    l2: float | None = None,
    seed: int | None = None,
    init_stddev: float | None = None,
    user_init_stddev: float | None = None,
) -> mf.RecommenderModel:
    """Builds Generalized Matrix Factorization.

    Args:
      num_users: rows of the user table (for reconstruction, the users on one
        client, indexed by their position on it).
      num_items: rows of the item table (the whole catalogue).
      embedding_dim: size of ``p_u`` and ``q_i``; None means
        `DEFAULT_EMBEDDING_DIM`.
      l2: per-example L2 penalty weight on the embedding rows; None means
        `DEFAULT_L2`.
      seed: initializer seed; None draws one.
      init_stddev: standard deviation of the embedding initializer; None
        means `EMBEDDING_STDDEV` (the NCF paper's 0.01). The federated
        runs of `benchmarks/ranking_ml100k.py` use 0.1 with zero user
        embeddings.
      user_init_stddev: the same for the user embeddings (the local
        layers); None means `init_stddev`, 0 means zeros. With Federated
        Reconstruction a client starts its user embeddings from the
        initializer every round: zeros make the reconstruction depend on
        the global model and the user's data alone.

    Returns:
      A `mf.RecommenderModel` whose output is ``[batch, 2]`` (logit, penalty)
      and whose labels ``y`` are 0/1 floats of shape ``[batch, 1]``.

    Raises:
      ValueError: if a size is not positive or `l2` is negative.
    """
    embedding_dim = DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    l2 = DEFAULT_L2 if l2 is None else l2
    validate_sizes(
        {"num_users": num_users, "num_items": num_items, "embedding_dim": embedding_dim}
    )
    validate_l2(l2)
    user, item = _id_inputs()
    user_embedding, item_embedding = _id_embeddings(
        num_users,
        num_items,
        embedding_dim,
        seed,
        GMF_EMBEDDINGS,
        init_stddev,
        user_init_stddev,
    )
    prediction = prediction_layer(seed, 0)
    p_u = user_embedding(user)
    q_i = item_embedding(item)
    logit = prediction(tf.keras.layers.Multiply(name="gmf_product")([p_u, q_i]))
    return _model(
        user,
        item,
        logit_and_penalty(logit, [p_u, q_i], l2),
        "gmf",
        global_layers=(item_embedding, prediction),
        local_layers=(user_embedding,),
    )


def build_mlp(
    num_users: int,
    num_items: int,
    *,
    embedding_dim: int | None = None,
    hidden_units: Sequence[int] | None = None,
    l2: float | None = None,
    seed: int | None = None,
    init_stddev: float | None = None,
    user_init_stddev: float | None = None,
) -> mf.RecommenderModel:
    """Builds the NCF multi-layer perceptron over ``[p_u, q_i]``.

    Args:
      num_users: rows of the user table (see `build_gmf`).
      num_items: rows of the item table.
      embedding_dim: size of ``p_u`` and ``q_i``; None means
        `DEFAULT_MLP_EMBEDDING_DIM`.
      hidden_units: widths of the ReLU layers; None means
        `DEFAULT_HIDDEN_UNITS`.
      l2: per-example L2 penalty weight on the embedding rows; None means
        `DEFAULT_L2`.
      seed: initializer seed; None draws one.
      init_stddev, user_init_stddev: as for `build_gmf`.

    Returns:
      A `mf.RecommenderModel` (see `build_gmf`).

    Raises:
      ValueError: if a size is not positive, `hidden_units` is empty or not
        positive ints, or `l2` is negative.
    """
    embedding_dim = (
        DEFAULT_MLP_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    )
    hidden_units = resolve_hidden_units(hidden_units)
    l2 = DEFAULT_L2 if l2 is None else l2
    validate_sizes(
        {"num_users": num_users, "num_items": num_items, "embedding_dim": embedding_dim}
    )
    validate_l2(l2)
    user, item = _id_inputs()
    user_embedding, item_embedding = _id_embeddings(
        num_users,
        num_items,
        embedding_dim,
        seed,
        MLP_EMBEDDINGS,
        init_stddev,
        user_init_stddev,
    )
    tower = dense_tower(hidden_units, seed)
    prediction = prediction_layer(seed, len(tower))
    p_u = user_embedding(user)
    q_i = item_embedding(item)
    hidden = tf.keras.layers.Concatenate(name="mlp_input")([p_u, q_i])
    for layer in tower:
        hidden = layer(hidden)
    return _model(
        user,
        item,
        logit_and_penalty(prediction(hidden), [p_u, q_i], l2),
        "ncf_mlp",
        global_layers=(item_embedding, *tower, prediction),
        local_layers=(user_embedding,),
    )


def build_neumf(
    num_users: int,
    num_items: int,
    *,
    embedding_dim: int | None = None,
    mlp_embedding_dim: int | None = None,
    hidden_units: Sequence[int] | None = None,
    l2: float | None = None,
    seed: int | None = None,
    init_stddev: float | None = None,
    user_init_stddev: float | None = None,
) -> mf.RecommenderModel:
    """Builds NeuMF: GMF and MLP parts fused by one prediction layer.

    Args:
      num_users: rows of the user tables (see `build_gmf`).
      num_items: rows of the item tables.
      embedding_dim: size of the GMF embeddings; None means
        `DEFAULT_EMBEDDING_DIM`.
      mlp_embedding_dim: size of the MLP embeddings; None means
        `DEFAULT_MLP_EMBEDDING_DIM`.
      hidden_units: widths of the MLP's ReLU layers; None means
        `DEFAULT_HIDDEN_UNITS`.
      l2: per-example L2 penalty weight on all four embedding rows; None
        means `DEFAULT_L2`.
      seed: initializer seed; None draws one. With the same seed the GMF and
        MLP parts start from the same weights as `build_gmf` and `build_mlp`.
      init_stddev, user_init_stddev: as for `build_gmf`.

    Returns:
      A `mf.RecommenderModel` (see `build_gmf`) with both user embeddings
      (`GMF_USER_EMBEDDING`, `MLP_USER_EMBEDDING`) as local layers.

    Raises:
      ValueError: if a size is not positive, `hidden_units` is empty or not
        positive ints, or `l2` is negative.
    """
    embedding_dim = DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    mlp_embedding_dim = (
        DEFAULT_MLP_EMBEDDING_DIM if mlp_embedding_dim is None else mlp_embedding_dim
    )
    hidden_units = resolve_hidden_units(hidden_units)
    l2 = DEFAULT_L2 if l2 is None else l2
    validate_sizes(
        {
            "num_users": num_users,
            "num_items": num_items,
            "embedding_dim": embedding_dim,
            "mlp_embedding_dim": mlp_embedding_dim,
        }
    )
    validate_l2(l2)
    user, item = _id_inputs()
    gmf_user, gmf_item = _id_embeddings(
        num_users,
        num_items,
        embedding_dim,
        seed,
        GMF_EMBEDDINGS,
        init_stddev,
        user_init_stddev,
    )
    mlp_user, mlp_item = _id_embeddings(
        num_users,
        num_items,
        mlp_embedding_dim,
        seed,
        MLP_EMBEDDINGS,
        init_stddev,
        user_init_stddev,
    )
    tower = dense_tower(hidden_units, seed)
    prediction = prediction_layer(seed, len(tower))
    p_u, q_i = gmf_user(user), gmf_item(item)
    mlp_p_u, mlp_q_i = mlp_user(user), mlp_item(item)
    gmf_vector = tf.keras.layers.Multiply(name="gmf_product")([p_u, q_i])
    hidden = tf.keras.layers.Concatenate(name="mlp_input")([mlp_p_u, mlp_q_i])
    for layer in tower:
        hidden = layer(hidden)
    fused = tf.keras.layers.Concatenate(name="neumf_input")([gmf_vector, hidden])
    return _model(
        user,
        item,
        logit_and_penalty(prediction(fused), [p_u, mlp_p_u, q_i, mlp_q_i], l2),
        "neumf",
        global_layers=(gmf_item, mlp_item, *tower, prediction),
        local_layers=(gmf_user, mlp_user),
    )
