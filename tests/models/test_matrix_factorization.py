import collections

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import losses


class MatrixFactorizationTest(tf.test.TestCase, parameterized.TestCase):
    def test_prediction_is_biased_dot_product(self):
        model = mf.build_matrix_factorization(
            3, 4, embedding_dim=2, l2=0.5, bias_l2=0.1, global_bias=3.0
        )
        keras_model = model.keras_model
        p = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
        q = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5], [0.0, 0.0]], np.float32)
        bu = np.array([[0.1], [0.2], [0.3]], np.float32)
        bi = np.array([[-0.1], [0.0], [0.5], [1.0]], np.float32)
        keras_model.get_layer(mf.USER_EMBEDDING).set_weights([p])
        keras_model.get_layer(mf.ITEM_EMBEDDING).set_weights([q])
        keras_model.get_layer(mf.USER_BIAS).set_weights([bu])
        keras_model.get_layer(mf.ITEM_BIAS).set_weights([bi])
        x = collections.OrderedDict(
            user=np.array([0, 1, 2], np.int32), item=np.array([1, 0, 2], np.int32)
        )
        out = keras_model(x).numpy()
        # user 0, item 1: 3 + 0.1 + 0 + (1*3 + 0*4) = 6.1
        # user 1, item 0: 3 + 0.2 - 0.1 + (0*1 + 2*2) = 7.1
        # user 2, item 2: 3 + 0.3 + 0.5 + (0.5 + 0.5) = 4.8
        self.assertAllClose(out[:, mf.PREDICTION_COLUMN], [6.1, 7.1, 4.8])
        # penalty: 0.5 * (|p|^2 + |q|^2) + 0.1 * (bu^2 + bi^2)
        expected = [
            0.5 * (1 + 25) + 0.1 * (0.01 + 0.0),
            0.5 * (4 + 5) + 0.1 * (0.04 + 0.01),
            0.5 * (2 + 0.5) + 0.1 * (0.09 + 0.25),
        ]
        self.assertAllClose(out[:, mf.PENALTY_COLUMN], expected, rtol=1e-5)

    def test_loss_adds_penalty_and_metrics_ignore_it(self):
        y_true = np.array([[4.0], [2.0]], np.float32)
        y_pred = np.array([[3.0, 0.5], [2.0, 1.5]], np.float32)
        loss = losses.rating_loss()(y_true, y_pred).numpy()
        self.assertAllClose(loss, ((1.0 + 0.5) + (0.0 + 1.5)) / 2)
        rmse = losses.RatingRootMeanSquaredError()
        rmse.update_state(y_true, y_pred)
        self.assertAllClose(rmse.result().numpy(), np.sqrt(0.5))
        mae = losses.RatingMeanAbsoluteError()
        mae.update_state(y_true, y_pred)
        self.assertAllClose(mae.result().numpy(), 0.5)

    def test_global_and_local_layers_partition_the_weights(self):
        model = mf.build_matrix_factorization(5, 7, embedding_dim=3)
        global_names = {w.name for layer in model.global_layers for w in layer.weights}
        local_names = {w.name for layer in model.local_layers for w in layer.weights}
        all_names = {w.name for w in model.keras_model.weights}
        self.assertEmpty(global_names & local_names)
        self.assertEqual(global_names | local_names, all_names)
        self.assertTrue(any("item_embedding" in n for n in global_names))
        self.assertTrue(any("user_embedding" in n for n in local_names))

    @parameterized.named_parameters(
        ("users", dict(num_users=0, num_items=3)),
        ("items", dict(num_users=3, num_items=0)),
        ("dim", dict(num_users=3, num_items=3, embedding_dim=0)),
        ("l2", dict(num_users=3, num_items=3, l2=-1.0)),
    )
    def test_bad_arguments_raise(self, kwargs):
        with self.assertRaises(ValueError):
            mf.build_matrix_factorization(**kwargs)


if __name__ == "__main__":
    tf.test.main()
