"""Quantized broadcast of the global model: a `DistributionProcess`.

The server encodes the model weights once per round, deterministic
``bits``-bit quantization of each float tensor with its own scale (nearest
rounding: every client receives the same weights, each within half a
quantization step, ``scale / 2``, of the server's); tensors of one element
(the global bias) are sent as float32. The encoded payload is what
`tff.federated_broadcast` moves to the clients, and each client decodes it
before training. The server keeps its exact weights: the clients' updates are
differences from the decoded weights they trained from, and the server applies
them to its own.

TFF 0.87 no longer ships encoded-broadcast helpers, so this is a
`tff.learning.templates.DistributionProcess` of our own. FedAvg's builders
(`tff.learning.algorithms.build_weighted_fed_avg` and
`build_unweighted_fed_avg`) and `build_fed_recon` take it as
``model_distributor`` and compose it into the learning process with
`tff.learning.templates.compose_learning_process`, next to their client work,
aggregator and finalizer; `tff_rec.algorithms` passes it through.

Measurements: ``bytes_down`` (the payload each client received, counted on
the client from its tensors, summed over clients) and ``dense_bytes_down``
(the same weights as float32). With ``bits=None`` the weights are broadcast as
they are and only counted.
"""

from __future__ import annotations

import collections
import dataclasses

import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.compression import byte_counts
from tff_rec.compression import codec as codec_lib
from tff_rec.compression import quantization


@dataclasses.dataclass(frozen=True)
class BroadcastFactory:
    """Builds the model distributor once the model weights' type is known.

    Attributes:
      bits: quantize float tensors to this many bits (2..16); None broadcasts
        float32 and only counts bytes.
    """

    bits: int | None = None

    def __post_init__(self):
        if self.bits is not None:
            quantization.check_bits(self.bits, "broadcast_quantize_bits")

    def create(
        self, model_weights_type: tff.Type
    ) -> tff.learning.templates.DistributionProcess:
        return build_broadcast_process(model_weights_type, bits=self.bits)


def build_broadcast_process(
    model_weights_type: tff.Type, *, bits: int | None = None
) -> tff.learning.templates.DistributionProcess:
    """A distributor that broadcasts `model_weights_type` values, quantized.

    Args:
      model_weights_type: the unplaced type of the server's model weights.
      bits: bits per weight of the float tensors with more than one element;
        None sends float32.

    Returns:
      A `DistributionProcess` with empty state whose measurements are
      ``bytes_down`` and ``dense_bytes_down`` (int64, summed over clients).
    """
    if bits is not None:
        quantization.check_bits(bits, "broadcast_quantize_bits")
    specs = tf.nest.flatten(tff.types.type_to_tf_tensor_specs(model_weights_type))
    codec = codec_lib.UpdateCodec(bits=bits, stochastic=False)

    @tff.tensorflow.computation(model_weights_type)
    def encode(weights):
        return codec.encode(tf.nest.flatten(weights), specs)

    payload_type = encode.type_signature.result

    @tff.tensorflow.computation(payload_type)
    def decode(payload):
        flat = codec.decode(payload, specs)
        weights = tf.nest.pack_sequence_as(
            tff.types.type_to_tf_tensor_specs(model_weights_type), flat
        )
        return collections.OrderedDict(
            weights=weights,
            bytes=byte_counts.payload_bytes(payload),
            dense_bytes=byte_counts.dense_bytes(flat),
        )

    @tff.federated_computation()
    def init_fn():
        return tff.federated_value((), tff.SERVER)

    @tff.federated_computation(
        init_fn.type_signature.result,
        tff.FederatedType(model_weights_type, tff.SERVER),
    )
    def next_fn(state, weights):
        payload = tff.federated_broadcast(tff.federated_map(encode, weights))
        received = tff.federated_map(decode, payload)
        measurements = tff.federated_zip(
            collections.OrderedDict(
                bytes_down=tff.federated_sum(received.bytes),
                dense_bytes_down=tff.federated_sum(received.dense_bytes),
            )
        )
        return tff.templates.MeasuredProcessOutput(
            state=state, result=received.weights, measurements=measurements
        )

    return tff.learning.templates.DistributionProcess(init_fn, next_fn)
