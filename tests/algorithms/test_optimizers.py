"""Optimizers by name (TFF and Keras), and SparseSGD.

SparseSGD is the update of TFF's plain SGD, applied row by row to tables.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import optimizers
from tff_rec.errors import UserInputError
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import inprocess


class OptimizerTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.parameters("sgd", "adam", "adagrad", "yogi")
    def test_builds(self, name):
        self.assertIsInstance(
            optimizers.build_optimizer(name, 0.1), tff.learning.optimizers.Optimizer
        )

    def test_rejects_unknown_and_non_positive(self):
        with self.assertRaisesRegex(UserInputError, "allowed"):
            optimizers.build_optimizer("rmsprop", 0.1)
        with self.assertRaisesRegex(UserInputError, "> 0"):
            optimizers.build_optimizer("sgd", -1.0)


class KerasOptimizerTest(parameterized.TestCase):
    @parameterized.parameters(
        ("sgd", tf.keras.optimizers.SGD),
        ("adam", tf.keras.optimizers.Adam),
        ("adagrad", tf.keras.optimizers.Adagrad),
        ("yogi", tf.keras.optimizers.Adam),
    )
    def test_kind_and_rate(self, name, expected):
        optimizer = optimizers.build_keras_optimizer(name, 0.25)
        self.assertIsInstance(optimizer, expected)
        self.assertAlmostEqual(float(optimizer.learning_rate), 0.25)

    def test_bad_input(self):
        with self.assertRaisesRegex(errors.UserInputError, "learning rate"):
            optimizers.build_keras_optimizer("sgd", 0.0)
        with self.assertRaises(errors.UserInputError):
            optimizers.build_keras_optimizer("lbfgs", 0.1)


# SparseSGD

_LEARNING_RATE = 0.3


def _table_and_gradient():
    table = tf.Variable(np.arange(12, dtype=np.float32).reshape(6, 2))
    with tf.GradientTape() as tape:
        rows = tf.gather(table, [1, 4, 1])
        loss = tf.reduce_sum(rows**2)
    return table, tape.gradient(loss, table)


def test_table_update_matches_dense_sgd_and_touches_only_used_rows():
    table, gradient = _table_and_gradient()
    assert isinstance(gradient, tf.IndexedSlices)
    before = table.numpy()
    dense = tff.learning.optimizers.build_sgdm(_LEARNING_RATE)
    _, (expected,) = dense.next(
        dense.initialize((tf.TensorSpec(before.shape, tf.float32),)),
        (tf.constant(before),),
        (gradient,),
    )

    sparse = optimizers.SparseSGD(_LEARNING_RATE)
    state = sparse.initialize((tf.TensorSpec(before.shape, tf.float32),))
    _, (updated,) = sparse.next(state, (table,), (gradient,))

    np.testing.assert_allclose(updated, expected, rtol=1e-6)
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-6)
    changed = np.any(table.numpy() != before, axis=1)
    assert changed.tolist() == [False, True, False, False, True, False]


def test_tensor_weights_get_the_dense_update():
    weights = (tf.constant([1.0, 2.0]), tf.constant(3.0))
    gradients = (tf.constant([0.5, -1.0]), None)
    sparse = optimizers.SparseSGD(_LEARNING_RATE)
    state = sparse.initialize(tuple(tf.TensorSpec(w.shape) for w in weights))
    new_state, (vector, scalar) = sparse.next(state, weights, gradients)
    np.testing.assert_allclose(vector, [1.0 - 0.15, 2.0 + 0.3], rtol=1e-6)
    assert float(scalar) == 3.0
    assert sparse.get_hparams(new_state) == {"learning_rate": _LEARNING_RATE}
    assert sparse.set_hparams(new_state, {"learning_rate": 0.1}) == {
        "learning_rate": 0.1
    }


def test_negative_rate_is_rejected():
    with pytest.raises(ValueError, match="nonnegative"):
        optimizers.SparseSGD(-0.1)


def test_build_optimizer_gives_sparse_sgd():
    assert isinstance(optimizers.build_optimizer("sgd", 0.1), optimizers.SparseSGD)


def _clients(round_num):
    rng = np.random.default_rng(round_num)
    datasets = []
    for k in range(5):
        n = int(rng.integers(4, 12))
        batch = collections.OrderedDict(
            x=collections.OrderedDict(
                user=np.full(n, k, np.int32),
                item=rng.integers(0, 7, n).astype(np.int32),
            ),
            y=rng.integers(1, 6, (n, 1)).astype(np.float32),
        )
        datasets.append(tf.data.Dataset.from_tensor_slices(batch).batch(3))
    return datasets


def _train(client_optimizer):
    process = fed_avg.build_weighted_fed_avg(
        lambda: mf.build_matrix_factorization(
            5, 7, embedding_dim=3, global_bias=3.0, seed=2
        ),
        client_optimizer=client_optimizer,
    )
    with tff.framework.get_context_stack().install(
        inprocess.create_inprocess_execution_context(max_slots=2)
    ):
        state = process.initialize()
        initial = [np.asarray(w) for w in process.get_model_weights(state).trainable]
        for round_num in range(3):
            state = process.next(state, _clients(round_num)).state
        final = [np.asarray(w) for w in process.get_model_weights(state).trainable]
    return initial, final


def test_fedavg_with_sparse_sgd_trains_like_tff_sgd():
    initial, dense = _train(tff.learning.optimizers.build_sgdm(_LEARNING_RATE))
    _, sparse = _train(optimizers.SparseSGD(_LEARNING_RATE))
    for expected, got in zip(dense, sparse, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert any(
        np.max(np.abs(after - before)) > 1e-2
        for before, after in zip(initial, sparse, strict=True)
    )


if __name__ == "__main__":
    tf.test.main()
