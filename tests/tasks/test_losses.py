import numpy as np
import tensorflow as tf

from tff_rec.tasks import losses


def _softplus(x):
    return np.log1p(np.exp(x))


class LossTest(tf.test.TestCase):
    def test_bce_is_cross_entropy_of_the_logit_plus_penalty(self):
        y_pred = tf.constant([[2.0, 0.5], [-1.0, 0.0], [0.3, 0.25]])
        y_true = tf.constant([[1.0], [0.0], [0.0]])
        per_example = losses.BinaryCrossEntropy().call(y_true, y_pred).numpy()
        expected = [_softplus(-2.0) + 0.5, _softplus(-1.0), _softplus(0.3) + 0.25]
        self.assertAllClose(per_example, expected)
        self.assertAllClose(
            losses.BinaryCrossEntropy()(y_true, y_pred), np.mean(expected)
        )

    def test_bpr_pairs_each_negative_with_its_groups_positive(self):
        # Two groups of [positive, negative, negative].
        logits = [2.0, 1.0, 3.0, 0.5, 0.0, 1.5]
        y_pred = tf.constant([[s, 0.1] for s in logits])
        loss = losses.BayesianPersonalizedRanking(3)
        per_row = loss.call(None, y_pred).numpy()
        expected = [
            0.1,
            _softplus(1.0 - 2.0) + 0.1,
            _softplus(3.0 - 2.0) + 0.1,
            0.1,
            _softplus(0.0 - 0.5) + 0.1,
            _softplus(1.5 - 0.5) + 0.1,
        ]
        self.assertAllClose(per_row, expected, atol=1e-6)

    def test_bpr_prefers_positives_ranked_above_negatives(self):
        loss = losses.BayesianPersonalizedRanking(2)
        good = loss(None, tf.constant([[3.0, 0.0], [-3.0, 0.0]]))
        bad = loss(None, tf.constant([[-3.0, 0.0], [3.0, 0.0]]))
        self.assertLess(float(good), float(bad))

    def test_bpr_needs_a_negative(self):
        with self.assertRaisesRegex(ValueError, "at least one negative"):
            losses.BayesianPersonalizedRanking(1)

    def test_loss_factory(self):
        self.assertIsInstance(losses.implicit_loss("bce")(), losses.BinaryCrossEntropy)
        bpr = losses.implicit_loss(losses.LossType.BPR, negatives=4)()
        self.assertIsInstance(bpr, losses.BayesianPersonalizedRanking)
        self.assertEqual(bpr.get_config()["group_size"], 5)


class MetricsTest(tf.test.TestCase):
    def test_auc_and_accuracy_read_the_logit_column(self):
        y_true = tf.constant([[1.0], [0.0], [1.0], [0.0]])
        # Penalty column is large and would flip everything if it were read.
        y_pred = tf.constant([[2.0, 9.0], [-1.0, 9.0], [-0.5, 9.0], [0.5, 9.0]])
        auc, accuracy = losses.implicit_metrics()
        auc.update_state(y_true, y_pred)
        accuracy.update_state(y_true, y_pred)
        # Positives 2.0, -0.5; negatives -1.0, 0.5: 3 of 4 pairs ordered.
        self.assertAllClose(auc.result(), 0.75, atol=0.01)
        self.assertAllClose(accuracy.result(), 0.5)

    def test_metrics_rebuild_from_config(self):
        # TFF's metric finalizers rebuild metrics with from_config.
        for metric in losses.implicit_metrics():
            rebuilt = type(metric).from_config(metric.get_config())
            self.assertEqual(rebuilt.get_config(), metric.get_config())


if __name__ == "__main__":
    tf.test.main()
