"""Canary clients in a real learning process: what they send, and its cosines."""

import types

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import synthetic
from tff_rec.aggregators import factory
from tff_rec.algorithms import fed_avg
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy.audit import canaries as canaries_lib
from tff_rec.training import attacks

NORM = 0.7


class DirectionTest(tf.test.TestCase):
    def test_unit_norm_and_seeded(self):
        shapes = [(5, 3), (5, 1)]
        seed = tf.constant([1, 2], tf.int64)
        a = canaries_lib.direction(shapes, seed)
        self.assertAllClose(tf.linalg.global_norm(a), 1.0)
        b = canaries_lib.direction(shapes, seed)
        for x, y in zip(a, b, strict=True):
            self.assertAllEqual(x, y)
        c = canaries_lib.direction(shapes, tf.constant([1, 3], tf.int64))
        self.assertNotAllClose(a[0], c[0])

    def test_participation_follows_the_probability(self):
        canaries = canaries_lib.CanaryClients(
            100, 10, probability=0.25, carrier=tf.data.Dataset.range(1), seed=0
        )
        counts = []
        for number in range(1, 21):
            data = canaries.client_data(types.SimpleNamespace(number=number), ["real"])
            self.assertEqual(data[0]["data"], "real")
            self.assertFalse(next(data[0]["attack"].as_numpy_iterator())["malicious"])
            for extra in data[1:]:
                self.assertTrue(next(extra["attack"].as_numpy_iterator())["malicious"])
            counts.append(len(data) - 1)
        # 100 canaries x 20 rounds x 0.25: 500 expected, stddev about 19.
        self.assertBetween(sum(counts), 430, 570)
        self.assertEqual(canaries.participation.sum(), sum(counts))


class CanaryRoundTest(tf.test.TestCase, parameterized.TestCase):
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
            for k in range(3)
        ]

        def model_fn():
            return mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=3, global_bias=3.0, seed=0
            )

        self.model_fn = model_fn

    def _process(self, aggregator):
        return attacks.build_replacing_process(
            lambda: fed_avg.build_unweighted_fed_avg(
                self.model_fn, model_aggregator=aggregator
            ),
            lambda work: attacks.replace_updates(work, canaries_lib.replacement(NORM)),
        )

    def _update(self, process, canaries, real):
        state = process.initialize()
        inputs = canaries.client_data(types.SimpleNamespace(number=1), real)
        after = process.next(state, inputs).state
        before = process.get_model_weights(state).trainable
        return [
            np.asarray(b, np.float64) - np.asarray(a, np.float64)
            for b, a in zip(
                before, process.get_model_weights(after).trainable, strict=True
            )
        ]

    def test_a_lone_canary_moves_the_model_along_its_direction(self):
        # The mean of one client with a server step of 1: the model moves by
        # exactly the canary's update, NORM times its direction (the same
        # direction in the graph as eagerly).
        process = self._process(factory.configure_aggregator(weighted=False))
        canaries = canaries_lib.CanaryClients(
            1, 500, probability=1.0, carrier=self.datasets[0], seed=4
        )
        update = self._update(process, canaries, [])
        norm = np.sqrt(sum(np.sum(np.square(u)) for u in update))
        self.assertAllClose(norm, NORM, rtol=1e-5)
        inserted, held_out = canaries.cosines(update)
        self.assertAllClose(inserted, [1.0], atol=1e-5)
        dimension = sum(u.size for u in update)
        # Random directions: mean 0, standard deviation 1/sqrt(d).
        self.assertLess(abs(np.mean(held_out)), 4 / np.sqrt(dimension * 500))
        self.assertAllClose(np.std(held_out), 1 / np.sqrt(dimension), rtol=0.15)

    def test_a_canary_is_clipped_like_any_client(self):
        process = self._process(
            factory.configure_aggregator(
                aggregator="dp_gaussian_fixed",
                weighted=False,
                clip=0.1,
                noise_multiplier=1e-9,
                clients_per_round=1,
            )
        )
        canaries = canaries_lib.CanaryClients(
            1, 10, probability=1.0, carrier=self.datasets[0], seed=4
        )
        update = self._update(process, canaries, [])
        norm = np.sqrt(sum(np.sum(np.square(u)) for u in update))
        self.assertAllClose(norm, 0.1, rtol=1e-4)
        inserted, _ = canaries.cosines(update)
        self.assertAllClose(inserted, [1.0], atol=1e-4)

    def test_honest_clients_train_as_usual(self):
        process = self._process(factory.configure_aggregator(weighted=False))
        canaries = canaries_lib.CanaryClients(
            3, 10, probability=0.0, carrier=self.datasets[0], seed=4
        )
        marked = self._update(process, canaries, self.datasets[:2])
        plain = fed_avg.build_unweighted_fed_avg(self.model_fn)
        state = plain.initialize()
        after = plain.next(state, self.datasets[:2]).state
        expected = [
            np.asarray(b, np.float64) - np.asarray(a, np.float64)
            for b, a in zip(
                plain.get_model_weights(state).trainable,
                plain.get_model_weights(after).trainable,
                strict=True,
            )
        ]
        for got, want in zip(marked, expected, strict=True):
            self.assertAllClose(got, want, atol=1e-6)
