"""Tests of compressed and secure quantized aggregation, with and without DP."""

import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized
from tensorflow_federated.python.core.backends.test import compiler as test_compiler

from tff_rec.compression import aggregation
from tff_rec.compression import codec as codec_lib
from tff_rec.errors import UserInputError

# An item table of 4 rows x 2 and a scalar; 9 float32 = 36 bytes.
_VALUE_TYPE = tff.types.to_type(
    collections.OrderedDict(
        table=tff.TensorType(np.float32, [4, 2]), bias=tff.TensorType(np.float32)
    )
)


def _value(rows, scale=1.0, bias=0.5):
    table = np.zeros((4, 2), np.float32)
    for r in rows:
        table[r] = [scale * (r + 1), -scale]
    return collections.OrderedDict(table=table, bias=np.float32(bias))


def _simulate_secure(process, *args):
    return test_compiler.replace_secure_intrinsics_with_bodies(process.next)(*args)


def _norm(value):
    return np.sqrt(sum(np.sum(np.square(v)) for v in value.values()))


class CompressUpdatesTypeTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("unweighted", tff.aggregators.UnweightedMeanFactory(), False),
        ("weighted", tff.aggregators.MeanFactory(), True),
    )
    def test_kind_state_and_measurements(self, inner, weighted):
        factory = aggregation.compress_updates(
            inner, codec_lib.UpdateCodec(bits=8, sparse_rows=True)
        )
        self.assertEqual(
            isinstance(factory, tff.aggregators.WeightedAggregationFactory), weighted
        )
        if weighted:
            weight = tff.TensorType(np.float32)
            process = factory.create(_VALUE_TYPE, weight)
            plain = inner.create(_VALUE_TYPE, weight)
        else:
            process = factory.create(_VALUE_TYPE)
            plain = inner.create(_VALUE_TYPE)
        # Checkpoints of a run keep their structure: the state is the inner's.
        self.assertEqual(process.state_type, plain.state_type)
        signature = process.next.type_signature
        self.assertEqual(
            signature.parameter[1], tff.FederatedType(_VALUE_TYPE, tff.CLIENTS)
        )
        self.assertEqual(
            signature.result.result, tff.FederatedType(_VALUE_TYPE, tff.SERVER)
        )
        measurements = signature.result.measurements.member
        self.assertEqual(measurements.bytes_up, tff.TensorType(np.int64))
        self.assertEqual(measurements.dense_bytes_up, tff.TensorType(np.int64))


class CompressUpdatesValueTest(tf.test.TestCase):
    def test_sparse_rows_are_lossless_and_counted(self):
        factory = aggregation.compress_updates(
            tff.aggregators.UnweightedMeanFactory(),
            codec_lib.UpdateCodec(sparse_rows=True),
        )
        process = factory.create(_VALUE_TYPE)
        values = [_value([0, 2]), _value([3])]
        output = process.next(process.initialize(), values)
        self.assertAllClose(
            output.result["table"], (values[0]["table"] + values[1]["table"]) / 2
        )
        # Client 1: 2 uint16 rows + 2x2 floats + bias; client 2: 1 + 2 + bias.
        self.assertEqual(output.measurements["bytes_up"], (4 + 16 + 4) + (2 + 8 + 4))
        self.assertEqual(output.measurements["dense_bytes_up"], 2 * 36)

    def test_quantized_mean_within_bound(self):
        factory = aggregation.compress_updates(
            tff.aggregators.MeanFactory(), codec_lib.UpdateCodec(bits=8)
        )
        process = factory.create(_VALUE_TYPE, tff.TensorType(np.float32))
        values = [_value([0, 1, 2, 3]), _value([1], scale=0.5)]
        output = process.next(process.initialize(), values, [1.0, 3.0])
        expected = (values[0]["table"] + 3 * values[1]["table"]) / 4
        # Each table is within one step (max|x| / 127) of its own values.
        step = max(np.max(np.abs(v["table"])) for v in values) / 127
        self.assertAllClose(output.result["table"], expected, atol=step)
        # 8 codes + a scale for the table, the scalar bias as float32.
        self.assertEqual(output.measurements["bytes_up"], 2 * (8 + 4 + 4))

    def test_dp_clips_the_decoded_update_so_its_norm_stays_the_clip(self):
        # Quantize, then clip: the DP layer sees the decoded update. With no
        # noise, each client's contribution has norm exactly the clip.
        clip = 1.0
        dp = tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
            noise_multiplier=0.0, clients_per_round=1.0, clip=clip
        )
        factory = aggregation.compress_updates(dp, codec_lib.UpdateCodec(bits=4))
        process = factory.create(_VALUE_TYPE)
        value = _value([0, 1, 2, 3], scale=10.0)
        output = process.next(process.initialize(), [value])
        self.assertAllClose(_norm(output.result), clip, rtol=1e-5)
        direction = _norm(value)
        for key in value:
            # Close to the clipped update, up to 4-bit rounding of the direction.
            self.assertAllClose(
                output.result[key], np.asarray(value[key]) / direction, atol=0.15
            )
        self.assertEqual(output.measurements["bytes_up"], 4 + 4 + 4)


