"""The served model: a `tf.Module` with raw-id signatures over biased MF.

Signatures (all inputs are raw dataset ids as strings; ids are mapped to rows
inside the graph with `tf.lookup.StaticHashTable`):

==========================  =================================================
signature                   inputs -> outputs
==========================  =================================================
``serving_default``         ``user_id`` string [None], ``item_id`` string
                            [None] -> ``score`` float32 [None]
``recommend``               ``user_id`` string [], ``k`` int32 [],
                            ``exclude_item_ids`` string [None] ->
                            ``item_ids`` string [k'], ``scores`` float32 [k']
``recommend_from_history``  ``history_item_ids`` string [None],
                            ``history_ratings`` float32 [None], ``k`` int32 [],
                            ``exclude_item_ids`` string [None] ->
                            ``item_ids`` string [k'], ``scores`` float32 [k']
``score_from_history``      ``history_item_ids`` string [None],
                            ``history_ratings`` float32 [None], ``item_id``
                            string [None] -> ``score`` float32 [None]
==========================  =================================================

Out-of-vocabulary (OOV) ids map to an all-zero row appended to every table,
so an OOV user gets the bias-only prediction ``b + b_i``, an OOV item gets
``b + b_u`` and both OOV give the global mean ``b``. A model without user
tables (Federated Reconstruction: user factors never leave the devices) treats
every user as OOV in ``serving_default`` and ``recommend``; its users are
served by the ``*_from_history`` signatures, which solve the user's factors in
the graph from the ratings sent with the request, exactly as
`tff_rec.evaluation.rating_metrics.reconstruct_users` does.

Every input is checked in the graph, so a bad request fails with an
``InvalidArgumentError`` naming the input instead of returning NaN or garbage:
its rank (a scalar where ``[]`` is declared, a list where ``[None]`` is; the
signatures accept any shape so that the check runs on what was sent), and
history ratings that are not finite or lie outside the model's rating scale
(the scale the model was trained on, when its data declared one).

Rankings run over the whole catalogue minus ``exclude_item_ids`` (unknown ids
there are ignored). ``k' = min(k, number of candidate items)``: a ``k`` larger
than the catalogue is clamped; ``k < 1`` fails the request with
``InvalidArgumentError`` ("k must be >= 1").
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import tensorflow as tf

from tff_rec.evaluation import rating_metrics
from tff_rec.models import matrix_factorization as mf

SERVING_DEFAULT = "serving_default"
RECOMMEND = "recommend"
RECOMMEND_FROM_HISTORY = "recommend_from_history"
SCORE_FROM_HISTORY = "score_from_history"
SIGNATURE_NAMES = (
    SERVING_DEFAULT,
    RECOMMEND,
    RECOMMEND_FROM_HISTORY,
    SCORE_FROM_HISTORY,
)

# The declared inputs of each signature: (dtype, shape). The signatures
# themselves take any shape and check it in the graph (`_checked`): a
# signature's static shape is not enforced on the tensors a client sends.
DECLARED_INPUTS = {
    SERVING_DEFAULT: {"user_id": (tf.string, [None]), "item_id": (tf.string, [None])},
    RECOMMEND: {
        "user_id": (tf.string, []),
        "k": (tf.int32, []),
        "exclude_item_ids": (tf.string, [None]),
    },
    RECOMMEND_FROM_HISTORY: {
        "history_item_ids": (tf.string, [None]),
        "history_ratings": (tf.float32, [None]),
        "k": (tf.int32, []),
        "exclude_item_ids": (tf.string, [None]),
    },
    SCORE_FROM_HISTORY: {
        "history_item_ids": (tf.string, [None]),
        "history_ratings": (tf.float32, [None]),
        "item_id": (tf.string, [None]),
    },
}


def _input_signature(name: str) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec(None, dtype, name=input_name)
        for input_name, (dtype, _) in DECLARED_INPUTS[name].items()
    ]


def _checked(tensor: tf.Tensor, name: str, shape: list) -> tf.Tensor:
    """`tensor` once its rank is that of `shape`, with `shape` as static shape."""
    what = "a scalar" if not shape else "a 1-D list"
    check = tf.debugging.assert_rank(
        tensor, len(shape), message=f"{name} must be {what}"
    )
    with tf.control_dependencies([check]):
        # A reshape, not `tf.ensure_shape`, which could fail first with a
        # message of its own; after the check it changes nothing.
        return tf.reshape(tensor, [-1] if shape else [])


def _checked_inputs(signature: str, *tensors: tf.Tensor) -> list[tf.Tensor]:
    declared = DECLARED_INPUTS[signature]
    return [
        _checked(tensor, name, shape)
        for tensor, (name, (_, shape)) in zip(tensors, declared.items(), strict=True)
    ]


def build_inference_model(
    num_users: int,
    num_items: int,
    *,
    embedding_dim: int | None = None,
    l2: float | None = None,
    bias_l2: float | None = None,
) -> mf.RecommenderModel:
    """Biased MF with one extra (OOV) row at the end of every table.

    Args:
      num_users: users with trained factors; 0 for a model without user tables
        (reconstruction), which keeps only the OOV row.
      num_items: items in the catalogue.
      embedding_dim: None means `mf.DEFAULT_EMBEDDING_DIM`.
      l2: None means `mf.DEFAULT_L2` (only used by the training penalty
        column, which serving ignores).
      bias_l2: None means `mf.DEFAULT_BIAS_L2` (likewise).

    Returns:
      A `RecommenderModel` with ``num_users + 1`` user rows and
      ``num_items + 1`` item rows. Row ``num_users`` (``num_items``) is the OOV
      row and must be all zeros.
    """
    return mf.build_matrix_factorization(
        num_users + 1,
        num_items + 1,
        embedding_dim=embedding_dim,
        l2=l2,
        bias_l2=bias_l2,
    )


def _lookup_table(ids: Sequence[str], name: str) -> tf.lookup.StaticHashTable:
    keys = tf.constant(list(ids), tf.string)
    values = tf.range(len(ids), dtype=tf.int64)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, values),
        default_value=len(ids),
        name=name,
    )


def _after(check: tf.Operation, *tensors: tf.Tensor) -> list[tf.Tensor]:
    """`tensors`, computed only once `check` has passed.

    Without the dependency, a kernel fed the bad input (a concatenation of
    mismatched batches, top-k of a negative k) can fail first, with a message
    that does not say what the caller did wrong.
    """
    with tf.control_dependencies([check]):
        return [tf.identity(t) for t in tensors]


class RecommenderServingModule(tf.Module):
    """Serving signatures over an inference model from `build_inference_model`.

    Args:
      keras_model: the inference Keras model, weights already assigned; its
        last user and item rows are the (zero) OOV rows.
      user_ids: raw id of each user row (without the OOV row); empty for a
        model without user tables.
      item_ids: raw id of each item row (without the OOV row).
      l2: per-example ridge on the user embedding used by the history
        signatures (the training L2).
      bias_l2: per-example ridge on the user bias used by the history
        signatures; at least `rating_metrics.MIN_BIAS_RIDGE` is applied.
      rating_scale: ``(low, high)``, the ratings a history may hold; None
        checks only that they are finite.
    """

    def __init__(
        self,
        keras_model: tf.keras.Model,
        *,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        l2: float,
        bias_l2: float,
        rating_scale: tuple[float, float] | None = None,
    ):
        super().__init__(name="recommender")
        self._rating_scale = (
            None if rating_scale is None else tuple(float(r) for r in rating_scale)
        )
        if not len(item_ids):
            raise ValueError("item_ids is empty: a model needs a catalogue")
        self.model = keras_model
        self._num_items = len(item_ids)
        self._user_table = (
            _lookup_table(user_ids, "user_ids") if len(user_ids) else None
        )
        self._item_table = _lookup_table(item_ids, "item_ids")
        self._item_vocab = tf.Variable(
            list(item_ids), trainable=False, name="item_vocabulary"
        )
        self._l2 = float(l2)
        self._bias_ridge = max(float(bias_l2), rating_metrics.MIN_BIAS_RIDGE)
        self._item_embedding = keras_model.get_layer(mf.ITEM_EMBEDDING).embeddings
        self._item_bias = keras_model.get_layer(mf.ITEM_BIAS).embeddings
        self._global_bias = keras_model.get_layer(mf.GLOBAL_BIAS).bias

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The signatures to pass to `tf.saved_model.save`, by name."""
        return {
            SERVING_DEFAULT: self.score.get_concrete_function(),
            RECOMMEND: self.recommend.get_concrete_function(),
            RECOMMEND_FROM_HISTORY: self.recommend_from_history.get_concrete_function(),
            SCORE_FROM_HISTORY: self.score_from_history.get_concrete_function(),
        }

    @tf.function(input_signature=_input_signature(SERVING_DEFAULT))
    def score(self, user_id, item_id):
        """Predicted ratings of (user, item) pairs (``serving_default``).

        Args:
          user_id: string [None], raw user ids.
          item_id: string [None], raw item ids, as many as `user_id`.

        Returns:
          ``{"score": float32 [None]}``.
        """
        user_id, item_id = _checked_inputs(SERVING_DEFAULT, user_id, item_id)
        user_id, item_id = _after(
            tf.debugging.assert_equal(
                tf.size(user_id),
                tf.size(item_id),
                message="user_id and item_id must have the same length",
            ),
            user_id,
            item_id,
        )
        return {
            "score": self._predict(self._user_rows(user_id), self._item_rows(item_id))
        }

    @tf.function(input_signature=_input_signature(RECOMMEND))
    def recommend(self, user_id, k, exclude_item_ids):
        """Top-k items for a known user (``recommend``).

        Args:
          user_id: string [], one raw user id (a scalar, not a batch).
          k: int32 [], how many items; clamped to the candidates, >= 1.
          exclude_item_ids: string [None], items not to recommend (may be
            empty).

        Returns:
          ``{"item_ids": string [k'], "scores": float32 [k']}``, best first.
        """
        user_id, k, exclude_item_ids = _checked_inputs(
            RECOMMEND, user_id, k, exclude_item_ids
        )
        user = self._user_rows(user_id[None])
        items = tf.range(self._num_items, dtype=tf.int32)
        scores = self._predict(tf.repeat(user, self._num_items), items)
        return self._top_k(scores, k, exclude_item_ids)

    @tf.function(input_signature=_input_signature(RECOMMEND_FROM_HISTORY))
    def recommend_from_history(
        self, history_item_ids, history_ratings, k, exclude_item_ids
    ):
        """Top-k items for a user given by their ratings (``recommend_from_history``).

        Args:
          history_item_ids: string [None], items the user rated; unknown ids
            are ignored. Empty gives the bias-only ranking ``b + b_i``.
          history_ratings: float32 [None], the ratings, same length.
          k: int32 [], how many items; clamped to the candidates, >= 1.
          exclude_item_ids: string [None], items not to recommend (typically
            the history itself; may be empty).

        Returns:
          ``{"item_ids": string [k'], "scores": float32 [k']}``, best first.
        """
        history_item_ids, history_ratings, k, exclude_item_ids = _checked_inputs(
            RECOMMEND_FROM_HISTORY,
            history_item_ids,
            history_ratings,
            k,
            exclude_item_ids,
        )
        p_u, b_u = self._solve_user(history_item_ids, history_ratings)
        item_embedding = self._item_embedding[: self._num_items]
        item_bias = self._item_bias[: self._num_items, 0]
        scores = (
            self._global_bias + b_u + item_bias + tf.linalg.matvec(item_embedding, p_u)
        )
        return self._top_k(scores, k, exclude_item_ids)

    @tf.function(input_signature=_input_signature(SCORE_FROM_HISTORY))
    def score_from_history(self, history_item_ids, history_ratings, item_id):
        """Predicted ratings of items for a user given by their ratings.

        Args:
          history_item_ids: string [None], as in `recommend_from_history`.
          history_ratings: float32 [None], as in `recommend_from_history`.
          item_id: string [None], the items to score (OOV gives ``b + b_u``).

        Returns:
          ``{"score": float32 [None]}``.
        """
        history_item_ids, history_ratings, item_id = _checked_inputs(
            SCORE_FROM_HISTORY, history_item_ids, history_ratings, item_id
        )
        p_u, b_u = self._solve_user(history_item_ids, history_ratings)
        rows = self._item_rows(item_id)
        q = tf.gather(self._item_embedding, rows)
        b_i = tf.gather(self._item_bias, rows)[:, 0]
        return {"score": self._global_bias + b_u + b_i + tf.linalg.matvec(q, p_u)}

    def _user_rows(self, user_id):
        if self._user_table is None:
            return tf.zeros_like(user_id, tf.int32)
        return tf.cast(self._user_table.lookup(user_id), tf.int32)

    def _item_rows(self, item_id):
        return tf.cast(self._item_table.lookup(item_id), tf.int32)

    def _predict(self, users, items):
        inputs = collections.OrderedDict(user=users, item=items)
        return self.model(inputs, training=False)[:, mf.PREDICTION_COLUMN]

    def _solve_user(self, history_item_ids, history_ratings):
        """Closed-form ridge solution of (p_u, b_u); see `reconstruct_users`."""
        checks = [
            tf.debugging.assert_equal(
                tf.size(history_item_ids),
                tf.size(history_ratings),
                message="history_item_ids and history_ratings must have the same "
                "length",
            ),
            tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(history_ratings)),
                ["history_ratings must be finite numbers"],
            ),
        ]
        if self._rating_scale is not None:
            low, high = self._rating_scale
            checks.append(
                tf.debugging.Assert(
                    tf.reduce_all((history_ratings >= low) & (history_ratings <= high)),
                    [f"history_ratings must lie in the rating scale {low:g}..{high:g}"],
                )
            )
        with tf.control_dependencies(checks):
            history_item_ids = tf.identity(history_item_ids)
            history_ratings = tf.identity(history_ratings)
        rows = self._item_rows(history_item_ids)
        known = rows < self._num_items
        rows = tf.boolean_mask(rows, known)
        ratings = tf.cast(tf.boolean_mask(history_ratings, known), tf.float64)
        count = tf.cast(tf.size(rows), tf.float64)
        q = tf.cast(tf.gather(self._item_embedding, rows), tf.float64)
        z = tf.concat([q, tf.ones_like(q[:, :1])], axis=1)
        b_i = tf.cast(tf.gather(self._item_bias, rows)[:, 0], tf.float64)
        target = ratings - tf.cast(self._global_bias, tf.float64) - b_i
        dim = tf.shape(q)[1]
        ridge = tf.concat(
            [
                tf.fill([dim], tf.constant(self._l2, tf.float64)),
                tf.constant([self._bias_ridge], tf.float64),
            ],
            axis=0,
        )
        # The penalty is per example, hence |I_u| * ridge; with no history the
        # identity makes the solution zero (the bias-only prediction).
        diagonal = tf.where(count > 0, count * ridge, tf.ones_like(ridge))
        gram = tf.matmul(z, z, transpose_a=True) + tf.linalg.diag(diagonal)
        rhs = tf.linalg.matvec(z, target, transpose_a=True)
        solution = tf.linalg.solve(gram, rhs[:, None])[:, 0]
        solution = tf.cast(solution, tf.float32)
        return solution[:-1], solution[-1]

    def _top_k(self, scores, k, exclude_item_ids):
        (k,) = _after(
            tf.debugging.assert_greater_equal(
                k, tf.constant(1, tf.int32), message="k must be >= 1"
            ),
            k,
        )
        excluded = self._item_rows(exclude_item_ids)
        excluded = tf.boolean_mask(excluded, excluded < self._num_items)
        mask = tf.scatter_nd(
            excluded[:, None], tf.ones_like(excluded), [self._num_items]
        )
        candidates = tf.cast(tf.where(mask == 0)[:, 0], tf.int32)
        candidate_scores = tf.gather(scores, candidates)
        top = tf.math.top_k(
            candidate_scores, tf.minimum(k, tf.size(candidates)), sorted=True
        )
        rows = tf.gather(candidates, top.indices)
        return {"item_ids": tf.gather(self._item_vocab, rows), "scores": top.values}
