"""Tests of rating-value inference on uploads with a known error signal."""

from __future__ import annotations

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.privacy.audit import observations
from tff_rec.privacy.audit import rating_value
from tff_rec.privacy.audit import threat_model

Observation = threat_model.Observation
Party = threat_model.Party

_TABLES = rating_value.ItemTables(embedding=0, bias=1)
_NUM_ITEMS = 100
_DIM = 4
_GLOBAL_BIAS = 3.0
_LEARNING_RATE = 0.05


def _broadcast(rng) -> list[np.ndarray]:
    return [
        rng.normal(size=(_NUM_ITEMS, _DIM)),
        rng.normal(0.0, 0.5, size=(_NUM_ITEMS, 1)),
        np.array([_GLOBAL_BIAS]),
    ]


def _client(rng, broadcast, per_user=15):
    """A client's rated items, ratings and upload.

    The broadcast model predicts ``global + b_i`` for it; on each rated item
    its update moves the bias by ``lr * (prediction - rating)`` and the item
    vector along itself by the same factor.
    """
    q, b = broadcast[0], broadcast[1][:, 0]
    items = rng.choice(_NUM_ITEMS, per_user, replace=False)
    offset = rng.normal(0.0, 0.7)
    ratings = np.clip(np.round(3 + b[items] + offset + rng.normal(size=per_user)), 1, 5)
    error = _LEARNING_RATE * (_GLOBAL_BIAS + b[items] - ratings)
    dq = np.zeros_like(q)
    db = np.zeros((_NUM_ITEMS, 1))
    dq[items] = error[:, None] * q[items]
    db[items, 0] = error
    return items, ratings, [dq, db, np.zeros(1)]


def _rmse(predictions, ratings) -> float:
    return float(np.sqrt(np.mean(np.square(predictions - ratings))))


class FeaturesTest(parameterized.TestCase):
    # Three items of dimension 2; the upload touches items 0 and 2.
    _BROADCAST = [
        np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 1.0]]),
        np.array([[0.1], [0.2], [0.3]]),
    ]
    _UPLOAD = [
        np.array([[6.0, 8.0], [0.0, 0.0], [0.0, -2.0]]),
        np.array([[1.0], [0.0], [-1.0]]),
    ]

    def test_hand_computed(self):
        # Projections on the broadcast vectors: 50 / 5 = 10, 0, -2; norms 10,
        # 0, 2; over the touched rows 0 and 2 the means of the bias update,
        # projection and norm are 0, 4 and 6. The user vector fitted to
        # dq_i ~ db_i p: (1 (6, 8) - 1 (0, -2)) / 2 = (3, 5), predicting 29,
        # 5 and 3; the mean absolute bias update is 1.
        x = rating_value.features(
            self._UPLOAD, self._BROADCAST, _TABLES, np.array([0, 2, 1])
        )
        np.testing.assert_allclose(
            x,
            [
                [1, 0.1, 1, 10, 10, 0, 4, 6, 29, 1, np.sqrt(34), 1],
                [1, 0.3, -1, -2, 2, 0, 4, 6, 5, -1, np.sqrt(34), 1],
                [1, 0.2, 0, 0, 0, 0, 4, 6, 3, 0, np.sqrt(34), 1],
            ],
        )

    def test_untouched_upload_has_zero_means(self):
        upload = [np.zeros((3, 2)), np.zeros((3, 1))]
        x = rating_value.features(upload, self._BROADCAST, _TABLES, np.array([1]))
        np.testing.assert_allclose(x, [[1, 0.2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])

    def test_rated_features_reads_upload_and_broadcast_only(self):
        tensors = {o: None for o in Observation} | {
            Observation.CLIENT_UPLOAD: self._UPLOAD,
            Observation.BROADCAST: self._BROADCAST,
        }
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("mean"), tensors
        )
        items = np.array([2, 0])
        np.testing.assert_array_equal(
            rating_value.rated_features(observed, _TABLES, items),
            rating_value.features(self._UPLOAD, self._BROADCAST, _TABLES, items),
        )
        self.assertEqual(observed.read, ("broadcast", "client_upload"))

    def test_rated_features_needs_an_upload(self):
        tensors = {
            Observation.CLIENT_UPLOAD: self._UPLOAD,
            Observation.BROADCAST: self._BROADCAST,
        }
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("secure_aggregation"), tensors
        )
        with self.assertRaises(observations.NotVisibleError):
            rating_value.rated_features(observed, _TABLES, np.array([0]))


class FitTest(parameterized.TestCase):
    def test_recovers_linear_coefficients(self):
        rng = np.random.default_rng(0)
        x = np.concatenate([np.ones((200, 1)), rng.normal(size=(200, 3))], axis=1)
        coefficients = np.array([3.0, -1.0, 0.5, 2.0])
        np.testing.assert_allclose(
            rating_value.fit(x, x @ coefficients), coefficients, atol=1e-4
        )

    def test_defined_for_collinear_columns(self):
        x = np.ones((10, 2))
        w = rating_value.fit(x, np.full(10, 4.0))
        self.assertTrue(np.all(np.isfinite(w)))
        np.testing.assert_allclose(x @ w, 4.0, atol=1e-4)


class AttackTest(parameterized.TestCase):
    def test_shadow_fit_recovers_target_ratings(self):
        rng = np.random.default_rng(0)
        broadcast = _broadcast(rng)

        def dataset(num_clients):
            xs, ys, users = [], [], []
            for _ in range(num_clients):
                items, ratings, upload = _client(rng, broadcast)
                observed = observations.Observations(
                    Party.SERVER,
                    threat_model.configuration("mean"),
                    {
                        Observation.CLIENT_UPLOAD: upload,
                        Observation.BROADCAST: broadcast,
                    },
                )
                xs.append(rating_value.rated_features(observed, _TABLES, items))
                ys.append(ratings)
                users.append(np.full(len(items), np.mean(ratings)))
            return np.concatenate(xs), np.concatenate(ys), np.concatenate(users)

        shadow_x, shadow_y, _ = dataset(60)
        target_x, target_y, user_means = dataset(40)
        full = rating_value.fit(shadow_x, shadow_y)
        bias_only = rating_value.fit(shadow_x[:, rating_value.BIAS_ONLY], shadow_y)

        rmse = _rmse(target_x @ full, target_y)
        rmse_bias_only = _rmse(
            target_x[:, rating_value.BIAS_ONLY] @ bias_only, target_y
        )
        rmse_user_mean = _rmse(user_means, target_y)
        self.assertLess(rmse, 0.1 * rmse_user_mean)
        # Without the upload the server has only the item's bias, which
        # leaves the user's offset and noise (about 1.1 here, against 0.001).
        self.assertGreater(rmse_bias_only, 100 * rmse)
        self.assertGreater(rmse_bias_only, 0.5 * rmse_user_mean)


if __name__ == "__main__":
    absltest.main()
