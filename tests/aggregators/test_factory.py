"""Tests of `configure_aggregator`: which factory, validation, DP, compression."""

from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized
from tensorflow_federated.python.core.backends.test import compiler as test_compiler

from tff_rec.aggregators import factory
from tff_rec.aggregators import laplace
from tff_rec.aggregators import robust
from tff_rec.compression import aggregation as compression_lib
from tff_rec.errors import UserInputError

# DP aggregators need noise (a noise multiplier > 0); this much is far below
# the tests' tolerance, so their values are checked as if noiseless.
NEGLIGIBLE_NOISE = 1e-9

_VALUE_TYPE = tff.TensorType(np.float32, [4])
_DP = dict(noise_multiplier=1.0, clients_per_round=20, weighted=False)


def _intrinsics(process):
    return str(process.next.to_building_block())


def _simulate_secure(process, state, values):
    """Runs `process.next` with secure sums replaced by plain ones.

    TFF 0.87's native runtime cannot execute secure intrinsics; TFF's test
    compiler swaps them for insecure TensorFlow with the same semantics.
    """
    next_fn = test_compiler.replace_secure_intrinsics_with_bodies(process.next)
    return next_fn(state, values)


def _measurement_names(process):
    return str(process.next.type_signature.result.measurements)


def _create(agg):
    if isinstance(agg, tff.aggregators.WeightedAggregationFactory):
        return agg.create(_VALUE_TYPE, tff.TensorType(np.float32))
    return agg.create(_VALUE_TYPE)


class AggregatorTypeTest(tf.test.TestCase, parameterized.TestCase):
    def test_values_and_is_dp(self):
        self.assertEqual(
            [t.value for t in factory.AggregatorType],
            ["mean", "dp_gaussian_adaptive", "dp_gaussian_fixed", "dp_laplace"],
        )
        self.assertFalse(factory.AggregatorType.MEAN.is_dp)
        self.assertTrue(factory.AggregatorType.DP_LAPLACE.is_dp)

    @parameterized.named_parameters(
        ("weighted_mean", dict(weighted=True), tff.aggregators.MeanFactory),
        (
            "unweighted_mean",
            dict(weighted=False),
            tff.aggregators.UnweightedMeanFactory,
        ),
        (
            "string_value",
            dict(aggregator="mean", weighted=False),
            tff.aggregators.UnweightedMeanFactory,
        ),
    )
    def test_mean(self, kwargs, expected_class):
        self.assertIsInstance(factory.configure_aggregator(**kwargs), expected_class)

    @parameterized.named_parameters(
        ("weighted", True, tff.aggregators.WeightedAggregationFactory),
        ("unweighted", False, tff.aggregators.UnweightedAggregationFactory),
    )
    def test_secure_mean_uses_secure_sum(self, weighted, expected_class):
        agg = factory.configure_aggregator(secure=True, weighted=weighted)
        self.assertIsInstance(agg, expected_class)
        if weighted:
            process = agg.create(_VALUE_TYPE, tff.TensorType(np.float32))
        else:
            process = agg.create(_VALUE_TYPE)
        self.assertIn("federated_secure_sum_bitwidth", _intrinsics(process))

    @parameterized.named_parameters(
        ("adaptive", factory.AggregatorType.DP_GAUSSIAN_ADAPTIVE),
        ("fixed", factory.AggregatorType.DP_GAUSSIAN_FIXED),
        ("laplace", factory.AggregatorType.DP_LAPLACE),
    )
    def test_dp_types_are_unweighted_dp_factories(self, aggregator):
        agg = factory.configure_aggregator(aggregator=aggregator, **_DP)
        self.assertIsInstance(agg, tff.aggregators.DifferentiallyPrivateFactory)
        self.assertIsInstance(agg, tff.aggregators.UnweightedAggregationFactory)
        self.assertNotIsInstance(agg, tff.aggregators.WeightedAggregationFactory)

    def test_dp_wiring(self):
        with mock.patch.object(
            tff.aggregators.DifferentiallyPrivateFactory,
            "gaussian_adaptive",
            wraps=tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive,
        ) as adaptive:
            factory.configure_aggregator(
                aggregator="dp_gaussian_adaptive", target_quantile=0.7, **_DP
            )
        adaptive.assert_called_once_with(
            1.0,
            20.0,
            initial_l2_norm_clip=factory.DEFAULT_INITIAL_CLIP,
            target_unclipped_quantile=0.7,
        )
        with mock.patch.object(
            tff.aggregators.DifferentiallyPrivateFactory,
            "gaussian_fixed",
            wraps=tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed,
        ) as fixed:
            factory.configure_aggregator(aggregator="dp_gaussian_fixed", **_DP)
        fixed.assert_called_once_with(1.0, 20.0, factory.DEFAULT_CLIP)
        with mock.patch.object(
            laplace, "laplace_aggregator", wraps=laplace.laplace_aggregator
        ) as lap:
            factory.configure_aggregator(aggregator="dp_laplace", clip=2.0, **_DP)
        lap.assert_called_once_with(
            noise_multiplier=1.0,
            clients_per_round=20.0,
            l1_clip=2.0,
            record_aggregation_factory=None,
        )

    @parameterized.named_parameters(
        ("fixed", "dp_gaussian_fixed"),
        ("laplace", "dp_laplace"),
    )
    def test_dp_type_signature(self, aggregator):
        agg = factory.configure_aggregator(aggregator=aggregator, **_DP)
        process = agg.create(_VALUE_TYPE)
        next_type = process.next.type_signature
        self.assertEqual(
            next_type.parameter[1], tff.FederatedType(_VALUE_TYPE, tff.CLIENTS)
        )
        self.assertEqual(
            next_type.result.result, tff.FederatedType(_VALUE_TYPE, tff.SERVER)
        )
        self.assertNotIn("secure", _intrinsics(process))


class ValidationTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("unknown", dict(aggregator="median"), "unknown aggregator 'median'"),
        (
            "dp_weighted",
            dict(
                aggregator="dp_gaussian_fixed",
                noise_multiplier=1.0,
                clients_per_round=10,
            ),
            "DP aggregators are unweighted.*fedavg_unweighted",
        ),
        (
            "missing_noise",
            dict(aggregator="dp_laplace", weighted=False, clients_per_round=10),
            "needs noise_multiplier",
        ),
        (
            "negative_noise",
            dict(
                aggregator="dp_laplace",
                weighted=False,
                noise_multiplier=-0.5,
                clients_per_round=10,
            ),
            r"noise_multiplier must be > 0 .*got -0.5",
        ),
        (
            "missing_clients",
            dict(aggregator="dp_gaussian_fixed", weighted=False, noise_multiplier=1.0),
            "needs clients_per_round",
        ),
        (
            "zero_clients",
            dict(
                aggregator="dp_gaussian_fixed",
                weighted=False,
                noise_multiplier=1.0,
                clients_per_round=0,
            ),
            "clients_per_round must be >= 1",
        ),
        (
            "zero_clip",
            dict(aggregator="dp_gaussian_fixed", clip=0.0, **_DP),
            "clip must be > 0, got 0.0",
        ),
        (
            "negative_initial_clip",
            dict(aggregator="dp_gaussian_adaptive", initial_clip=-1.0, **_DP),
            "initial_clip must be > 0",
        ),
        (
            "quantile_one",
            dict(aggregator="dp_gaussian_adaptive", target_quantile=1.0, **_DP),
            r"target_quantile must be in \(0, 1\), got 1.0",
        ),
        (
            "quantile_zero",
            dict(aggregator="dp_gaussian_adaptive", target_quantile=0.0, **_DP),
            r"target_quantile must be in \(0, 1\)",
        ),
        (
            "noise_with_mean",
            dict(aggregator="mean", noise_multiplier=1.0),
            "noise_multiplier=1.0 has no effect with aggregator=mean",
        ),
        (
            "clip_with_adaptive",
            dict(aggregator="dp_gaussian_adaptive", clip=1.0, **_DP),
            "clip=1.0 has no effect",
        ),
        (
            "quantile_with_fixed",
            dict(aggregator="dp_gaussian_fixed", target_quantile=0.5, **_DP),
            "target_quantile=0.5 has no effect",
        ),
    )
    def test_rejects(self, kwargs, message):
        with self.assertRaisesRegex(UserInputError, message) as raised:
            factory.configure_aggregator(**kwargs)
        self.assertNotIn("\n", str(raised.exception))

    def test_adaptive_needs_enough_clients(self):
        # TFF needs noise_multiplier < 2 * 0.05 * clients_per_round.
        self.assertEqual(factory.min_clients_per_round_for_adaptive(1.0), 11)
        self.assertEqual(factory.min_clients_per_round_for_adaptive(0.0), 1)
        with self.assertRaisesRegex(
            UserInputError, r"clients_per_round=10 is too small.*>= 11 \(>= 12 "
        ):
            factory.configure_aggregator(
                aggregator="dp_gaussian_adaptive",
                noise_multiplier=1.0,
                clients_per_round=10,
                weighted=False,
            )
        factory.configure_aggregator(
            aggregator="dp_gaussian_adaptive",
            noise_multiplier=1.0,
            clients_per_round=11,
            weighted=False,
        )

    @parameterized.parameters(0.3, 0.5, 1.0, 1.7, 2.5, 4.0)
    def test_min_clients_matches_tff(self, noise_multiplier):
        minimum = factory.min_clients_per_round_for_adaptive(noise_multiplier)
        tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
            noise_multiplier, float(minimum)
        )
        if minimum > 1:
            with self.assertRaises(ValueError):
                tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
                    noise_multiplier, float(minimum - 1)
                )


