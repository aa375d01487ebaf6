"""Tests of the FedAvg builders: which weights they hold, aggregators, one round."""

import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec.algorithms import fed_avg
from tff_rec.models import matrix_factorization as mf


def _model_fn(num_users=4, num_items=5):
    return lambda: mf.build_matrix_factorization(
        num_users, num_items, embedding_dim=3, global_bias=3.0
    )


def _dp_aggregator():
    return tff.learning.dp_aggregator(noise_multiplier=0.1, clients_per_round=10)


class BuilderTypeTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("weighted", fed_avg.build_weighted_fed_avg),
        ("unweighted", fed_avg.build_unweighted_fed_avg),
    )
    def test_fed_avg_is_learning_process_over_all_tables(self, builder):
        process = builder(_model_fn())
        self.assertIsInstance(process, tff.learning.templates.LearningProcess)
        weights_type = process.get_model_weights.type_signature.result
        shapes = sorted(tuple(t.shape) for t in weights_type.trainable)
        # FedAvg aggregates everything: user and item tables.
        self.assertEqual(shapes, sorted([(4, 3), (4, 1), (5, 3), (5, 1)]))

    def test_weighted_fed_avg_rejects_unweighted_aggregator(self):
        with self.assertRaisesRegex(TypeError, "unweighted"):
            fed_avg.build_weighted_fed_avg(
                _model_fn(), model_aggregator=_dp_aggregator()
            )

    def test_unweighted_fed_avg_accepts_dp_aggregator(self):
        process = fed_avg.build_unweighted_fed_avg(
            _model_fn(), model_aggregator=_dp_aggregator()
        )
        self.assertIsInstance(process, tff.learning.templates.LearningProcess)


class BuilderValueTest(tf.test.TestCase):
    def test_one_round_of_fed_avg_moves_rated_rows_only(self):
        process = fed_avg.build_unweighted_fed_avg(_model_fn())
        state = process.initialize()
        before = process.get_model_weights(state)
        batch = collections.OrderedDict(
            x=collections.OrderedDict(
                user=np.array([0, 0], np.int32), item=np.array([1, 2], np.int32)
            ),
            y=np.array([[5.0], [1.0]], np.float32),
        )
        dataset = tf.data.Dataset.from_tensors(batch)
        state = process.next(state, [dataset]).state
        after = process.get_model_weights(state)
        by_shape = {}
        for b, a in zip(before.trainable, after.trainable, strict=True):
            by_shape[np.asarray(b).shape] = (np.asarray(b), np.asarray(a))
        b, a = by_shape[(5, 3)]  # item embedding
        changed = np.any(b != a, axis=1)
        self.assertEqual(changed.tolist(), [False, True, True, False, False])
        b, a = by_shape[(4, 3)]  # user embedding
        self.assertEqual(np.any(b != a, axis=1).tolist(), [True, False, False, False])


if __name__ == "__main__":
    tf.test.main()
