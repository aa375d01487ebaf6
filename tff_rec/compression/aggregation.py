"""Aggregation of compressed client updates, with DP and secure summation.

Two factories put `tff_rec.compression.codec.UpdateCodec` into TFF's
aggregation stack:

`compress_updates(inner, codec)` wraps any aggregation factory (weighted or
not; the mean, every DP aggregator, secure summation without quantization).
Each client encodes its update into the codec's payload (selected rows or
coordinates, b-bit codes and their scale), counts the payload's bytes, and
the inner factory aggregates the decoded update. A TFF simulation transports
tensors of the value's static type, so the decoded (dense) update is what
moves from the clients' computation to the inner aggregation; the byte counts
are those of the encoded payload, the message a deployment sends (decoding is
the server's first step, and summing decoded updates is the same sum). With a
DP aggregator inside, the DP layer clips the decoded update and adds noise to
the sum on the server.

`SecureQuantizedSumFactory` is the summation itself when secure aggregation
and quantization are combined: per-client scales cannot be applied to a
secure sum of integers, so every client quantizes on one shared grid
``[-R, R]`` (R broadcast by the server), and the secure sum
(`tff.aggregators.SecureSumFactory` over the integer codes, i.e.
`federated_secure_sum_bitwidth` with ``bits``-bit summands) adds the codes;
the server multiplies the sum by the step. R is the DP clip when there is one
(every coordinate of a record clipped to norm C lies in [-C, C]) or, for the
plain secure mean, an adaptive estimate of the clients' largest coordinate
(TFF's `PrivateQuantileEstimationProcess`, as in
`tff.learning.secure_aggregator`).

Order of DP noise and quantization: the noise is added after quantization,
on the server, to the sum of the quantized records (central DP: TFF's
`DifferentiallyPrivateFactory` clips each record on the client and noises the
sum). Not before: with noise added on the clients, either each client adds
the full noise (the sum then carries n times the variance) or a distributed
discrete mechanism is needed (`tff.learning.ddp_secure_aggregator`), and the
noise in a client's message would set its quantization range, spending the
few bits on noise. The guarantee needs the
sensitivity of the sum, the largest norm of one client's summand, to stay at
the clip C, and both routes keep it:

- without secure aggregation the update is quantized first and the DP layer
  clips the decoded update, i.e. rescales it, which in the message is only a
  rescaled per-tensor scale (the codes are unchanged): the summand has norm
  at most C exactly;
- with secure aggregation the clipped record is quantized on the shared grid,
  and a record whose stochastically rounded codes would exceed norm C is
  rounded toward zero instead (each coordinate no larger in magnitude than the
  clipped one), so its norm is at most C. Clipping to the grid's range never
  applies since coordinates of a clipped record lie in [-C, C].

Byte counts are summed over clients without noise: like the clients' training
metrics they describe the run to its operator and are outside the DP
guarantee (with sparse rows their total depends on how many items the
sampled users rated).
"""

from __future__ import annotations

import collections
import math

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.compression import byte_counts
from tff_rec.compression import codec as codec_lib
from tff_rec.compression import quantization

# Initial shared range of the secure quantized mean (no DP): TFF's secure
# aggregator starts its bound at 50, far above a recommender update's
# coordinates; 1.0 starts the grid near the right scale and adapts from there.
DEFAULT_INITIAL_SECURE_RANGE = 1.0
SECURE_RANGE_QUANTILE = 0.95
SECURE_RANGE_LEARNING_RATE = 1.0
SECURE_RANGE_MULTIPLIER = 2.0


def check_decoys(decoy_rows: int, secure: bool) -> None:
    """Refuses decoy rows without secure aggregation.

    Raises:
      UserInputError: if ``decoy_rows > 0`` and not `secure`.
    """
    if decoy_rows and not secure:
        raise errors.UserInputError(
            f"decoy_rows={decoy_rows} needs secure aggregation: without it the "
            "server sees each row's values and tells an all-zero decoy from a "
            "rated item"
        )


def _flat_specs(value_type) -> list[tf.TensorSpec]:
    return tf.nest.flatten(tff.types.type_to_tf_tensor_specs(value_type))


def _client_encoder(codec: codec_lib.UpdateCodec, value_type):
    """(value) -> (decoded value, payload bytes, dense bytes), on a client."""
    specs = _flat_specs(value_type)

    @tff.tensorflow.computation(value_type)
    def encode_decode(value):
        flat = tf.nest.flatten(value)
        payload = codec.encode(flat, specs)
        decoded = codec.decode(payload, specs)
        return collections.OrderedDict(
            value=tf.nest.pack_sequence_as(value, decoded),
            bytes=byte_counts.payload_bytes(payload),
            dense_bytes=byte_counts.dense_bytes(flat),
        )

    return encode_decode


def _byte_measurements(encoded, inner_measurements):
    return tff.federated_zip(
        collections.OrderedDict(
            bytes_up=tff.federated_sum(encoded.bytes),
            dense_bytes_up=tff.federated_sum(encoded.dense_bytes),
            inner=inner_measurements,
        )
    )


