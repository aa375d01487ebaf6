"""Tests of the robust wrappers: non-finite check, adaptive zeroing, clipping."""

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec.aggregators import robust

_VALUE_TYPE = tff.TensorType(np.float32, [2])
_WEIGHT_TYPE = tff.TensorType(np.float32)


def _values(*rows):
    return [np.array(row, np.float32) for row in rows]


def _names(struct_type):
    return [name for name, _ in tff.structure.iter_elements(struct_type)]


class NonFiniteZeroingTypeTest(tf.test.TestCase, parameterized.TestCase):
    def test_unweighted_signature(self):
        factory = robust.zeroing_non_finite(tff.aggregators.UnweightedMeanFactory())
        self.assertIsInstance(factory, tff.aggregators.UnweightedAggregationFactory)
        process = factory.create(_VALUE_TYPE)
        result_type = process.next.type_signature.result
        self.assertEqual(result_type.result, tff.FederatedType(_VALUE_TYPE, tff.SERVER))
        self.assertEqual(
            _names(result_type.measurements.member), ["non_finite", "non_finite_count"]
        )
        self.assertEqual(
            result_type.measurements.member.non_finite_count, tff.TensorType(np.int32)
        )

    def test_weighted_signature(self):
        factory = robust.zeroing_non_finite(tff.aggregators.MeanFactory())
        self.assertIsInstance(factory, tff.aggregators.WeightedAggregationFactory)
        process = factory.create(_VALUE_TYPE, _WEIGHT_TYPE)
        self.assertEqual(
            process.next.type_signature.parameter[2],
            tff.FederatedType(_WEIGHT_TYPE, tff.CLIENTS),
        )

    @parameterized.named_parameters(
        ("plain", False, "federated_sum"),
        ("secure", True, "federated_secure_sum_bitwidth"),
    )
    def test_count_summation(self, secure, intrinsic):
        factory = robust.zeroing_non_finite(
            tff.aggregators.UnweightedMeanFactory(), secure=secure
        )
        building_block = str(factory.create(_VALUE_TYPE).next.to_building_block())
        self.assertIn(intrinsic, building_block)

    def test_wrong_kind_is_refused(self):
        with self.assertRaisesRegex(TypeError, "weighted aggregation factory"):
            robust.WeightedNonFiniteZeroingFactory(
                tff.aggregators.UnweightedMeanFactory()
            )
        with self.assertRaisesRegex(TypeError, "unweighted aggregation factory"):
            robust.UnweightedNonFiniteZeroingFactory(tff.aggregators.MeanFactory())


class NonFiniteZeroingValueTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(("nan", np.nan), ("inf", np.inf))
    def test_unweighted_mean_counts_the_zeroed_client(self, bad):
        process = robust.zeroing_non_finite(
            tff.aggregators.UnweightedMeanFactory()
        ).create(_VALUE_TYPE)
        output = process.next(process.initialize(), _values([1, 2], [bad, 0]))
        self.assertAllClose(output.result, [0.5, 1.0])
        self.assertEqual(output.measurements["non_finite_count"], 1)

    def test_weighted_mean_drops_the_zeroed_client(self):
        process = robust.zeroing_non_finite(tff.aggregators.MeanFactory()).create(
            _VALUE_TYPE, _WEIGHT_TYPE
        )
        output = process.next(
            process.initialize(),
            _values([1, 2], [-np.inf, 0], [3, 6]),
            [np.float32(1), np.float32(3), np.float32(1)],
        )
        self.assertAllClose(output.result, [2.0, 4.0])
        self.assertEqual(output.measurements["non_finite_count"], 1)

    def test_finite_values_pass_unchanged(self):
        process = robust.zeroing_non_finite(
            tff.aggregators.UnweightedMeanFactory()
        ).create(_VALUE_TYPE)
        output = process.next(process.initialize(), _values([1, 2], [3, 4]))
        self.assertAllClose(output.result, [2.0, 3.0])
        self.assertEqual(output.measurements["non_finite_count"], 0)


class RobustAggregatorTest(tf.test.TestCase):
    def test_adaptive_norms_wrap_the_inner_factory(self):
        process = robust.robust_aggregator(
            tff.aggregators.UnweightedMeanFactory()
        ).create(_VALUE_TYPE)
        inner = process.next.type_signature.result.measurements.member.non_finite
        self.assertEqual(_names(inner), ["zeroing", "zeroing_norm", "zeroed_count"])
        self.assertEqual(
            _names(inner.zeroing), ["clipping", "clipping_norm", "clipped_count"]
        )

    def test_outlier_zeroed_large_update_clipped_nan_dropped(self):
        process = robust.robust_aggregator(
            tff.aggregators.UnweightedMeanFactory()
        ).create(_VALUE_TYPE)
        output = process.next(
            process.initialize(),
            # Norm 0.5 passes; L-inf norm 100 > 2 * 10 + 1 is zeroed; norm 5 is
            # clipped to the initial clipping norm 1; NaN is zeroed.
            _values([0.3, 0.4], [100, 0], [3, 4], [np.nan, 1]),
        )
        self.assertAllClose(output.result, [0.9 / 4, 1.2 / 4])
        measurements = output.measurements
        self.assertEqual(measurements["non_finite_count"], 1)
        self.assertEqual(measurements["non_finite"]["zeroed_count"], 1)
        self.assertEqual(measurements["non_finite"]["zeroing"]["clipped_count"], 1)
        self.assertAllClose(
            measurements["non_finite"]["zeroing_norm"],
            robust.ZEROING_MULTIPLIER * robust.ZEROING_INITIAL_NORM
            + robust.ZEROING_INCREMENT,
        )
        # The norms adapt without ever becoming NaN.
        state = output.state
        for _ in range(3):
            output = process.next(state, _values([0.3, 0.4], [np.nan, 0]))
            state = output.state
        self.assertTrue(np.isfinite(output.measurements["non_finite"]["zeroing_norm"]))
        self.assertAllClose(output.result, [0.15, 0.2])

    def test_without_adaptive_norms_only_non_finite_is_checked(self):
        process = robust.robust_aggregator(
            tff.aggregators.UnweightedMeanFactory(), adaptive_norms=False
        ).create(_VALUE_TYPE)
        output = process.next(process.initialize(), _values([100, 0], [np.nan, 0]))
        self.assertAllClose(output.result, [50.0, 0.0])


if __name__ == "__main__":
    tf.test.main()
