"""Rating-prediction evaluation: RMSE/MAE of a model on held-out interactions.

Two ways to score a trained biased-MF model:

* `evaluate_global_model`: every table (users included) comes from the model,
  as after centralized training or FedAvg.
* `evaluate_reconstruction`: only the global (item) tables come from the
  model; each test user's factors ``p_u, b_u`` are reconstructed from that
  user's own training ratings with the item side frozen, by solving the
  ridge-regularized least-squares problem in closed form. This is what a
  Federated Reconstruction client does on its device, done exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging
from scipy import sparse

from tff_rec.data import interactions as interactions_lib
from tff_rec.models import matrix_factorization as mf

#: Ridge added to the user-bias coordinate when bias_l2 is 0, for stability.
MIN_BIAS_RIDGE = 1e-3


@dataclasses.dataclass(frozen=True)
class RatingMetrics:
    rmse: float
    mae: float
    num_examples: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}rmse": self.rmse,
            f"{prefix}mae": self.mae,
            f"{prefix}num_examples": self.num_examples,
        }


def from_predictions(ratings: np.ndarray, predictions: np.ndarray) -> RatingMetrics:
    """RMSE and MAE of `predictions` against `ratings`."""
    ratings = np.asarray(ratings, np.float64)
    predictions = np.asarray(predictions, np.float64).reshape(ratings.shape)
    if len(ratings) == 0:
        raise ValueError("cannot evaluate on an empty test set")
    error = predictions - ratings
    return RatingMetrics(
        rmse=float(np.sqrt(np.mean(error**2))),
        mae=float(np.mean(np.abs(error))),
        num_examples=len(ratings),
    )


@dataclasses.dataclass(frozen=True)
class MatrixFactorizationWeights:
    """The tables of a biased-MF model as numpy arrays."""

    item_embedding: np.ndarray
    item_bias: np.ndarray
    global_bias: float
    user_embedding: np.ndarray | None = None
    user_bias: np.ndarray | None = None

    @classmethod
    def from_keras(cls, keras_model: tf.keras.Model) -> MatrixFactorizationWeights:
        def table(name):
            return keras_model.get_layer(name).get_weights()[0]

        return cls(
            item_embedding=table(mf.ITEM_EMBEDDING),
            item_bias=table(mf.ITEM_BIAS)[:, 0],
            global_bias=float(keras_model.get_layer(mf.GLOBAL_BIAS).get_weights()[0]),
            user_embedding=table(mf.USER_EMBEDDING),
            user_bias=table(mf.USER_BIAS)[:, 0],
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The tables that exist, by field name (what ``final_weights.npz``
        holds: no user tables for reconstruction, whose server has none)."""
        return {
            f.name: np.asarray(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.user_embedding is None:
            raise ValueError("these weights have no user tables; reconstruct them")
        dot = np.sum(self.user_embedding[users] * self.item_embedding[items], axis=1)
        return self.global_bias + self.user_bias[users] + self.item_bias[items] + dot


def evaluate_global_model(
    weights: MatrixFactorizationWeights, test: interactions_lib.Interactions
) -> RatingMetrics:
    """Scores a model whose user tables are global (centralized, FedAvg)."""
    return from_predictions(test.ratings, weights.predict(test.users, test.items))


def reconstruct_users(
    weights: MatrixFactorizationWeights,
    history: interactions_lib.Interactions,
    *,
    l2: float,
    bias_l2: float = 0.0,
) -> MatrixFactorizationWeights:
    """Solves every user's factors from their `history` with items frozen.

    For user u with history items I_u, minimizes

        sum_{i in I_u} (r_ui - b - b_i - b_u - <p_u, q_i>)^2
            + |I_u| * (l2 * |p_u|^2 + bias_l2 * b_u^2)

    which is the training objective restricted to u (the penalty is
    per-example, hence the factor |I_u|). Users without history get zeros,
    i.e. the bias-only prediction ``b + b_i``.

    Args:
      weights: trained weights; only the item tables and global bias are used.
      history: the interactions to reconstruct from (the users' training
        ratings).
      l2: per-example L2 weight on the embedding used in training.
      bias_l2: per-example L2 weight on the user bias used in training.

    Returns:
      `weights` with `user_embedding`/`user_bias` filled for all
      ``history.num_users`` users.
    """
    q = weights.item_embedding
    dim = q.shape[1]
    num_users, num_items = history.num_users, len(q)
    # A user's normal equations sum, over its ratings, terms that depend on
    # the item only: z_i z_i^T (z_i = [q_i, 1]) and z_i times the residual.
    # Both are (users x items) sparse products, one pass over the ratings.
    z = np.concatenate([q, np.ones((num_items, 1), q.dtype)], axis=1).astype(np.float64)
    target = (
        history.ratings - weights.global_bias - weights.item_bias[history.items]
    ).astype(np.float64)
    shape = (num_users, num_items)
    rated = sparse.csr_matrix(
        (np.ones(len(history)), (history.users, history.items)), shape=shape
    )
    residuals = sparse.csr_matrix((target, (history.users, history.items)), shape=shape)
    outer = (z[:, :, None] * z[:, None, :]).reshape(num_items, -1)
    gram = np.asarray(rated @ outer).reshape(num_users, dim + 1, dim + 1)
    rhs = np.asarray(residuals @ z)
    counts = np.bincount(history.users, minlength=num_users).astype(np.float64)
    ridge = np.concatenate([np.full(dim, l2), [max(bias_l2, MIN_BIAS_RIDGE)]])
    # Per-user ridge: |I_u| * ridge on the diagonal (identity for no-history
    # users, so their solution is zero).
    diag = np.where(counts[:, None] > 0, counts[:, None] * ridge[None, :], 1.0)
    gram[:, np.arange(dim + 1), np.arange(dim + 1)] += diag
    solution = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    return dataclasses.replace(
        weights,
        user_embedding=solution[:, :dim].astype(np.float32),
        user_bias=solution[:, dim].astype(np.float32),
    )


def evaluate_reconstruction(
    weights: MatrixFactorizationWeights,
    history: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    *,
    l2: float,
    bias_l2: float = 0.0,
) -> RatingMetrics:
    """Reconstructs users from `history`, then scores them on `test`.

    A diverged model (item tables with NaN or infinite values, or so large
    that the users' normal equations overflow) scores NaN, with a warning,
    instead of failing in the reconstruction.
    """
    nan = RatingMetrics(rmse=float("nan"), mae=float("nan"), num_examples=len(test))
    item_tables = (weights.item_embedding, weights.item_bias, weights.global_bias)
    if not all(np.all(np.isfinite(t)) for t in item_tables):
        logging.warning(
            "The model's item tables are not finite (training diverged); "
            "test metrics are NaN."
        )
        return nan
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            reconstructed = reconstruct_users(weights, history, l2=l2, bias_l2=bias_l2)
        except np.linalg.LinAlgError:
            logging.warning(
                "The users' reconstruction failed on this model (training "
                "diverged); test metrics are NaN."
            )
            return nan
    return evaluate_global_model(reconstructed, test)