class DpExecutionTest(tf.test.TestCase, parameterized.TestCase):
    def _aggregate(self, agg, values, *, secure=False):
        process = agg.create(_VALUE_TYPE)
        state = process.initialize()
        if secure:
            output = _simulate_secure(process, state, values)
            return np.asarray(output["result"])
        return np.asarray(process.next(state, values).result)

    def test_noise_grows_with_noise_multiplier(self):
        clients = 4
        values = [np.full(4, 0.05, np.float32)] * clients
        spreads = []
        for noise_multiplier in (NEGLIGIBLE_NOISE, 1.0, 4.0):
            agg = factory.configure_aggregator(
                aggregator="dp_gaussian_fixed",
                noise_multiplier=noise_multiplier,
                clients_per_round=clients,
                clip=1.0,
                weighted=False,
            )
            process = agg.create(_VALUE_TYPE)
            state = process.initialize()
            # 6 rounds x 4 coordinates: 24 draws of the noise on the mean.
            results = np.stack([process.next(state, values).result for _ in range(6)])
            # The mean of 24 draws has stddev 0.05 * z.
            self.assertAllClose(
                results.mean(), 0.05, atol=0.3 * noise_multiplier + 1e-6
            )
            spreads.append(float(results.std()))
        self.assertAllClose(spreads[0], 0.0, atol=1e-6)
        # Expected stddev z * clip / clients: 0.25 and 1.0.
        self.assertGreater(spreads[1], 0.1)
        self.assertLess(spreads[1], 0.5)
        self.assertGreater(spreads[2], 2 * spreads[1])

    @parameterized.named_parameters(
        ("gaussian", "dp_gaussian_fixed", False),
        ("laplace", "dp_laplace", False),
        ("gaussian_secure", "dp_gaussian_fixed", True),
        ("laplace_secure", "dp_laplace", True),
    )
    def test_clipping_bounds_a_clients_contribution(self, aggregator, secure):
        clip, clients = 0.5, 4
        agg = factory.configure_aggregator(
            aggregator=aggregator,
            noise_multiplier=NEGLIGIBLE_NOISE,
            clients_per_round=clients,
            clip=clip,
            weighted=False,
            secure=secure,
        )
        huge = np.array([1e6, 0.0, 0.0, 0.0], np.float32)
        zeros = [np.zeros(4, np.float32)] * (clients - 1)
        result = self._aggregate(agg, [huge, *zeros], secure=secure)
        self.assertAllClose(result, [clip / clients, 0.0, 0.0, 0.0], atol=1e-6)
        self.assertLessEqual(np.linalg.norm(result), clip / clients + 1e-6)


class SecureDpTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("gaussian", "dp_gaussian_fixed"),
        ("laplace", "dp_laplace"),
    )
    def test_records_are_summed_securely(self, aggregator):
        agg = factory.configure_aggregator(aggregator=aggregator, secure=True, **_DP)
        self.assertIsInstance(agg, tff.aggregators.DifferentiallyPrivateFactory)
        process = agg.create(_VALUE_TYPE)
        self.assertIn("federated_secure_sum_bitwidth", _intrinsics(process))
        next_type = process.next.type_signature
        self.assertEqual(
            next_type.result.result, tff.FederatedType(_VALUE_TYPE, tff.SERVER)
        )

    def test_secure_sum_then_noise(self):
        agg = factory.configure_aggregator(
            aggregator="dp_gaussian_fixed",
            noise_multiplier=NEGLIGIBLE_NOISE,
            clients_per_round=3,
            clip=1.0,
            weighted=False,
            secure=True,
        )
        process = agg.create(_VALUE_TYPE)
        values = [
            np.array([0.1, -0.2, 0.3, 0.0], np.float32),
            np.array([0.2, 0.2, -0.1, 0.5], np.float32),
            np.array([0.0, 0.3, 0.0, 0.1], np.float32),
        ]
        output = _simulate_secure(process, process.initialize(), values)
        self.assertAllClose(output["result"], np.sum(values, axis=0) / 3, atol=1e-6)
        secure_measurements = output["measurements"]["dp"]
        self.assertEqual(secure_measurements["secure_upper_threshold"], 1.0)
        self.assertEqual(secure_measurements["secure_upper_clipped_count"], 0)

    def test_adaptive_with_secure_is_refused(self):
        with self.assertRaisesRegex(
            UserInputError, "secure aggregation cannot be combined"
        ):
            factory.configure_aggregator(
                aggregator="dp_gaussian_adaptive", secure=True, **_DP
            )


class RobustTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("weighted_mean", dict(weighted=True), True),
        ("unweighted_mean", dict(weighted=False), True),
        ("secure_mean", dict(weighted=True, secure=True), False),
        ("dp_fixed", dict(aggregator="dp_gaussian_fixed", **_DP), False),
        ("dp_adaptive", dict(aggregator="dp_gaussian_adaptive", **_DP), False),
        ("dp_laplace_secure", dict(aggregator="dp_laplace", secure=True, **_DP), False),
    )
    def test_robust_wraps_every_aggregator(self, kwargs, adaptive_norms):
        plain = factory.configure_aggregator(**kwargs)
        with mock.patch.object(
            robust, "robust_aggregator", wraps=robust.robust_aggregator
        ) as wrap:
            agg = factory.configure_aggregator(robust=True, **kwargs)
        wrap.assert_called_once()
        (inner,), options = wrap.call_args
        self.assertEqual(type(inner).__qualname__, type(plain).__qualname__)
        self.assertEqual(
            options,
            dict(adaptive_norms=adaptive_norms, secure=kwargs.get("secure", False)),
        )
        kind = (
            tff.aggregators.WeightedAggregationFactory
            if kwargs.get("weighted")
            else tff.aggregators.UnweightedAggregationFactory
        )
        self.assertIsInstance(agg, kind)

    def test_robust_dp_mean_ignores_a_nan_client(self):
        dp = dict(
            aggregator="dp_gaussian_fixed",
            noise_multiplier=NEGLIGIBLE_NOISE,
            clients_per_round=2,
            clip=10.0,
            weighted=False,
        )
        values = [np.ones(4, np.float32), np.full(4, np.nan, np.float32)]
        plain = factory.configure_aggregator(**dp).create(_VALUE_TYPE)
        self.assertTrue(np.isnan(plain.next(plain.initialize(), values).result).all())
        process = factory.configure_aggregator(robust=True, **dp).create(_VALUE_TYPE)
        output = process.next(process.initialize(), values)
        self.assertAllClose(output.result, np.full(4, 0.5))
        self.assertEqual(output.measurements["non_finite_count"], 1)