class SecureQuantizedSumTest(tf.test.TestCase, parameterized.TestCase):
    def test_type_signature_and_secure_intrinsic(self):
        factory = aggregation.SecureQuantizedSumFactory(
            codec_lib.UpdateCodec(bits=8), value_range=4.0
        )
        process = factory.create(_VALUE_TYPE)
        signature = process.next.type_signature
        self.assertEqual(
            signature.result.result, tff.FederatedType(_VALUE_TYPE, tff.SERVER)
        )
        measurements = signature.result.measurements.member
        self.assertEqual(measurements.bytes_up, tff.TensorType(np.int64))
        self.assertEqual(measurements.secure_range, tff.TensorType(np.float32))
        blocks = str(process.next.to_building_block())
        self.assertIn("federated_secure_sum_bitwidth", blocks)

    @parameterized.parameters(4, 8, 12)
    def test_sum_within_one_step_per_client(self, bits):
        value_range = 8.0
        codec = codec_lib.UpdateCodec(bits=bits)
        process = aggregation.SecureQuantizedSumFactory(
            codec, value_range=value_range
        ).create(_VALUE_TYPE)
        values = [_value([0, 1]), _value([2, 3], scale=0.3, bias=-1.0)]
        output = _simulate_secure(process, process.initialize(), values)
        step = value_range / (2 ** (bits - 1) - 1)
        self.assertAllClose(
            output["result"]["table"],
            values[0]["table"] + values[1]["table"],
            atol=2 * step,
        )
        self.assertAllClose(output["result"]["bias"], -0.5, atol=2 * step)
        # Shared grid: packed codes only, no scales (9 codes per client).
        expected = 2 * -(-9 * bits // 8)
        self.assertEqual(output["measurements"]["bytes_up"], expected)
        self.assertAllClose(output["measurements"]["secure_range"], value_range)

    def test_sparse_rows_on_the_shared_grid(self):
        codec = codec_lib.UpdateCodec(bits=8, sparse_rows=True)
        process = aggregation.SecureQuantizedSumFactory(codec, value_range=4.0).create(
            _VALUE_TYPE
        )
        output = _simulate_secure(process, process.initialize(), [_value([1, 3])])
        self.assertAllClose(
            output["result"]["table"], _value([1, 3])["table"], atol=0.04
        )
        # 2 uint16 rows + 4 codes + 1 code for the scalar.
        self.assertEqual(output["measurements"]["bytes_up"], 4 + 4 + 1)

    def test_dp_records_never_exceed_the_clip(self):
        clip = 1.0
        codec = codec_lib.UpdateCodec(bits=2)
        process = aggregation.SecureQuantizedSumFactory(
            codec, value_range=clip, norm_bound=codec_lib.NormBound(clip)
        ).create(_VALUE_TYPE)
        # A record of norm 1 whose coordinates sit just under half a step.
        table = np.full((4, 2), 0.35, np.float32)
        record = collections.OrderedDict(
            table=table / np.linalg.norm(table), bias=np.float32(0.0)
        )
        for _ in range(5):
            output = _simulate_secure(process, process.initialize(), [record])
            self.assertLessEqual(_norm(output["result"]), clip + 1e-6)

    def test_adaptive_range_moves_toward_the_values(self):
        process = aggregation.SecureQuantizedSumFactory(
            codec_lib.UpdateCodec(bits=8),
            value_range=aggregation.adaptive_secure_range(),
        ).create(_VALUE_TYPE)
        state = process.initialize()
        ranges = []
        for _ in range(4):
            output = _simulate_secure(process, state, [_value([3], scale=5.0)] * 3)
            state = output["state"]
            ranges.append(float(output["measurements"]["secure_range"]))
        self.assertAllClose(ranges[0], aggregation.DEFAULT_INITIAL_SECURE_RANGE)
        self.assertGreater(ranges[-1], 5 * ranges[0])

    @parameterized.named_parameters(("weighted", True), ("unweighted", False))
    def test_secure_quantized_mean(self, weighted):
        factory = aggregation.secure_quantized_mean(
            codec_lib.UpdateCodec(bits=8), weighted=weighted
        )
        values = [_value([0]), _value([1])]
        if weighted:
            self.assertIsInstance(factory, tff.aggregators.WeightedAggregationFactory)
            process = factory.create(_VALUE_TYPE, tff.TensorType(np.float32))
            output = _simulate_secure(process, process.initialize(), values, [1.0, 1.0])
        else:
            self.assertIsInstance(factory, tff.aggregators.UnweightedAggregationFactory)
            process = factory.create(_VALUE_TYPE)
            output = _simulate_secure(process, process.initialize(), values)
        self.assertIn(
            "federated_secure_sum_bitwidth", str(process.next.to_building_block())
        )
        self.assertIn("bytes_up", str(process.next.type_signature.result.measurements))
        self.assertEqual(output["result"]["table"].shape, (4, 2))


class CheckDecoysTest(tf.test.TestCase):
    def test_decoys_need_secure_aggregation(self):
        with self.assertRaisesRegex(UserInputError, "decoy_rows=2 needs secure"):
            aggregation.check_decoys(2, secure=False)
        aggregation.check_decoys(2, secure=True)
        aggregation.check_decoys(0, secure=False)


if __name__ == "__main__":
    tf.test.main()
