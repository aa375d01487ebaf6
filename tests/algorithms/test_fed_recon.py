"""Tests of the Federated Reconstruction builder: global weights, aggregators."""

import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import fed_recon
from tff_rec.models import matrix_factorization as mf


def _model_fn(num_users=4, num_items=5):
    return lambda: mf.build_matrix_factorization(
        num_users, num_items, embedding_dim=3, global_bias=3.0
    )


def _dp_aggregator():
    return tff.learning.dp_aggregator(noise_multiplier=0.1, clients_per_round=10)


class BuilderTypeTest(tf.test.TestCase):
    def test_fed_recon_server_never_holds_user_tables(self):
        process = fed_recon.build_fed_recon(_model_fn(num_users=1))
        weights_type = process.get_model_weights.type_signature.result
        shapes = sorted(tuple(t.shape) for t in weights_type.trainable)
        self.assertEqual(shapes, sorted([(5, 3), (5, 1)]))

    def test_weighted_fed_recon_rejects_unweighted_aggregator(self):
        with self.assertRaisesRegex(TypeError, "unweighted"):
            fed_recon.build_fed_recon(
                _model_fn(num_users=1), model_aggregator=_dp_aggregator()
            )


if __name__ == "__main__":
    tf.test.main()