class CompressionWiringTest(tf.test.TestCase, parameterized.TestCase):
    def test_no_compression_is_unchanged(self):
        self.assertIsInstance(
            factory.configure_aggregator(), tff.aggregators.MeanFactory
        )

    @parameterized.named_parameters(
        ("weighted_mean", dict(weighted=True)),
        ("unweighted_mean", dict(weighted=False)),
        ("dp_fixed", dict(aggregator="dp_gaussian_fixed", **_DP)),
        ("dp_adaptive", dict(aggregator="dp_gaussian_adaptive", **_DP)),
        ("dp_laplace", dict(aggregator="dp_laplace", **_DP)),
        ("secure_mean", dict(secure=True)),
        ("secure_dp", dict(aggregator="dp_gaussian_fixed", secure=True, **_DP)),
    )
    def test_count_bytes_keeps_kind_and_reports_bytes(self, kwargs):
        plain = factory.configure_aggregator(**kwargs)
        counted = factory.configure_aggregator(count_bytes=True, **kwargs)
        for kind in (
            tff.aggregators.WeightedAggregationFactory,
            tff.aggregators.UnweightedAggregationFactory,
        ):
            self.assertEqual(isinstance(counted, kind), isinstance(plain, kind))
        process = _create(counted)
        self.assertIn("bytes_up", _measurement_names(process))
        self.assertTrue(process.state_type.is_equivalent_to(_create(plain).state_type))

    def test_quantization_happens_before_dp_clipping_and_noise(self):
        with mock.patch.object(
            compression_lib, "compress_updates", wraps=compression_lib.compress_updates
        ) as compress:
            factory.configure_aggregator(
                aggregator="dp_gaussian_fixed", quantize_bits=8, **_DP
            )
        ((inner, codec), _) = compress.call_args
        # The DP aggregator (clip on the client, noise on the sum) is inside.
        self.assertIsInstance(inner, tff.aggregators.DifferentiallyPrivateFactory)
        self.assertEqual(codec.bits, 8)

    @parameterized.named_parameters(
        ("gaussian", "dp_gaussian_fixed", 2),
        ("laplace", "dp_laplace", 1),
    )
    def test_secure_dp_sums_codes_on_the_clip_grid(self, aggregator, order):
        with mock.patch.object(
            compression_lib,
            "SecureQuantizedSumFactory",
            wraps=compression_lib.SecureQuantizedSumFactory,
        ) as secure_sum:
            agg = factory.configure_aggregator(
                aggregator=aggregator, secure=True, quantize_bits=8, clip=0.5, **_DP
            )
        self.assertIsInstance(agg, tff.aggregators.DifferentiallyPrivateFactory)
        kwargs = secure_sum.call_args.kwargs
        self.assertEqual(kwargs["value_range"], 0.5)
        self.assertEqual(kwargs["norm_bound"].bound, 0.5)
        self.assertEqual(kwargs["norm_bound"].order, order)
        process = agg.create(_VALUE_TYPE)
        self.assertIn(
            "federated_secure_sum_bitwidth", str(process.next.to_building_block())
        )
        self.assertIn("bytes_up", _measurement_names(process))

    @parameterized.named_parameters(
        ("negligible_noise", NEGLIGIBLE_NOISE, True), ("noise", 1.0, False)
    )
    def test_secure_dp_noise_is_added_after_quantization(self, noise, on_grid):
        # The secure sum adds 8-bit codes on the grid step = clip / 127. Noise
        # added to that sum on the server takes the result off the grid; noise
        # added before quantization would leave it on the grid.
        agg = factory.configure_aggregator(
            aggregator="dp_gaussian_fixed",
            secure=True,
            quantize_bits=8,
            clip=1.0,
            noise_multiplier=noise,
            clients_per_round=2,
            weighted=False,
        )
        process = agg.create(_VALUE_TYPE)
        values = [
            np.array([0.3, -0.2, 0.1, 0.0], np.float32),
            np.array([0.05, 0.4, -0.6, 0.2], np.float32),
        ]
        next_fn = test_compiler.replace_secure_intrinsics_with_bodies(process.next)
        result = np.asarray(next_fn(process.initialize(), values)["result"])
        steps = result * 2 * 127  # the mean times the clients, in grid steps
        self.assertEqual(np.allclose(steps, np.round(steps), atol=1e-3), on_grid)
        if on_grid:
            self.assertAllClose(result, (values[0] + values[1]) / 2, atol=1 / 127)

    @parameterized.named_parameters(("weighted", True), ("unweighted", False))
    def test_secure_quantized_mean(self, weighted):
        agg = factory.configure_aggregator(
            secure=True, weighted=weighted, quantize_bits=8, sparse_rows=True
        )
        process = _create(agg)
        self.assertIn(
            "federated_secure_sum_bitwidth", str(process.next.to_building_block())
        )
        self.assertIn("secure_range", _measurement_names(process))

    def test_secure_sparse_rows_without_quantization_keeps_tff_secure_sum(self):
        agg = factory.configure_aggregator(
            secure=True, sparse_rows=True, decoy_rows=5, weighted=False
        )
        process = _create(agg)
        self.assertIn(
            "federated_secure_sum_bitwidth", str(process.next.to_building_block())
        )
        self.assertIn("bytes_up", _measurement_names(process))

    def test_robust_wraps_compression(self):
        agg = factory.configure_aggregator(robust=True, quantize_bits=4, weighted=False)
        self.assertIn("bytes_up", _measurement_names(_create(agg)))


class CompressionValidationTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("bits", dict(quantize_bits=20), "quantize_bits must be in 2..16, got 20"),
        ("topk", dict(topk_fraction=2.0), r"topk_fraction must be in \(0, 1\]"),
        (
            "decoys_insecure",
            dict(sparse_rows=True, decoy_rows=3),
            "decoy_rows=3 needs secure aggregation",
        ),
        (
            "adaptive_secure",
            dict(
                aggregator="dp_gaussian_adaptive", secure=True, quantize_bits=8, **_DP
            ),
            "cannot be combined with dp_gaussian_adaptive",
        ),
        (
            "dp_weighted",
            dict(
                aggregator="dp_laplace",
                noise_multiplier=1.0,
                clients_per_round=5,
                quantize_bits=8,
            ),
            "DP aggregators are unweighted",
        ),
    )
    def test_rejects(self, kwargs, message):
        with self.assertRaisesRegex(UserInputError, message) as raised:
            factory.configure_aggregator(**kwargs)
        self.assertNotIn("\n", str(raised.exception))


if __name__ == "__main__":
    tf.test.main()
