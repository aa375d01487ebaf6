"""`configure_aggregator` with compression: wiring, DP and secure composition."""

from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized
from tensorflow_federated.python.core.backends.test import compiler as test_compiler

from tff_rec.aggregators import factory
from tff_rec.compression import aggregation as compression_lib
from tff_rec.errors import UserInputError

_VALUE_TYPE = tff.TensorType(np.float32, [4])
_DP = dict(noise_multiplier=1.0, clients_per_round=20, weighted=False)


def _measurement_names(process):
    return str(process.next.type_signature.result.measurements)


def _create(agg):
    if isinstance(agg, tff.aggregators.WeightedAggregationFactory):
        return agg.create(_VALUE_TYPE, tff.TensorType(np.float32))
    return agg.create(_VALUE_TYPE)


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

    @parameterized.named_parameters(("no_noise", 0.0, True), ("noise", 1.0, False))
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
