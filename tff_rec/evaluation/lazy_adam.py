"""Adam that updates only the embedding rows a batch touches.

Keras's Adam decays the moments of every row of an embedding table at every
step, even for a sparse gradient; on a table with a row per (participant,
item) pair (the local-only baseline: 800,000 rows on MovieLens-1M) that
dense work dominates training. `LazyAdam` applies Adam's update to the rows
in the gradient only, and leaves the others, moments included, untouched
(the "lazy" Adam of TensorFlow Addons' `LazyAdam` and of PyTorch's
`SparseAdam`). Dense gradients get Keras's Adam unchanged.

Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
arXiv:1412.6980.
"""

from __future__ import annotations

import tensorflow as tf


class LazyAdam(tf.keras.optimizers.Adam):
    """`tf.keras.optimizers.Adam` with row-wise (lazy) sparse updates."""

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        key = self._var_key(variable)
        m = self._momentums[self._index_dict[key]]
        v = self._velocities[self._index_dict[key]]
        # A row looked up several times in the batch gets its summed gradient.
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(
            gradient.values, position, tf.shape(rows)[0]
        )
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(
            tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows)
        )
