"""Tests of top-k selection, touched rows and decoys."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.compression import sparsify


class TopKTest(tf.test.TestCase, parameterized.TestCase):
    def test_keeps_largest_magnitudes(self):
        x = np.array([[0.1, -3.0], [2.0, 0.0], [-0.5, 1.0]], np.float32)
        indices, values = sparsify.top_k(tf.constant(x), 0.5)
        self.assertEqual(indices.dtype, tf.uint16)
        self.assertCountEqual(indices.numpy().tolist(), [1, 2, 5])
        dense = sparsify.scatter_flat(indices, values, [3, 2])
        self.assertAllEqual(dense, [[0.0, -3.0], [2.0, 0.0], [0.0, 1.0]])

    @parameterized.parameters(
        (100, 0.01, 1), (100, 0.001, 1), (10, 1.0, 10), (7, 0.3, 3)
    )
    def test_count(self, n, fraction, expected):
        self.assertEqual(sparsify.topk_count(n, fraction), expected)

    def test_index_dtype(self):
        self.assertEqual(sparsify.index_dtype(2**16), tf.uint16)
        self.assertEqual(sparsify.index_dtype(2**16 + 1), tf.int32)


class RowsTest(tf.test.TestCase):
    def test_touched_rows_union_over_tables(self):
        embedding = np.zeros((5, 2), np.float32)
        embedding[3, 1] = 0.5
        bias = np.zeros((5, 1), np.float32)
        bias[1, 0] = -1.0
        rows = sparsify.touched_rows([embedding, bias])
        self.assertAllEqual(rows, [1, 3])
        self.assertAllEqual(sparsify.touched_rows([np.zeros((5, 2))]), [])

    def test_row_groups_by_row_count(self):
        specs = [
            tf.TensorSpec([4, 3], tf.float32),
            tf.TensorSpec([6, 3], tf.float32),
            tf.TensorSpec([4, 1], tf.float32),
            tf.TensorSpec([6, 1], tf.float32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([1, 3], tf.float32),
            tf.TensorSpec([6], tf.float32),
        ]
        self.assertEqual(sparsify.row_groups(specs), [[0, 2], [1, 3]])

    def test_decoys_are_untouched_distinct_and_sorted(self):
        tf.random.set_seed(1)
        rows = tf.constant([2, 7], tf.int32)
        padded = sparsify.add_decoys(rows, 10, 3).numpy()
        self.assertLen(padded, 5)
        self.assertLen(set(padded.tolist()), 5)
        self.assertTrue(set(rows.numpy()) <= set(padded))
        self.assertAllEqual(padded, np.sort(padded))
        # No more decoys than untouched rows exist.
        self.assertAllEqual(sparsify.add_decoys(tf.constant([0, 2]), 3, 5), [0, 1, 2])
        self.assertAllEqual(sparsify.add_decoys(rows, 10, 0), [2, 7])

    def test_decoys_are_drawn_at_random(self):
        rows = tf.constant([0], tf.int32)
        seen = {
            tuple(sparsify.add_decoys(rows, 50, 2).numpy().tolist()) for _ in range(10)
        }
        self.assertGreater(len(seen), 1)


if __name__ == "__main__":
    tf.test.main()
