"""Tests of b-bit quantization and bit packing."""

import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.compression import quantization
from tff_rec.errors import UserInputError

_ALL_BITS = list(range(quantization.MIN_BITS, quantization.MAX_BITS + 1))


def _values(n=101, seed=0):
    return np.random.default_rng(seed).normal(size=n).astype(np.float32)


class QuantizeTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.parameters(*_ALL_BITS)
    def test_nearest_round_trip_within_half_a_step(self, bits):
        x = _values()
        codes, scale = quantization.quantize(x, bits, stochastic=False)
        decoded = quantization.dequantize(codes, scale).numpy()
        self.assertAllClose(scale, np.max(np.abs(x)) / (2 ** (bits - 1) - 1))
        self.assertLessEqual(np.max(np.abs(decoded - x)), scale / 2 + 1e-6)
        level = quantization.max_code(bits)
        self.assertBetween(int(tf.reduce_min(codes)), -level, level)
        self.assertBetween(int(tf.reduce_max(codes)), -level, level)

    @parameterized.parameters(2, 4, 8, 16)
    def test_stochastic_round_trip_within_a_step_and_unbiased(self, bits):
        tf.random.set_seed(bits)
        x = _values(n=50)
        draws = []
        for _ in range(400):
            codes, scale = quantization.quantize(x, bits)
            draws.append(quantization.dequantize(codes, scale).numpy())
        draws = np.array(draws)
        self.assertLess(np.max(np.abs(draws - x)), float(scale) + 1e-6)
        # The mean of 400 draws is within 5 standard errors (step / 2 / 20),
        # plus float32 rounding of x / scale (one ulp of a value up to 2**15).
        ulp = float(scale) * 2 ** (bits - 1) * 2**-23
        tolerance = 5 * float(scale) / 40 + ulp
        self.assertLess(np.max(np.abs(draws.mean(axis=0) - x)), tolerance)

    def test_zero_is_exact_and_all_zero_tensor_has_zero_scale(self):
        x = np.array([0.0, 1.0, -0.5, 0.0], np.float32)
        codes, _ = quantization.quantize(x, 2)
        self.assertAllEqual(codes.numpy()[[0, 3]], [0, 0])
        codes, scale = quantization.quantize(np.zeros(5, np.float32), 8)
        self.assertEqual(float(scale), 0.0)
        self.assertAllEqual(codes, np.zeros(5))
        codes, scale = quantization.quantize(np.zeros(0, np.float32), 8)
        self.assertEqual(float(scale), 0.0)

    def test_shared_scale_clamps_and_keeps_the_scale(self):
        x = np.array([0.05, -0.3, 0.9], np.float32)
        codes, scale = quantization.quantize(x, 4, scale=0.05, stochastic=False)
        self.assertAllClose(scale, 0.05)
        # 7 is the largest 4-bit code: -0.3 -> -6, 0.9 is clamped to 7 * 0.05.
        self.assertAllEqual(codes, [1, -6, 7])

    def test_round_toward_zero_never_grows_a_coordinate(self):
        x = _values()
        codes = quantization.round_toward_zero(x, 4, 0.3)
        decoded = quantization.dequantize(codes, 0.3).numpy()
        self.assertTrue(np.all(np.abs(decoded) <= np.abs(x) + 1e-7))
        self.assertTrue(np.all(np.sign(decoded) * np.sign(x) >= 0))


class PackTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.parameters(*_ALL_BITS)
    def test_pack_unpack_round_trip_and_size(self, bits):
        level = quantization.max_code(bits)
        rng = np.random.default_rng(bits)
        for n in (0, 1, 7, 8, 33):
            codes = rng.integers(-level, level + 1, size=n).astype(np.int32)
            packed = quantization.pack_codes(tf.constant(codes), bits)
            self.assertEqual(packed.dtype, tf.uint8)
            self.assertEqual(packed.shape, [math.ceil(n * bits / 8)])
            self.assertEqual(quantization.packed_size(n, bits), packed.shape[0])
            self.assertAllEqual(quantization.unpack_codes(packed, bits, n), codes)

    def test_dynamic_length(self):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
        def round_trip(codes):
            packed = quantization.pack_codes(codes, 5)
            return packed, quantization.unpack_codes(packed, 5, tf.size(codes))

        codes = np.arange(-15, 16, dtype=np.int32)
        packed, unpacked = round_trip(codes)
        self.assertEqual(packed.shape, [math.ceil(31 * 5 / 8)])
        self.assertAllEqual(unpacked, codes)


class CheckBitsTest(parameterized.TestCase):
    @parameterized.parameters(1, 17, 0, -8, 2.5)
    def test_rejects(self, bits):
        with self.assertRaisesRegex(UserInputError, "quantize_bits must be"):
            quantization.check_bits(bits, "quantize_bits")

    def test_accepts_range(self):
        self.assertEqual(quantization.check_bits(2), 2)
        self.assertEqual(quantization.check_bits(16.0), 16)


if __name__ == "__main__":
    tf.test.main()