class _UnweightedCompression(tff.aggregators.UnweightedAggregationFactory):
    def __init__(self, inner, codec):
        self._inner = inner
        self._codec = codec

    def create(self, value_type):
        inner = self._inner.create(value_type)
        encode_decode = _client_encoder(self._codec, value_type)

        @tff.federated_computation(
            inner.initialize.type_signature.result,
            tff.FederatedType(value_type, tff.CLIENTS),
        )
        def next_fn(state, value):
            encoded = tff.federated_map(encode_decode, value)
            output = inner.next(state, encoded.value)
            return tff.templates.MeasuredProcessOutput(
                state=output.state,
                result=output.result,
                measurements=_byte_measurements(encoded, output.measurements),
            )

        return tff.templates.AggregationProcess(inner.initialize, next_fn)


class _WeightedCompression(tff.aggregators.WeightedAggregationFactory):
    def __init__(self, inner, codec):
        self._inner = inner
        self._codec = codec

    def create(self, value_type, weight_type):
        inner = self._inner.create(value_type, weight_type)
        encode_decode = _client_encoder(self._codec, value_type)

        @tff.federated_computation(
            inner.initialize.type_signature.result,
            tff.FederatedType(value_type, tff.CLIENTS),
            tff.FederatedType(weight_type, tff.CLIENTS),
        )
        def next_fn(state, value, weight):
            encoded = tff.federated_map(encode_decode, value)
            output = inner.next(state, encoded.value, weight)
            return tff.templates.MeasuredProcessOutput(
                state=output.state,
                result=output.result,
                measurements=_byte_measurements(encoded, output.measurements),
            )

        return tff.templates.AggregationProcess(inner.initialize, next_fn)


def compress_updates(
    inner: tff.aggregators.AggregationFactory, codec: codec_lib.UpdateCodec
) -> tff.aggregators.AggregationFactory:
    """Encodes each client's update with `codec` before `inner` aggregates it.

    Args:
      inner: any aggregation factory; the result is weighted if it is.
      codec: how updates are encoded. The identity codec only counts bytes.

    Returns:
      A factory of the same kind (weighted or unweighted) as `inner`, whose
      measurements are ``bytes_up``, ``dense_bytes_up`` and ``inner`` (those of
      `inner`). Its state is `inner`'s.
    """
    if isinstance(inner, tff.aggregators.WeightedAggregationFactory):
        return _WeightedCompression(inner, codec)
    return _UnweightedCompression(inner, codec)


def adaptive_secure_range(
    initial_range: float | None = None,
) -> tff.templates.EstimationProcess:
    """The shared quantization range of the secure mean, adapted each round.

    Tracks ``2 x`` the 95th percentile of the clients' largest coordinate
    magnitudes with secure summation of the quantile's indicator, the bound
    estimate of `tff.learning.secure_aggregator`.

    Args:
      initial_range: the first round's range; None means
        `DEFAULT_INITIAL_SECURE_RANGE`.
    """
    if initial_range is None:
        initial_range = DEFAULT_INITIAL_SECURE_RANGE
    return tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=float(initial_range) / SECURE_RANGE_MULTIPLIER,
        target_quantile=SECURE_RANGE_QUANTILE,
        learning_rate=SECURE_RANGE_LEARNING_RATE,
        multiplier=SECURE_RANGE_MULTIPLIER,
        secure_estimation=True,
    )


