import dp_accounting
import numpy as np
from absl.testing import absltest
from dp_accounting import rdp

from tests import synthetic
from tff_rec.algorithms import customer_dp_fedavg
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy import customer_dp


def _gradients(seed, num_customers=12, num_items=15, dim=4):
    rng = np.random.default_rng(seed)
    customer = np.repeat(np.arange(num_customers), rng.integers(1, 8, num_customers))
    items = np.concatenate(
        [
            rng.choice(num_items, size=int(np.sum(customer == c)), replace=False)
            for c in range(num_customers)
        ]
    )
    counts = np.bincount(customer)[customer].astype(float)
    error = rng.normal(0, 3, len(customer))
    g_q, g_b = customer_dp.per_customer_gradients(
        error,
        rng.normal(size=(len(customer), dim)),
        rng.normal(size=(len(customer), dim)),
        rng.normal(size=len(customer)),
        counts,
        l2=0.05,
        bias_l2=0.01,
    )
    return customer, items, g_q, g_b, num_items


class CustomerDpTest(absltest.TestCase):
    def test_epsilon_is_dp_accountings_for_the_same_steps(self):
        spec = customer_dp.CustomerDpSpec(
            sampling_rate=0.3, noise_multiplier=1.7, steps_per_round=5, delta=1e-4
        )
        accountant = rdp.RdpAccountant()
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(
                0.3, dp_accounting.GaussianDpEvent(1.7)
            ),
            30 * 5,
        )
        self.assertAlmostEqual(
            spec.epsilon(30), accountant.get_epsilon(1e-4), delta=1e-6
        )
        self.assertEqual(spec.epsilon(0), 0.0)
        self.assertLess(spec.epsilon(10), spec.epsilon(30))

    def test_calibrated_noise_spends_at_most_the_target(self):
        z = customer_dp.calibrate_noise_multiplier(
            2.0, rounds=30, sampling_rate=0.3, steps_per_round=5, delta=1e-4
        )
        spec = customer_dp.CustomerDpSpec(0.3, z, 5, 1e-4)
        self.assertLessEqual(spec.epsilon(30), 2.0)
        self.assertGreater(spec.replace_noise(z * 0.99).epsilon(30), 2.0 - 0.05)

    def test_one_customer_moves_the_pre_noise_sum_by_at_most_the_clip(self):
        clip = 0.3
        for seed in range(5):
            customer, items, g_q, g_b, num_items = _gradients(seed)
            full = customer_dp.clipped_item_gradient_sum(
                customer, items, g_q, g_b, num_items=num_items, clip=clip
            )
            for removed in range(customer.max() + 1):
                keep = customer != removed
                without = customer_dp.clipped_item_gradient_sum(
                    customer[keep],
                    items[keep],
                    g_q[keep],
                    g_b[keep],
                    num_items=num_items,
                    clip=clip,
                )
                change = np.sqrt(
                    np.sum((full[0] - without[0]) ** 2)
                    + np.sum((full[1] - without[1]) ** 2)
                )
                self.assertLessEqual(change, clip + 1e-9)

    def test_a_large_contribution_is_clipped_to_exactly_the_clip(self):
        customer, items, g_q, g_b, num_items = _gradients(0)
        only = customer == 0
        emb, bias = customer_dp.clipped_item_gradient_sum(
            customer[only],
            items[only],
            g_q[only] * 1e3,
            g_b[only] * 1e3,
            num_items=num_items,
            clip=0.3,
        )
        self.assertAlmostEqual(
            float(np.sqrt(np.sum(emb**2) + np.sum(bias**2))), 0.3, places=9
        )


class CustomerDpFedAvgTest(absltest.TestCase):
    def test_stores_send_item_tables_only_and_learn(self):
        data = synthetic.make_interactions(num_users=60, num_items=20, per_user=12)
        split = splits.random_holdout(data, test_fraction=0.2, seed=0)
        partition = partition_lib.partition_iid(split.train, num_clients=3, seed=0)
        state = customer_dp_fedavg.CustomerDpFedAvg.create(
            split.train,
            partition,
            embedding_dim=4,
            options=customer_dp_fedavg.StoreTraining(
                noise_multiplier=0.5, clip=1.0, sampling_rate=0.5, learning_rate=0.5
            ),
            global_bias=3.0,
        )
        before = rating_metrics.evaluate_global_model(state.weights(), split.test)
        update = state.store_update(state.stores[0])
        self.assertLen(update, 2)
        self.assertEqual(update[0].shape, state.item_embedding.shape)
        self.assertEqual(update[1].shape, state.item_bias.shape)
        customer_dp_fedavg.train(state, 30)
        after = rating_metrics.evaluate_global_model(state.weights(), split.test)
        self.assertLess(after.rmse, before.rmse)


if __name__ == "__main__":
    absltest.main()
