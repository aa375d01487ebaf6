"""Malicious clients: which clients, and what their updates do to a round."""

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.aggregators import factory
from tff_rec.algorithms import fed_avg
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.training import attacks

HONEST, MALICIOUS = 1, 0


class MaliciousClientsTest(tf.test.TestCase, parameterized.TestCase):
    def test_sample_is_a_seeded_fixed_fraction(self):
        a = attacks.MaliciousClients.sample(24, 0.1, seed=3)
        self.assertLen(a.indices, 2)
        self.assertAllEqual(
            a.indices, attacks.MaliciousClients.sample(24, 0.1, 3).indices
        )
        self.assertLen(attacks.MaliciousClients.sample(943, 0.1, 0).indices, 94)
        self.assertLen(attacks.MaliciousClients.sample(5, 0.01, 0).indices, 1)
        self.assertAllEqual(a.is_malicious([a.indices[0], 99]), [True, False])

    @parameterized.parameters(0.0, 1.0, -0.1)
    def test_fraction_out_of_range(self, fraction):
        with self.assertRaisesRegex(errors.UserInputError, "malicious_fraction"):
            attacks.MaliciousClients.sample(10, fraction, 0)

    def test_client_inputs_carry_flag_and_seed(self):
        malicious = attacks.MaliciousClients(np.array([2]), num_clients=5, seed=1)
        datasets = [tf.data.Dataset.range(3), tf.data.Dataset.range(4)]
        inputs = malicious.client_inputs(datasets, [2, 4], round_num=7)
        self.assertEqual(list(inputs[0]), ["data", "attack"])
        self.assertIs(inputs[1]["data"], datasets[1])
        markers = [list(i["attack"].as_numpy_iterator()) for i in inputs]
        self.assertEqual([len(m) for m in markers], [1, 1])
        self.assertEqual([bool(m[0]["malicious"]) for m in markers], [True, False])
        again = malicious.client_inputs(datasets, [2, 4], round_num=7)
        self.assertAllEqual(
            next(again[0]["attack"].as_numpy_iterator())["seed"], markers[0][0]["seed"]
        )


class AttackedProcessTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        data = synthetic.make_interactions(num_users=12, num_items=8, per_user=5)
        federated = client_data.build_federated_data(
            data, partition_lib.partition_by_user(data)
        )
        self.datasets = [
            client_data.preprocess(
                client_data.client_dataset(federated, k), batch_size=2
            )
            for k in range(2)
        ]

        def model_fn():
            return mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=2, global_bias=3.0, seed=0
            )

        self.model_fn = model_fn
        self.malicious = attacks.MaliciousClients(
            np.array([MALICIOUS]), num_clients=12, seed=0
        )

    def _process(self, attack, *, weighted=False, robust=False):
        aggregator = factory.configure_aggregator(weighted=weighted, robust=robust)
        builder = (
            fed_avg.build_weighted_fed_avg
            if weighted
            else fed_avg.build_unweighted_fed_avg
        )
        return attacks.build_attacked_process(
            lambda: builder(self.model_fn, model_aggregator=aggregator), attack
        )

    def _round(self, process, clients):
        """Returns the change of the global weights and the round's metrics."""
        state = process.initialize()
        inputs = self.malicious.client_inputs(
            [self.datasets[k] for k in clients], clients, round_num=1
        )
        output = process.next(state, inputs)
        before = process.get_model_weights(state).trainable
        after = process.get_model_weights(output.state).trainable
        return [a - b for a, b in zip(after, before, strict=True)], output.metrics

    def test_client_data_type_has_data_and_attack(self):
        process = self._process("scale")
        client_data_type = process.next.type_signature.parameter[1]
        self.assertEqual(client_data_type.placement, tff.CLIENTS)
        self.assertEqual(
            [name for name, _ in tff.structure.iter_elements(client_data_type.member)],
            ["data", "attack"],
        )
        self.assertIsInstance(client_data_type.member.data, tff.SequenceType)

    def test_process_not_composed_in_build_fn_is_refused(self):
        built_before = fed_avg.build_unweighted_fed_avg(self.model_fn)
        with self.assertRaisesRegex(TypeError, "compose_learning_process"):
            attacks.build_attacked_process(lambda: built_before, "nan")

    def test_scale_multiplies_the_update(self):
        process = self._process("scale")
        honest, _ = self._round(process, [HONEST])
        # The same client's data, flagged malicious.
        self.malicious = attacks.MaliciousClients(
            np.array([HONEST]), num_clients=12, seed=0
        )
        scaled, _ = self._round(process, [HONEST])
        for s, h in zip(scaled, honest, strict=True):
            self.assertAllClose(s, attacks.DEFAULT_SCALE * h, rtol=1e-4, atol=1e-6)
        self.assertGreater(max(np.abs(h).max() for h in honest), 0.0)

    def test_nan_update_reaches_the_server(self):
        # TFF's client work would zero a NaN update of an honest client and the
        # mean would move; the malicious NaN reaches the mean, so TFF's
        # finalizer rejects the round's update.
        delta, metrics = self._round(self._process("nan"), [MALICIOUS, HONEST])
        for d in delta:
            self.assertAllEqual(d, np.zeros_like(d))
        self.assertEqual(metrics["finalizer"]["update_non_finite"], 1)

    def test_robust_aggregator_drops_the_nan_update(self):
        process = self._process("nan", weighted=True, robust=True)
        honest_only, _ = self._round(process, [HONEST])
        self.assertLess(
            np.sqrt(sum(np.sum(np.square(d)) for d in honest_only)),
            1.0,
            "the honest update must stay under the initial clipping norm",
        )
        delta, metrics = self._round(process, [MALICIOUS, HONEST])
        for d, h in zip(delta, honest_only, strict=True):
            self.assertAllClose(d, h, rtol=1e-5, atol=1e-7)
        self.assertEqual(metrics["aggregator"]["non_finite_count"], 1)
        self.assertEqual(metrics["finalizer"]["update_non_finite"], 0)

    def test_random_update_is_seeded_noise(self):
        process = self._process("random")
        delta, _ = self._round(process, [MALICIOUS])
        again, _ = self._round(process, [MALICIOUS])
        values = np.concatenate([d.ravel() for d in delta])
        self.assertTrue(np.all(np.isfinite(values)))
        self.assertBetween(float(np.std(values)), 0.6, 1.4)
        for d, a in zip(delta, again, strict=True):
            self.assertAllEqual(d, a)


if __name__ == "__main__":
    tf.test.main()
