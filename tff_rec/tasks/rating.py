"""Rating prediction: loss and metrics over the model's two output columns.

Models return ``[batch, 2]``: the predicted rating and the example's L2
penalty (see `tff_rec.models.matrix_factorization`). The loss is the squared
error plus the penalty; metrics look at the prediction only.
"""

from __future__ import annotations

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


def loss_fn() -> tf.keras.losses.Loss:
    return RegularizedMeanSquaredError()


def metrics_fn() -> list[tf.keras.metrics.Metric]:
    return [RatingRootMeanSquaredError(), RatingMeanAbsoluteError()]
