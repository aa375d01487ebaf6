"""Tests of the Laplace DP query and its TFF aggregation factory."""

import collections

import dp_accounting
import numpy as np
import scipy.stats
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec.aggregators import laplace
from tff_rec.errors import UserInputError

_NUM_SAMPLES = 20_000


def _l1_norm(structure):
    return sum(float(np.abs(np.asarray(t)).sum()) for t in tf.nest.flatten(structure))


def _noise_sample(query, size=_NUM_SAMPLES):
    """Noise of one release on a zero sum of `size` coordinates."""
    global_state = query.initial_global_state()
    result, _, _ = query.get_noised_result(tf.zeros([size]), global_state)
    return result.numpy().astype(np.float64)


class LaplaceSumQueryTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("large_record_is_clipped", 2.0),
        ("small_record_is_unchanged", 100.0),
    )
    def test_clipping_bounds_global_l1_norm(self, clip):
        query = laplace.LaplaceSumQuery(l1_norm_clip=clip, noise_multiplier=1.0)
        params = query.derive_sample_params(query.initial_global_state())
        # Global L1 norm 3 + 1 + 4 + 2 = 10.
        record = collections.OrderedDict(
            a=tf.constant([3.0, -1.0]), b=tf.constant([[4.0], [-2.0]])
        )
        clipped = query.preprocess_record(params, record)
        self.assertAllClose(_l1_norm(clipped), min(clip, 10.0))
        # Clipping scales: direction and structure are kept.
        factor = min(1.0, clip / 10.0)
        self.assertAllClose(clipped["a"], [3.0 * factor, -1.0 * factor])
        self.assertAllClose(clipped["b"], [[4.0 * factor], [-2.0 * factor]])

    def test_zero_record_stays_zero(self):
        query = laplace.LaplaceSumQuery(l1_norm_clip=1.0, noise_multiplier=1.0)
        params = query.derive_sample_params(query.initial_global_state())
        clipped = query.preprocess_record(params, [tf.zeros([3])])
        self.assertAllEqual(clipped[0], [0.0, 0.0, 0.0])

    def test_sum_of_clipped_records(self):
        query = laplace.LaplaceSumQuery(l1_norm_clip=1.0, noise_multiplier=0.0)
        records = [tf.constant([2.0, 0.0]), tf.constant([0.0, 0.5])]
        global_state = query.initial_global_state()
        params = query.derive_sample_params(global_state)
        sample_state = query.initial_sample_state(records[0])
        for record in records:
            sample_state = query.accumulate_record(params, sample_state, record)
        result, _, _ = query.get_noised_result(sample_state, global_state)
        self.assertAllClose(result, [1.0, 0.5])

    @parameterized.named_parameters(
        ("scale_1", 1.0, 1.0),
        ("scale_3", 0.5, 6.0),
    )
    def test_noise_is_laplace_with_scale_clip_times_multiplier(self, clip, multiplier):
        scale = clip * multiplier
        query = laplace.LaplaceSumQuery(l1_norm_clip=clip, noise_multiplier=multiplier)
        noise = _noise_sample(query)
        # Standard errors: mean b*sqrt(2/n) ~ 0.01 b, MAD b/sqrt(n) ~ 0.007 b.
        self.assertLess(abs(noise.mean()), 0.05 * scale)
        self.assertAllClose(np.abs(noise).mean(), scale, rtol=0.04)
        self.assertAllClose(noise.var(), 2 * scale**2, rtol=0.08)
        ks = scipy.stats.kstest(noise, scipy.stats.laplace(scale=scale).cdf)
        self.assertGreater(ks.pvalue, 1e-4)

    def test_noise_is_fresh_on_every_release(self):
        query = laplace.LaplaceSumQuery(l1_norm_clip=1.0, noise_multiplier=1.0)
        self.assertNotAllClose(_noise_sample(query, 10), _noise_sample(query, 10))

    def test_noise_keeps_structure_and_dtype(self):
        query = laplace.LaplaceSumQuery(l1_norm_clip=1.0, noise_multiplier=1.0)
        sample_state = collections.OrderedDict(
            a=tf.zeros([2, 3], tf.float32), b=tf.zeros([4], tf.float64)
        )
        result, _, _ = query.get_noised_result(
            sample_state, query.initial_global_state()
        )
        self.assertEqual(result["a"].shape, (2, 3))
        self.assertEqual(result["a"].dtype, tf.float32)
        self.assertEqual(result["b"].dtype, tf.float64)

    def test_dp_event_is_laplace_with_noise_multiplier(self):
        query = laplace.LaplaceSumQuery(l1_norm_clip=3.0, noise_multiplier=2.5)
        _, new_state, event = query.get_noised_result(
            tf.zeros([2]), query.initial_global_state()
        )
        self.assertIsInstance(event, dp_accounting.LaplaceDpEvent)
        self.assertAllClose(event.noise_multiplier, 2.5)
        self.assertAllClose(new_state.l1_norm_clip, 3.0)

    @parameterized.named_parameters(
        ("zero_clip", dict(l1_norm_clip=0.0, noise_multiplier=1.0), "l1_norm_clip"),
        ("negative_noise", dict(l1_norm_clip=1.0, noise_multiplier=-1.0), "noise"),
    )
    def test_rejects_bad_arguments(self, kwargs, message):
        with self.assertRaisesRegex(UserInputError, message):
            laplace.LaplaceSumQuery(**kwargs)


