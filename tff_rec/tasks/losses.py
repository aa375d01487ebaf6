"""Losses and training metrics of the two tasks.

Models return ``[batch, 2]``: the prediction (a rating, or a click logit) and
the example's L2 penalty (the column layout of
`tff_rec.models.matrix_factorization`). Every loss adds the penalty; metrics
look at the prediction only.

Rating prediction: the squared error plus the penalty; RMSE and MAE.

Implicit feedback: interactions are positives (label 1), negatives (label 0)
are items the user has not interacted with, sampled on the client (see
`tff_rec.data.negatives`). Two losses:

* `LossType.BCE`: binary cross-entropy of every example (pointwise), as in
  He et al., "Neural Collaborative Filtering", WWW 2017, arXiv:1708.05031.
* `LossType.BPR`: Bayesian personalized ranking, ``-log sigmoid(s_pos -
  s_neg)`` per (positive, negative) pair (pairwise), Rendle, Freudenthaler,
  Gantner and Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from
  Implicit Feedback", UAI 2009, arXiv:1205.2618. It needs batches made of
  whole groups ``[positive, negative_1, ..., negative_r]``, which is how
  `tff_rec.data.negatives.implicit_batches` lays them out.
"""

from __future__ import annotations

import enum

import tensorflow as tf

from tff_rec.models import matrix_factorization as mf


def _prediction(y_pred):
    return y_pred[:, mf.PREDICTION_COLUMN : mf.PREDICTION_COLUMN + 1]


class RegularizedMeanSquaredError(tf.keras.losses.Loss):
    """Mean over the batch of ``(y - r_hat)^2 + penalty``."""

    def __init__(self, name: str = "regularized_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = tf.cast(tf.reshape(y_true, [-1, 1]), tf.float32)
        error = tf.square(y_true - _prediction(y_pred))
        penalty = y_pred[:, mf.PENALTY_COLUMN : mf.PENALTY_COLUMN + 1]
        return tf.squeeze(error + penalty, axis=1)


class RatingMeanSquaredError(tf.keras.metrics.MeanSquaredError):
    """MSE of the prediction column (the penalty is not part of the metric)."""

    def __init__(self, name: str = "mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(y_true, [-1, 1])
        return super().update_state(y_true, _prediction(y_pred), sample_weight)


class RatingRootMeanSquaredError(tf.keras.metrics.RootMeanSquaredError):
    """RMSE of the prediction column."""

    def __init__(self, name: str = "rmse", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(y_true, [-1, 1])
        return super().update_state(y_true, _prediction(y_pred), sample_weight)


class RatingMeanAbsoluteError(tf.keras.metrics.MeanAbsoluteError):
    """MAE of the prediction column."""

    def __init__(self, name: str = "mae", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(y_true, [-1, 1])
        return super().update_state(y_true, _prediction(y_pred), sample_weight)


def rating_loss() -> tf.keras.losses.Loss:
    return RegularizedMeanSquaredError()


def rating_metrics() -> list[tf.keras.metrics.Metric]:
    return [RatingRootMeanSquaredError(), RatingMeanAbsoluteError()]


class LossType(enum.Enum):
    BCE = "bce"
    BPR = "bpr"


def _logit(y_pred):
    return y_pred[:, mf.PREDICTION_COLUMN]


def _penalty(y_pred):
    return y_pred[:, mf.PENALTY_COLUMN]


class BinaryCrossEntropy(tf.keras.losses.Loss):
    """Mean over the batch of ``BCE(y, sigmoid(logit)) + penalty``."""

    def __init__(self, name: str = "bce", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.float32)
        return tf.nn.sigmoid_cross_entropy_with_logits(
            labels=labels, logits=_logit(y_pred)
        ) + _penalty(y_pred)


class BayesianPersonalizedRanking(tf.keras.losses.Loss):
    """BPR over groups of ``group_size`` rows: one positive, then its negatives.

    A negative row's loss is ``softplus(s_neg - s_pos)`` (that is ``-log
    sigmoid(s_pos - s_neg)``) for the positive of its group, a positive row's
    is 0; every row adds its L2 penalty. The batch mean is thus the mean pair
    loss scaled by ``(group_size - 1) / group_size``.

    Args:
      group_size: 1 + negatives per positive. Batches must hold whole groups.
    """

    def __init__(self, group_size: int, name: str = "bpr", **kwargs):
        super().__init__(name=name, **kwargs)
        if group_size < 2:
            raise ValueError(
                f"BPR needs at least one negative per positive, got "
                f"group_size={group_size}"
            )
        self._group_size = int(group_size)

    def call(self, y_true, y_pred):
        del y_true  # The layout says which row is the positive.
        scores = tf.reshape(_logit(y_pred), [-1, self._group_size])
        pairs = tf.nn.softplus(scores[:, 1:] - scores[:, :1])
        per_row = tf.concat([tf.zeros_like(scores[:, :1]), pairs], axis=1)
        return tf.reshape(per_row, [-1]) + _penalty(y_pred)

    def get_config(self):
        return {**super().get_config(), "group_size": self._group_size}


class LogitAUC(tf.keras.metrics.AUC):
    """ROC AUC of the logit column against the 0/1 labels."""

    def __init__(self, name: str = "auc", **kwargs):
        kwargs["from_logits"] = True  # Also when rebuilt from its config.
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(tf.reshape(y_true, [-1, 1]), y_pred[:, :1], sample_weight)


class LogitAccuracy(tf.keras.metrics.BinaryAccuracy):
    """Fraction of examples whose logit has the label's sign."""

    def __init__(self, name: str = "accuracy", **kwargs):
        kwargs["threshold"] = 0.0  # Logits: positive means label 1.
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(tf.reshape(y_true, [-1, 1]), y_pred[:, :1], sample_weight)


def implicit_loss(loss: LossType | str = LossType.BCE, *, negatives: int = 4):
    """A no-arg factory of the training loss (TFF builds one per client).

    Args:
      loss: `LossType` or its value.
      negatives: negatives per positive (BPR's group size is this plus one).
    """
    loss = LossType(loss.value if isinstance(loss, LossType) else loss)
    if loss is LossType.BPR:
        return lambda: BayesianPersonalizedRanking(negatives + 1)
    return BinaryCrossEntropy


def implicit_metrics() -> list[tf.keras.metrics.Metric]:
    return [LogitAUC(), LogitAccuracy()]
