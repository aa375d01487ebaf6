"""LazyAdam: Adam on the rows a sparse gradient touches, nothing else."""

import numpy as np
import tensorflow as tf

from tff_rec.evaluation import lazy_adam


def _sparse(rows, values, num_rows=4):
    return tf.IndexedSlices(
        tf.constant(values, tf.float32),
        tf.constant(rows, tf.int64),
        tf.constant([num_rows, 2], tf.int64),
    )


class LazyAdamTest(tf.test.TestCase):
    def test_dense_gradients_are_keras_adam(self):
        lazy = tf.Variable(np.ones((3, 2), np.float32))
        dense = tf.Variable(np.ones((3, 2), np.float32))
        ours = lazy_adam.LazyAdam(0.1)
        keras = tf.keras.optimizers.Adam(0.1)
        for gradient in ([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]], [[0.1] * 2] * 3):
            ours.apply_gradients([(tf.constant(gradient), lazy)])
            keras.apply_gradients([(tf.constant(gradient), dense)])
        self.assertAllClose(lazy, dense)

    def test_only_touched_rows_move(self):
        table = tf.Variable(np.ones((4, 2), np.float32))
        optimizer = lazy_adam.LazyAdam(0.1)
        optimizer.apply_gradients([(_sparse([0, 1], [[1.0, 1.0], [-1.0, 2.0]]), table)])
        after_first = table.numpy()
        # Adam's first step moves each touched coordinate by lr * sign(g).
        self.assertAllClose(after_first[:2], [[0.9, 0.9], [1.1, 0.9]], atol=1e-5)
        self.assertAllEqual(after_first[2:], np.ones((2, 2)))
        optimizer.apply_gradients([(_sparse([2], [[1.0, 1.0]]), table)])
        # Rows 0 and 1 keep their values (Keras's Adam would move them on
        # their momentum); row 2 takes its first step with the bias
        # correction of the shared step 2.
        self.assertAllEqual(table.numpy()[:2], after_first[:2])
        alpha = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
        step = alpha * 0.1 / np.sqrt(0.001)
        self.assertAllClose(table.numpy()[2], [1 - step] * 2, atol=1e-5)
        self.assertAllEqual(table.numpy()[3], [1.0, 1.0])

    def test_repeated_rows_are_summed(self):
        repeated = tf.Variable(np.zeros((4, 2), np.float32))
        summed = tf.Variable(np.zeros((4, 2), np.float32))
        lazy_adam.LazyAdam(0.1).apply_gradients(
            [(_sparse([1, 1], [[1.0, 0.0], [2.0, -4.0]]), repeated)]
        )
        lazy_adam.LazyAdam(0.1).apply_gradients([(_sparse([1], [[3.0, -4.0]]), summed)])
        self.assertAllClose(repeated, summed)


if __name__ == "__main__":
    tf.test.main()