class LaplaceAggregatorTypeTest(tf.test.TestCase):
    def test_type_signature(self):
        factory = laplace.laplace_aggregator(
            noise_multiplier=1.0, clients_per_round=3, l1_clip=1.0
        )
        self.assertIsInstance(factory, tff.aggregators.UnweightedAggregationFactory)
        value_type = tff.TensorType(np.float32, [4])
        process = factory.create(value_type)
        self.assertIsInstance(process, tff.templates.AggregationProcess)
        next_type = process.next.type_signature
        self.assertEqual(
            next_type.parameter[1], tff.FederatedType(value_type, tff.CLIENTS)
        )
        self.assertEqual(
            next_type.result.result, tff.FederatedType(value_type, tff.SERVER)
        )
        self.assertEqual(process.initialize.type_signature.result.placement, tff.SERVER)

    def test_rejects_bad_clients_per_round(self):
        with self.assertRaisesRegex(UserInputError, "clients_per_round"):
            laplace.laplace_aggregator(
                noise_multiplier=1.0, clients_per_round=0, l1_clip=1.0
            )


class LaplaceAggregatorExecutionTest(tf.test.TestCase):
    def _process(self, noise_multiplier, clients_per_round=3, l1_clip=1.0):
        factory = laplace.laplace_aggregator(
            noise_multiplier=noise_multiplier,
            clients_per_round=clients_per_round,
            l1_clip=l1_clip,
        )
        return factory.create(tff.TensorType(np.float32, [4]))

    def test_noise_free_result_is_mean_of_clipped_values(self):
        process = self._process(noise_multiplier=0.0, l1_clip=1.0)
        values = [
            np.array([0.1, 0.1, 0.0, 0.0], np.float32),
            np.array([0.0, 0.2, 0.2, 0.0], np.float32),
            np.array([8.0, 0.0, 0.0, 0.0], np.float32),  # L1 norm 8 -> 1.
        ]
        output = process.next(process.initialize(), values)
        self.assertAllClose(output.result, [1.1 / 3, 0.3 / 3, 0.2 / 3, 0.0])

    def test_noised_mean_and_dp_event(self):
        process = self._process(noise_multiplier=0.5)
        values = [np.full(4, 0.1, np.float32)] * 3
        output = process.next(process.initialize(), values)
        # Mean 0.1 plus Laplace noise of scale 0.5 / 3 per coordinate.
        self.assertEqual(output.result.shape, (4,))
        self.assertNotAllClose(output.result, np.full(4, 0.1))
        self.assertLess(np.max(np.abs(output.result - 0.1)), 20 * 0.5 / 3)
        dp_event = output.state.dp_event
        if not isinstance(dp_event, dp_accounting.DpEvent):
            dp_event = dp_accounting.DpEvent.from_named_tuple(dp_event)
        self.assertEqual(dp_event, dp_accounting.LaplaceDpEvent(0.5))


if __name__ == "__main__":
    tf.test.main()
