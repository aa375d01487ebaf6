"""A feature-based click model: an MLP over user and item features.

The input of the MLP tower concatenates embeddings of the user id, the item
id, the user's age bucket, gender, occupation and zip region, a linear
projection of the item's genre multi-hot and an embedding of its release
decade; the tower ends in one logit, as the MLP of He et al., "Neural
Collaborative Filtering", WWW 2017, arXiv:1708.05031 (see `ncf`), widened to
side information in the manner of Cheng et al., "Wide & Deep Learning for
Recommender Systems", DLRS 2016, arXiv:1606.07792 (the deep part).

The user's own features arrive with its examples (inputs ``age``, ``gender``,
``occupation``, ``zip_region``). Item features are public catalogue metadata:
the model looks them up by item id in constant tables, which are not
variables, so they are never trained, sent or aggregated.

Output and split follow `ncf`: ``[batch, 2]`` (logit, per-example L2 penalty
on the user and item id embedding rows); the user id embedding is the only
local layer. The feature embeddings are not penalized per example: each of
their rows is shared by many users, like a bias.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tff_rec.data import feature_encoding
from tff_rec.models import matrix_factorization as mf
from tff_rec.models import ncf

DEFAULT_EMBEDDING_DIM = 16
DEFAULT_HIDDEN_UNITS = (64, 32)
DEFAULT_L2 = ncf.DEFAULT_L2

# The model's inputs, in input-spec order.
INPUT_NAMES = ("user", "item", *feature_encoding.USER_FEATURE_NAMES)

USER_EMBEDDING = mf.USER_EMBEDDING
ITEM_EMBEDDING = mf.ITEM_EMBEDDING
# The user-feature embedding layers, by input name.
FEATURE_EMBEDDINGS = collections.OrderedDict(
    (name, f"{name}_embedding") for name in feature_encoding.USER_FEATURE_NAMES
)
GENRE_PROJECTION = "genre_projection"
YEAR_EMBEDDING = "year_embedding"
ITEM_FEATURE_LOOKUP = "item_feature_lookup"
MLP_HIDDEN_PREFIX = ncf.MLP_HIDDEN_PREFIX
PREDICTION = ncf.PREDICTION


class ItemFeatureLookup(tf.keras.layers.Layer):
    """Maps item ids to (genre multi-hot, year bucket) from constant tables.

    The tables are numpy arrays turned into constants at call time, in the
    graph being traced, so they are never Keras weights.
    """

    def __init__(self, genres, year_bucket, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._genres = np.asarray(genres, np.float32)
        self._year_bucket = np.asarray(year_bucket, np.int32)

    def call(self, item):
        genres = tf.gather(tf.constant(self._genres), item)
        year_bucket = tf.gather(tf.constant(self._year_bucket), item)
        return genres, year_bucket

    def get_config(self):
        return {
            **super().get_config(),
            "genres": self._genres.tolist(),
            "year_bucket": self._year_bucket.tolist(),
        }


def batch_input_spec() -> collections.OrderedDict:
    """The element spec of a training batch: int32 ids/features, 0/1 labels."""
    return collections.OrderedDict(
        x=collections.OrderedDict(
            (name, tf.TensorSpec([None], tf.int32)) for name in INPUT_NAMES
        ),
        y=tf.TensorSpec([None, 1], tf.float32),
    )


def build_feature_model(
    num_users: int,
    item_features: feature_encoding.ItemFeatures,
    user_feature_sizes: Mapping[str, int] | feature_encoding.UserFeatures,
    *,
    embedding_dim: int | None = None,
    hidden_units: Sequence[int] | None = None,
    l2: float | None = None,
    seed: int | None = None,
) -> mf.RecommenderModel:
    """Builds the feature-based click model.

    Args:
      num_users: rows of the user id table (for reconstruction, the users on
        one client, indexed by their position on it).
      item_features: the catalogue's encoded item features; its number of
        items sizes the item table.
      user_feature_sizes: vocabulary size of each of
        `feature_encoding.USER_FEATURE_NAMES`, or the `UserFeatures` they come
        from.
      embedding_dim: size of every embedding and of the genre projection;
        None means `DEFAULT_EMBEDDING_DIM`.
      hidden_units: widths of the ReLU layers; None means
        `DEFAULT_HIDDEN_UNITS`.
      l2: per-example L2 penalty weight on the user and item id embedding
        rows; None means `DEFAULT_L2`.
      seed: initializer seed; None draws one.

    Returns:
      A `mf.RecommenderModel` taking `INPUT_NAMES` int32 ``[batch]`` inputs
      and returning ``[batch, 2]`` (logit, penalty).

    Raises:
      ValueError: if a size is not positive, `user_feature_sizes` does not
        name exactly the user features, `hidden_units` is empty or not
        positive ints, or `l2` is negative.
    """
    embedding_dim = DEFAULT_EMBEDDING_DIM if embedding_dim is None else embedding_dim
    hidden_units = ncf.resolve_hidden_units(
        DEFAULT_HIDDEN_UNITS if hidden_units is None else hidden_units
    )
    l2 = DEFAULT_L2 if l2 is None else l2
    if isinstance(user_feature_sizes, feature_encoding.UserFeatures):
        user_feature_sizes = user_feature_sizes.sizes()
    if set(user_feature_sizes) != set(feature_encoding.USER_FEATURE_NAMES):
        raise ValueError(
            "user_feature_sizes must name exactly "
            f"{', '.join(feature_encoding.USER_FEATURE_NAMES)}; got "
            f"{', '.join(sorted(user_feature_sizes)) or 'none'}."
        )
    ncf.validate_sizes(
        {
            "num_users": num_users,
            "item_features.num_items": item_features.num_items,
            "item_features.num_genres": item_features.num_genres,
            "embedding_dim": embedding_dim,
            **{
                f"user_feature_sizes[{name!r}]": user_feature_sizes[name]
                for name in feature_encoding.USER_FEATURE_NAMES
            },
        }
    )
    ncf.validate_l2(l2)

    inputs = collections.OrderedDict(
        (name, tf.keras.Input(shape=(), dtype=tf.int32, name=name))
        for name in INPUT_NAMES
    )

    def embedding(rows, offset, name):
        return tf.keras.layers.Embedding(
            rows,
            embedding_dim,
            embeddings_initializer=ncf.embedding_initializer(seed, offset),
            name=name,
        )

    user_embedding = embedding(num_users, 0, USER_EMBEDDING)
    item_embedding = embedding(item_features.num_items, 1, ITEM_EMBEDDING)
    feature_embeddings = [
        embedding(user_feature_sizes[name], 2 + k, layer_name)
        for k, (name, layer_name) in enumerate(FEATURE_EMBEDDINGS.items())
    ]
    year_embedding = embedding(item_features.year_bucket_size, 6, YEAR_EMBEDDING)
    lookup = ItemFeatureLookup(
        item_features.genres, item_features.year_bucket, name=ITEM_FEATURE_LOOKUP
    )
    genre_projection = tf.keras.layers.Dense(
        embedding_dim,
        use_bias=False,
        kernel_initializer=ncf.dense_initializer(seed, 0),
        name=GENRE_PROJECTION,
    )
    tower = ncf.dense_tower(hidden_units, seed, first_offset=1)
    prediction = ncf.prediction_layer(seed, 1 + len(tower))

    p_u = user_embedding(inputs["user"])
    q_i = item_embedding(inputs["item"])
    genres, year_bucket = lookup(inputs["item"])
    hidden = tf.keras.layers.Concatenate(name="mlp_input")(
        [
            p_u,
            q_i,
            *(
                layer(inputs[name])
                for name, layer in zip(
                    feature_encoding.USER_FEATURE_NAMES, feature_embeddings, strict=True
                )
            ),
            genre_projection(genres),
            year_embedding(year_bucket),
        ]
    )
    for layer in tower:
        hidden = layer(hidden)
    output = ncf.logit_and_penalty(prediction(hidden), [p_u, q_i], l2)
    keras_model = tf.keras.Model(inputs=inputs, outputs=output, name="feature_mlp")
    return mf.RecommenderModel(
        keras_model=keras_model,
        global_layers=(
            item_embedding,
            *feature_embeddings,
            genre_projection,
            year_embedding,
            *tower,
            prediction,
        ),
        local_layers=(user_embedding,),
        input_spec=batch_input_spec(),
    )