class SecureQuantizedSumFactory(tff.aggregators.UnweightedAggregationFactory):
    """Securely sums b-bit codes of client values on a shared grid.

    Args:
      codec: a codec with ``bits`` set; its selection (sparse rows, top-k)
        applies before quantization.
      value_range: R, the shared grid's half-width: a float (e.g. the DP clip)
        or an `EstimationProcess` whose report is R (see
        `adaptive_secure_range`). Values beyond it are clamped.
      norm_bound: for DP records, the clip the decoded record must not exceed
        (see `tff_rec.compression.codec.UpdateCodec.encode`).

    The process's measurements are ``bytes_up`` and ``dense_bytes_up`` (sums
    over clients of the encoded payload: packed codes, no scale, plus
    indices), ``secure_range`` (R) and ``inner`` (the secure sum's).
    """

    def __init__(
        self,
        codec: codec_lib.UpdateCodec,
        *,
        value_range: float | tff.templates.EstimationProcess,
        norm_bound: codec_lib.NormBound | None = None,
    ):
        if codec.bits is None:
            raise ValueError("SecureQuantizedSumFactory needs a codec with bits")
        if not isinstance(value_range, tff.templates.EstimationProcess) and not (
            value_range > 0
        ):
            raise ValueError(f"value_range must be > 0, got {value_range}")
        self._codec = codec
        self._range = value_range
        self._norm_bound = norm_bound

    def _range_fns(self):
        if isinstance(self._range, tff.templates.EstimationProcess):
            return self._range.initialize, self._range.report
        value_range = float(self._range)

        @tff.federated_computation()
        def init_fn():
            return tff.federated_value((), tff.SERVER)

        @tff.federated_computation(init_fn.type_signature.result)
        def report(state):
            del state
            return tff.federated_value(np.float32(value_range), tff.SERVER)

        return init_fn, report

    def create(self, value_type):
        if not tff.types.is_structure_of_floats(value_type):
            raise TypeError(f"expected float values, got {value_type}")
        codec = self._codec
        norm_bound = self._norm_bound
        specs = _flat_specs(value_type)
        level = float(quantization.max_code(codec.bits))
        init_fn, report = self._range_fns()
        state_type = init_fn.type_signature.result

        @tff.tensorflow.computation(value_type, np.float32)
        def encode(value, step):
            flat = tf.nest.flatten(value)
            payload = codec.encode(
                flat, specs, shared_scale=step, norm_bound=norm_bound
            )
            codes = codec.decode_codes(payload, specs)
            return collections.OrderedDict(
                codes=tf.nest.pack_sequence_as(value, codes),
                bytes=byte_counts.payload_bytes(payload),
                dense_bytes=byte_counts.dense_bytes(flat),
                max_abs=tf.reduce_max([tf.reduce_max(tf.abs(t)) for t in flat]),
            )

        codes_type = encode.type_signature.result.codes
        code_sum = tff.aggregators.SecureSumFactory(int(level), -int(level)).create(
            codes_type
        )

        @tff.tensorflow.computation(codes_type, np.float32)
        def decode_sum(summed, step):
            return tf.nest.map_structure(
                lambda c: tf.cast(c, tf.float32) * step, summed
            )

        @tff.tensorflow.computation(report.type_signature.result.member)
        def step_of(value_range):
            return tf.cast(value_range, tf.float32) / level

        @tff.federated_computation(
            state_type, tff.FederatedType(value_type, tff.CLIENTS)
        )
        def next_fn(state, value):
            value_range = report(state)
            step = tff.federated_map(step_of, value_range)
            encoded = tff.federated_map(encode, (value, tff.federated_broadcast(step)))
            summed = code_sum.next(code_sum.initialize(), encoded.codes)
            result = tff.federated_map(decode_sum, (summed.result, step))
            if isinstance(self._range, tff.templates.EstimationProcess):
                new_state = self._range.next(state, encoded.max_abs)
            else:
                new_state = state
            measurements = tff.federated_zip(
                collections.OrderedDict(
                    bytes_up=tff.federated_sum(encoded.bytes),
                    dense_bytes_up=tff.federated_sum(encoded.dense_bytes),
                    secure_range=value_range,
                    inner=summed.measurements,
                )
            )
            return tff.templates.MeasuredProcessOutput(
                state=new_state, result=result, measurements=measurements
            )

        return tff.templates.AggregationProcess(init_fn, next_fn)


def secure_quantized_mean(
    codec: codec_lib.UpdateCodec, *, weighted: bool
) -> tff.aggregators.AggregationFactory:
    """`tff.learning.secure_aggregator` with b-bit codes as the secure summands.

    The same adaptive zeroing and L2 clipping (with securely estimated norms)
    and the same secure weight or count sums as TFF's secure mean, with
    `SecureQuantizedSumFactory` over an adaptive shared range
    (`adaptive_secure_range`) summing the values.

    Args:
      codec: a codec with ``bits`` set.
      weighted: weight clients by their number of examples.
    """
    value_sum = SecureQuantizedSumFactory(codec, value_range=adaptive_secure_range())
    if weighted:
        factory = tff.aggregators.MeanFactory(
            value_sum_factory=value_sum,
            # TFF's secure_aggregator: 2**20 - 1 bounds example counts.
            weight_sum_factory=tff.aggregators.SecureSumFactory(
                upper_bound_threshold=float(2**20 - 1), lower_bound_threshold=0.0
            ),
        )
    else:
        factory = tff.aggregators.UnweightedMeanFactory(
            value_sum_factory=value_sum,
            count_sum_factory=tff.aggregators.SecureSumFactory(
                upper_bound_threshold=1, lower_bound_threshold=0
            ),
        )
    secure_count = tff.aggregators.SecureSumFactory(
        upper_bound_threshold=1, lower_bound_threshold=0
    )
    # The clipping and zeroing norms of `tff.learning.secure_aggregator`.
    factory = tff.aggregators.clipping_factory(
        tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
            initial_estimate=1.0,
            target_quantile=0.8,
            learning_rate=0.2,
            secure_estimation=True,
        ),
        factory,
        clipped_count_sum_factory=secure_count,
    )
    return tff.aggregators.zeroing_factory(
        tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
            initial_estimate=10.0,
            target_quantile=0.98,
            learning_rate=math.log(10.0),
            multiplier=2.0,
            increment=1.0,
            secure_estimation=True,
        ),
        factory,
        zeroed_count_sum_factory=secure_count,
    )
