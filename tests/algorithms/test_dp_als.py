"""Private ALS: its noise-free step is an ALS step; clipping bounds a user."""

import contextlib

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.algorithms import dp_als
from tff_rec.runtime import inprocess

NUM_ITEMS = 9
DIM = 3


def _clients(num_users=12, seed=0):
    rng = np.random.default_rng(seed)
    clients = []
    for _ in range(num_users):
        n = int(rng.integers(2, 7))
        items = np.sort(rng.choice(NUM_ITEMS, n, replace=False)).astype(np.int32)
        ratings = rng.integers(1, 6, n).astype(np.float32)
        clients.append({"items": items, "ratings": ratings})
    return clients


def _numpy_als_step(shape, model, clients):
    """One ALS alternation, written directly: users, then items."""
    k = shape.width
    grams = np.zeros([shape.num_items, k, k])
    rhs = np.zeros([shape.num_items, k])
    for client in clients:
        items, ratings = client["items"], client["ratings"].astype(np.float64)
        rows = model[items].astype(np.float64)
        features = np.concatenate([rows[:, :DIM], np.ones([len(items), 1])], 1)
        target = ratings - shape.mean - rows[:, DIM]
        w = np.linalg.solve(
            features.T @ features + shape.user_l2 * np.eye(k), features.T @ target
        )
        x = np.concatenate([w[:DIM], [1.0]])
        for item, rating in zip(items, ratings, strict=False):
            grams[item] += np.outer(x, x)
            rhs[item] += (rating - shape.mean - w[DIM]) * x
    return np.stack(
        [
            np.linalg.solve(grams[i] + shape.item_l2 * np.eye(k), rhs[i])
            for i in range(shape.num_items)
        ]
    )


class DpAlsTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The in-process runtime for this class only: the context the rest
        # of the session runs on is restored afterwards.
        cls._context = contextlib.ExitStack()
        cls._context.enter_context(
            tff.framework.get_context_stack().install(
                inprocess.create_inprocess_execution_context()
            )
        )

    @classmethod
    def tearDownClass(cls):
        cls._context.close()
        super().tearDownClass()

    @parameterized.named_parameters(
        ("unweighted", 1.0, 1.0), ("weighted", 0.5, 2.0), ("gram_up", 3.0, 0.25)
    )
    def test_noise_free_step_is_a_closed_form_als_step(
        self, gram_weight, factor_weight
    ):
        shape = dp_als.DpAlsShape(
            num_items=NUM_ITEMS,
            dim=DIM,
            user_l2=0.5,
            item_l2=0.7,
            clip=float("inf"),
            gram_weight=gram_weight,
            factor_weight=factor_weight,
        )
        process = dp_als.build_dp_als(shape, seed=3)
        state = process.initialize()
        model = dp_als.item_rows(process, state)
        np.testing.assert_array_equal(model, dp_als.initial_model(shape, 3))
        clients = _clients()
        state = process.next(state, clients).state
        expected = _numpy_als_step(shape, model, clients)
        np.testing.assert_allclose(
            dp_als.item_rows(process, state), expected, atol=1e-5, rtol=1e-5
        )
        # A second alternation from the first one's items.
        model = dp_als.item_rows(process, state)
        state = process.next(state, clients).state
        np.testing.assert_allclose(
            dp_als.item_rows(process, state),
            _numpy_als_step(shape, model, clients),
            atol=1e-5,
            rtol=1e-5,
        )

    @parameterized.named_parameters(("unweighted", 1.0, 1.0), ("weighted", 0.5, 2.0))
    def test_one_user_moves_the_released_sum_by_at_most_the_clip(
        self, gram_weight, factor_weight
    ):
        clip = 0.25
        weights = dict(gram_weight=gram_weight, factor_weight=factor_weight)
        shape = dp_als.DpAlsShape(num_items=NUM_ITEMS, dim=DIM, clip=clip, **weights)
        model = tf.constant(dp_als.initial_model(shape, 0) + 0.5)
        clients = _clients(seed=1)

        def statistics(client):
            return dp_als.client_statistics(
                shape, model, client["items"], client["ratings"]
            ).numpy()

        unclipped = dp_als.DpAlsShape(
            num_items=NUM_ITEMS, dim=DIM, clip=float("inf"), **weights
        )
        contributions = [statistics(client) for client in clients]
        for client, contribution in zip(clients, contributions, strict=False):
            self.assertEqual(contribution.shape, (shape.stats_size,))
            self.assertLessEqual(np.linalg.norm(contribution), clip * (1 + 1e-6))
            raw = dp_als.client_statistics(
                unclipped, model, client["items"], client["ratings"]
            ).numpy()
            # Clipping scales the whole contribution, so it is the ALS
            # statistics of the user with a smaller weight.
            self.assertGreater(np.linalg.norm(raw), clip)
            np.testing.assert_allclose(
                contribution, raw * clip / np.linalg.norm(raw), rtol=1e-4, atol=1e-7
            )
        total = np.sum(contributions, axis=0)
        for left_out in range(len(clients)):
            without = np.sum(
                [c for k, c in enumerate(contributions) if k != left_out], axis=0
            )
            self.assertLessEqual(np.linalg.norm(total - without), clip * (1 + 1e-5))

    def test_weights_scale_the_statistics_before_the_clip(self):
        plain = dp_als.DpAlsShape(num_items=NUM_ITEMS, dim=DIM, clip=float("inf"))
        weighted = dp_als.DpAlsShape(
            num_items=NUM_ITEMS,
            dim=DIM,
            clip=float("inf"),
            gram_weight=0.5,
            factor_weight=2.0,
        )
        model = tf.constant(dp_als.initial_model(plain, 0) + 0.3)
        client = _clients(seed=4)[0]
        k = plain.width

        def per_item(shape):
            flat = dp_als.client_statistics(
                shape, model, client["items"], client["ratings"]
            ).numpy()
            return flat.reshape([NUM_ITEMS, k * k + k])

        expected = per_item(plain)
        expected[:, : k * k] *= 0.5
        expected[:, k * k : k * k + DIM] *= 2.0
        np.testing.assert_allclose(per_item(weighted), expected, rtol=1e-5, atol=1e-7)

    def test_user_factors_stay_on_the_clients(self):
        shape = dp_als.DpAlsShape(num_items=NUM_ITEMS, dim=DIM)
        process = dp_als.build_dp_als(shape)
        weights = process.get_model_weights(process.initialize())
        self.assertLen(weights.trainable, 1)
        self.assertEqual(
            np.asarray(weights.trainable[0]).shape, (NUM_ITEMS, shape.width)
        )
        self.assertEmpty(weights.non_trainable)

    def test_evaluation_solves_users_like_the_clients(self):
        shape = dp_als.DpAlsShape(num_items=NUM_ITEMS, dim=DIM, user_l2=0.5)
        model = dp_als.initial_model(shape, 1) + 0.2
        clients = _clients(seed=2)
        users = np.concatenate(
            [np.full(len(c["items"]), u) for u, c in enumerate(clients)]
        )
        items = np.concatenate([c["items"] for c in clients])
        ratings = np.concatenate([c["ratings"] for c in clients])
        rows = dp_als.fit_users(shape, model, users, items, ratings, len(clients))
        for u, client in enumerate(clients):
            expected = dp_als.solve_user(
                shape, tf.constant(model), client["items"], client["ratings"]
            ).numpy()
            np.testing.assert_allclose(rows[u], expected, rtol=1e-4, atol=1e-5)


if __name__ == "__main__":
    absltest.main()
