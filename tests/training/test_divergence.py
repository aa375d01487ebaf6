"""Divergence detection: a non-finite loss or model stops training."""

import collections

import numpy as np
import tensorflow as tf

from tff_rec.training import divergence
from tff_rec.training import hooks


class _Weights:
    def __init__(self, *tensors):
        self.trainable = tensors
        self.non_trainable = ()


class _Process:
    """Stands in for a learning process whose state is its weights."""

    def get_model_weights(self, state):
        return _Weights(*state)


def _after(state, row):
    result = hooks.RoundResult(4, state=state, row=row)
    divergence.DivergenceGuard(_Process(), "lower --server_learning_rate").after_round(
        result
    )
    return result


class DivergenceGuardTest(tf.test.TestCase):
    def test_finite_rounds_pass(self):
        result = _after([np.ones(3)], {"train_loss": 1.5})
        self.assertFalse(result.diverged)
        self.assertIsNone(result.stop)

    def test_a_non_finite_loss_stops_training(self):
        result = _after([np.ones(3)], {"train_loss": float("nan")})
        self.assertTrue(result.diverged)
        self.assertRegex(
            result.stop,
            r"training diverged at round 4: the training loss is nan; .*"
            "lower --server_learning_rate",
        )

    def test_non_finite_weights_stop_training(self):
        # An aborted round has no loss; the weights are still checked.
        result = _after([np.ones(3), np.array([1.0, np.inf])], {"clients": 0})
        self.assertTrue(result.diverged)
        self.assertIn("non-finite weights", result.stop)

    def test_rows_keep_their_cells(self):
        row = collections.OrderedDict(train_loss=float("inf"), clients=5)
        result = _after([np.ones(2)], row)
        self.assertEqual(result.row, row)


if __name__ == "__main__":
    tf.test.main()
