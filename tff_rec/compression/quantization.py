"""Uniform b-bit quantization of float tensors, and packing codes into bytes.

A tensor ``x`` is encoded as integer codes ``c`` in ``[-L, L]``, ``L =
2**(bits - 1) - 1``, and one float32 ``scale``: ``x ~ c * scale``. The grid is
symmetric, so zero is encoded exactly (untouched rows and coordinates dropped
by sparsification stay exactly zero). The scale is either the tensor's own
(``max|x| / L``, sent with the codes) or a shared one known to every party
(used under secure aggregation, where codes of different clients are summed
as integers and no per-client scale can be applied).

Rounding is stochastic (unbiased: ``E[c * scale] = x``, error below one step)
or deterministic (nearest grid point, error at most half a step). Stochastic
rounding for a mean of client updates is the scheme of Suresh, Yu, Kumar and
McMahan, "Distributed Mean Estimation with Limited Communication", ICML 2017,
arXiv:1611.00429 (also QSGD, Alistarh et al., NeurIPS 2017, arXiv:1610.02132).

Codes are shifted to ``[0, 2L]`` and packed densely, ``bits`` bits each, into
``ceil(n * bits / 8)`` bytes (`pack_codes`); the packed uint8 tensor is what a
client would send, and byte counts are taken from it.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tff_rec import errors

MIN_BITS = 2
MAX_BITS = 16


def check_bits(bits: int, name: str = "bits") -> int:
    """Returns `bits` if it is an integer in ``[MIN_BITS, MAX_BITS]``.

    Raises:
      UserInputError: naming `name`, the value and the allowed range.
    """
    integral = isinstance(bits, int | float) and float(bits).is_integer()
    if isinstance(bits, bool) or not integral:
        raise errors.UserInputError(f"{name} must be an integer, got {bits!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise errors.UserInputError(
            f"{name} must be in {MIN_BITS}..{MAX_BITS}, got {bits}"
        )
    return int(bits)


def max_code(bits: int) -> int:
    """``L = 2**(bits - 1) - 1``: codes lie in ``[-L, L]``."""
    return 2 ** (bits - 1) - 1


def packed_size(num_elements: int, bits: int) -> int:
    """Bytes of `num_elements` codes of `bits` bits packed densely."""
    return math.ceil(num_elements * bits / 8)


def quantize(
    x: tf.Tensor,
    bits: int,
    *,
    scale: tf.Tensor | float | None = None,
    stochastic: bool = True,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Quantizes `x` to integer codes in ``[-L, L]``.

    Args:
      x: a float tensor of any shape (dynamic shapes allowed).
      bits: bits per code, `MIN_BITS` to `MAX_BITS`.
      scale: the grid step. None means the tensor's own scale, ``max|x| / L``;
        values beyond ``L * scale`` (possible only with a given scale) are
        clamped.
      stochastic: round up with probability equal to the remainder (unbiased)
        instead of to the nearest code.

    Returns:
      ``(codes, scale)``: int32 codes with the shape of `x`, and the float32
      scalar scale (``x ~ codes * scale``).
    """
    level = float(max_code(bits))
    x = tf.cast(x, tf.float32)
    if scale is None:
        # max(., 0): the maximum of an empty tensor (no rows touched) is -inf.
        scale = tf.maximum(tf.reduce_max(tf.abs(x)), 0.0) / level
    scale = tf.cast(scale, tf.float32)
    y = tf.clip_by_value(tf.math.divide_no_nan(x, scale), -level, level)
    if stochastic:
        floor = tf.floor(y)
        up = tf.random.uniform(tf.shape(y), dtype=tf.float32) < y - floor
        y = floor + tf.cast(up, tf.float32)
    else:
        y = tf.round(y)
    return tf.cast(y, tf.int32), scale


def round_toward_zero(x: tf.Tensor, bits: int, scale: tf.Tensor | float) -> tf.Tensor:
    """Codes with ``|codes * scale| <= |x|`` coordinate-wise (never a larger norm)."""
    level = float(max_code(bits))
    y = tf.clip_by_value(
        tf.math.divide_no_nan(tf.cast(x, tf.float32), tf.cast(scale, tf.float32)),
        -level,
        level,
    )
    return tf.cast(tf.sign(y) * tf.floor(tf.abs(y)), tf.int32)


def dequantize(codes: tf.Tensor, scale: tf.Tensor | float) -> tf.Tensor:
    """``codes * scale`` as float32."""
    return tf.cast(codes, tf.float32) * tf.cast(scale, tf.float32)


def pack_codes(codes: tf.Tensor, bits: int) -> tf.Tensor:
    """Packs codes in ``[-L, L]`` into a uint8 vector, `bits` bits per code.

    Args:
      codes: int32 codes of any shape (flattened in row-major order).
      bits: bits per code.

    Returns:
      A uint8 tensor of ``ceil(n * bits / 8)`` bytes (static when n is).
    """
    n = codes.shape.num_elements()
    shifted = tf.reshape(codes, [-1]) + max_code(bits)
    planes = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(shifted[:, None], tf.range(bits)[None, :]), 1
    )
    flat = tf.reshape(planes, [-1])
    padding = tf.math.floormod(-tf.size(flat), 8)
    flat = tf.concat([flat, tf.zeros([padding], tf.int32)], axis=0)
    weights = tf.bitwise.left_shift(1, tf.range(8))
    packed = tf.reduce_sum(tf.reshape(flat, [-1, 8]) * weights[None, :], axis=1)
    packed = tf.cast(packed, tf.uint8)
    if n is not None:
        packed.set_shape([packed_size(n, bits)])
    return packed


def unpack_codes(packed: tf.Tensor, bits: int, num_codes) -> tf.Tensor:
    """Inverse of `pack_codes`: the first `num_codes` codes, int32, flat."""
    planes = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(
            tf.cast(packed, tf.int32)[:, None], tf.range(8)[None, :]
        ),
        1,
    )
    flat = tf.reshape(planes, [-1])[: num_codes * bits]
    weights = tf.bitwise.left_shift(1, tf.range(bits))
    shifted = tf.reduce_sum(tf.reshape(flat, [-1, bits]) * weights[None, :], axis=1)
    codes = shifted - max_code(bits)
    if isinstance(num_codes, int):
        codes.set_shape([num_codes])
    return codes
