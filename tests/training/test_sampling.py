"""Client sampling, failures and aborted rounds."""

import numpy as np
import tensorflow as tf

from tff_rec import errors
from tff_rec.training import sampling


def _clients(clients, round_num):
    return [(int(k), round_num) for k in clients]


class SamplingTest(tf.test.TestCase):
    def test_dropout_is_seeded_by_run_and_round(self):
        clients = np.arange(1000)
        a = sampling.drop_out(clients, 0.3, seed=2, round_num=5)
        self.assertAllEqual(a, sampling.drop_out(clients, 0.3, seed=2, round_num=5))
        self.assertNotAllEqual(a, sampling.drop_out(clients, 0.3, seed=2, round_num=6))
        self.assertBetween(a.mean(), 0.25, 0.35)
        self.assertFalse(sampling.drop_out(clients, 0.0, seed=2, round_num=5).any())

    def test_uniform_sampling_is_seeded_and_without_replacement(self):
        a = sampling.sample_clients(np.random.default_rng(3), 10, 5)
        b = sampling.sample_clients(np.random.default_rng(3), 10, 5)
        self.assertAllEqual(a, b)
        self.assertLen(set(a.tolist()), 5)

    def test_poisson_sampling_varies_around_the_expectation(self):
        rng = np.random.default_rng(0)
        counts = [
            len(sampling.sample_clients(rng, 1000, 50, "poisson")) for _ in range(50)
        ]
        self.assertBetween(np.mean(counts), 45, 55)
        self.assertGreater(len(set(counts)), 1)

    def test_too_many_clients_per_round(self):
        with self.assertRaisesRegex(errors.UserInputError, "500 exceeds the 12"):
            sampling.ClientSampler(12, 500, _clients)

    def test_rounds_carry_their_data_and_state(self):
        sampler = sampling.ClientSampler(10, 3, _clients, seed=4)
        drawn = []
        for r in sampler.rounds(1, 3):
            # The data is built ahead, on the sampler's thread.
            self.assertEqual(r.client_data(), _clients(r.clients, r.number))
            drawn.append(r)
        self.assertEqual([r.number for r in drawn], [1, 2, 3])
        for r in drawn:
            self.assertLen(r.clients, 3)
            self.assertEqual(
                r.row(), {"clients": 3, "clients_dropped": 0, "aborted": 0}
            )
        # Restoring round 1's state draws rounds 2 and 3 again.
        again = sampling.ClientSampler(10, 3, _clients, seed=4)
        again.set_state(drawn[0].rng_state)
        self.assertAllEqual(
            [r.sampled for r in again.rounds(2, 3)], [r.sampled for r in drawn[1:]]
        )

    def test_aborted_rounds_build_no_data(self):
        sampler = sampling.ClientSampler(
            10, 3, _clients, dropout_rate=0.9, min_clients=3, seed=1
        )
        for r in sampler.rounds(1, 5):
            self.assertEqual(r.aborted, len(r.clients) < 3)
            if r.aborted:
                self.assertIn("aborted", r.abort_notice(3))


if __name__ == "__main__":
    tf.test.main()
