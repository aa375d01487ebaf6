import numpy as np
import tensorflow as tf

from tff_rec.data import interactions as interactions_lib
from tff_rec.evaluation import rating_metrics


def _table(users, items, ratings, num_users, num_items):
    return interactions_lib.Interactions(
        users=np.array(users, np.int32),
        items=np.array(items, np.int32),
        ratings=np.array(ratings, np.float32),
        timestamps=None,
        user_vocab=tuple(str(u) for u in range(num_users)),
        item_vocab=tuple(str(i) for i in range(num_items)),
    )


class RatingEvaluationTest(tf.test.TestCase):
    def test_rmse_and_mae_by_hand(self):
        metrics = rating_metrics.from_predictions([1.0, 2.0, 4.0], [2.0, 2.0, 2.0])
        self.assertAllClose(metrics.rmse, np.sqrt((1 + 0 + 4) / 3))
        self.assertAllClose(metrics.mae, (1 + 0 + 2) / 3)
        self.assertEqual(metrics.num_examples, 3)

    def test_empty_test_set_raises(self):
        with self.assertRaisesRegex(ValueError, "empty"):
            rating_metrics.from_predictions([], [])

    def test_global_model_prediction(self):
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=np.array([[1.0], [2.0]], np.float32),
            item_bias=np.array([0.5, -0.5], np.float32),
            global_bias=3.0,
            user_embedding=np.array([[1.0], [-1.0]], np.float32),
            user_bias=np.array([0.0, 0.25], np.float32),
        )
        test = _table([0, 1], [1, 0], [5.0, 2.0], 2, 2)
        # user 0 item 1: 3 + 0 - 0.5 + 2 = 4.5; user 1 item 0: 3 + .25 + .5 - 1
        metrics = rating_metrics.evaluate_global_model(weights, test)
        self.assertAllClose(metrics.rmse, np.sqrt((0.25 + 0.5625) / 2))

    def test_diverged_model_scores_nan_instead_of_failing(self):
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=np.array([[np.inf], [np.nan]], np.float32),
            item_bias=np.zeros(2, np.float32),
            global_bias=3.0,
        )
        history = _table([0, 0], [0, 1], [4.0, 2.0], 1, 2)
        test = _table([0], [1], [3.0], 1, 2)
        metrics = rating_metrics.evaluate_reconstruction(weights, history, test, l2=0.1)
        self.assertTrue(np.isnan(metrics.rmse))
        self.assertTrue(np.isnan(metrics.mae))
        self.assertEqual(metrics.num_examples, 1)

    def test_overflowing_model_scores_nan_instead_of_failing(self):
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=np.full((2, 2), 1e38, np.float32),
            item_bias=np.zeros(2, np.float32),
            global_bias=3.0,
        )
        history = _table([0, 0], [0, 1], [4.0, 2.0], 1, 2)
        test = _table([0], [1], [3.0], 1, 2)
        metrics = rating_metrics.evaluate_reconstruction(weights, history, test, l2=0.1)
        self.assertFalse(np.isfinite(metrics.rmse))

    def test_reconstruction_recovers_exact_user_factors(self):
        # Items with known factors; the user's ratings are generated exactly
        # by p = [2, -1], b_u = 0.5, so a tiny ridge recovers them.
        rng = np.random.default_rng(0)
        q = rng.normal(size=(6, 2)).astype(np.float32)
        b_i = rng.normal(size=6).astype(np.float32)
        p, b_u, b = np.array([2.0, -1.0]), 0.5, 3.0
        items = np.arange(6)
        ratings = b + b_u + b_i + q @ p
        history = _table([0] * 6, items, ratings, 2, 6)
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=q, item_bias=b_i, global_bias=b
        )
        rebuilt = rating_metrics.reconstruct_users(
            weights, history, l2=1e-7, bias_l2=1e-7
        )
        self.assertAllClose(rebuilt.user_embedding[0], p, atol=1e-2)
        self.assertAllClose(rebuilt.user_bias[0], b_u, atol=1e-2)
        # User 1 has no history: zero factors, i.e. bias-only predictions.
        self.assertAllClose(rebuilt.user_embedding[1], [0.0, 0.0])
        self.assertAllClose(rebuilt.user_bias[1], 0.0)

    def test_reconstruction_ridge_shrinks_towards_zero(self):
        rng = np.random.default_rng(1)
        q = rng.normal(size=(8, 3)).astype(np.float32)
        ratings = 3.0 + q @ np.array([1.0, 1.0, 1.0])
        history = _table([0] * 8, np.arange(8), ratings, 1, 8)
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=q, item_bias=np.zeros(8, np.float32), global_bias=3.0
        )
        small = rating_metrics.reconstruct_users(weights, history, l2=1e-4)
        large = rating_metrics.reconstruct_users(weights, history, l2=10.0)
        self.assertLess(
            np.linalg.norm(large.user_embedding[0]),
            np.linalg.norm(small.user_embedding[0]),
        )


if __name__ == "__main__":
    tf.test.main()
