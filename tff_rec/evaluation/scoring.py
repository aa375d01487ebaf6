"""Whole-catalogue scores of a Keras recommender, and per-user reconstruction.

`score_fn` turns a trained `RecommenderModel` into the ``users -> [n,
num_items]`` function that `tff_rec.evaluation.ranking_metrics` ranks. For a model
trained with Federated Reconstruction the server holds only the global
variables; `reconstruct_local` fits every evaluated user's local variables on
that user's own training data with the global ones frozen, as a client would
at inference time (Singhal et al., "Federated Reconstruction: Partially Local
Federated Learning", NeurIPS 2021, arXiv:2102.03448).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from tff_rec.models import matrix_factorization as mf

DEFAULT_ITEMS_PER_CALL = 1 << 16


def score_fn(
    model: mf.RecommenderModel,
    num_items: int,
    *,
    user_columns: Mapping[str, np.ndarray] | None = None,
    user_index: np.ndarray | None = None,
    items_per_call: int = DEFAULT_ITEMS_PER_CALL,
):
    """``users -> logits [len(users), num_items]`` of `model`.

    Args:
      model: the recommender (its ``user`` input indexes its user table).
      num_items: catalogue size.
      user_columns: extra inputs per global user id (user features).
      user_index: row of the model's user table for each global user id;
        None means the identity.
      items_per_call: examples per model call.
    """
    keras_model = model.keras_model
    all_items = np.arange(num_items, dtype=np.int32)

    @tf.function(reduce_retracing=True)
    def logits(x):
        return keras_model(x, training=False)[:, mf.PREDICTION_COLUMN]

    def scores(users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        rows = np.repeat(users, num_items)
        items = np.tile(all_items, len(users))
        model_users = rows if user_index is None else user_index[rows]
        out = np.empty(len(rows), np.float32)
        for start in range(0, len(rows), items_per_call):
            part = slice(start, start + items_per_call)
            x = collections.OrderedDict(
                user=tf.constant(model_users[part], tf.int32),
                item=tf.constant(items[part], tf.int32),
            )
            for name, table in (user_columns or {}).items():
                x[name] = tf.constant(np.asarray(table)[rows[part]], tf.int32)
            out[part] = logits(x).numpy()
        return out.reshape(len(users), num_items)

    return scores


def popularity_score_fn(items: np.ndarray, num_items: int):
    """``users -> [len(users), num_items]``: every item's training count.

    The non-personalized reference a recommender has to beat.
    """
    counts = np.bincount(np.asarray(items), minlength=num_items).astype(np.float32)
    return lambda users: np.tile(counts, (len(users), 1))


def batch_tensors(
    x: Mapping[str, np.ndarray], y: np.ndarray, rows: np.ndarray
) -> tuple[collections.OrderedDict, tf.Tensor]:
    """Rows `rows` of examples ``(x, y)`` as model inputs and ``[n, 1]`` labels."""
    return (
        collections.OrderedDict(
            (k, tf.constant(np.asarray(v)[rows], tf.int32)) for k, v in x.items()
        ),
        tf.constant(y[rows].reshape(-1, 1), tf.float32),
    )


def per_example_loss(loss: tf.keras.losses.Loss, y_true, y_pred) -> tf.Tensor:
    """The loss of each example (the reduction left out)."""
    return loss.call(y_true, y_pred)


def reconstruct_local(
    model: mf.RecommenderModel,
    loss: tf.keras.losses.Loss,
    x: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    batch_size: int,
    learning_rate: float,
    epochs: int,
) -> None:
    """Fits the local (user) layers of `model` per user, global layers frozen.

    Mini-batch SGD on each user's own examples, every user at once: step
    ``j`` applies to each user the mean gradient of that user's ``j``-th
    batch, which is what each user alone would do (user rows do not
    interact once the global variables are frozen).

    Args:
      model: the recommender; its local layers are updated in place.
      loss: the task's loss (its per-example values are used).
      x: model inputs of the training examples, ``user`` indexing the model's
        user table; examples of a user must be contiguous and in the order to
        visit them.
      y: labels, aligned with `x`.
      batch_size: examples per user batch (a multiple of the BPR group size,
        so that groups stay whole).
      learning_rate: SGD step.
      epochs: passes over each user's examples.
    """
    users = np.asarray(x["user"], dtype=np.int64)
    if not len(users):
        return
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    position = np.arange(len(users)) - first
    step = position // batch_size
    counts = np.bincount(users * (step.max() + 1) + step)
    weight = 1.0 / counts[users * (step.max() + 1) + step]
    variables = [v for layer in model.local_layers for v in layer.trainable_weights]
    keras_model = model.keras_model

    @tf.function(reduce_retracing=True)
    def apply(batch_x, batch_y, batch_w):
        with tf.GradientTape() as tape:
            y_pred = keras_model(batch_x, training=True)
            value = tf.reduce_sum(per_example_loss(loss, batch_y, y_pred) * batch_w)
        grads = tape.gradient(value, variables)
        for var, grad in zip(variables, grads, strict=True):
            var.assign_sub(learning_rate * tf.convert_to_tensor(grad))

    order = np.argsort(step, kind="stable")
    bounds = np.searchsorted(step[order], np.arange(step.max() + 2))
    for _ in range(epochs):
        for j in range(step.max() + 1):
            rows = order[bounds[j] : bounds[j + 1]]
            apply(*batch_tensors(x, y, rows), tf.constant(weight[rows], tf.float32))
