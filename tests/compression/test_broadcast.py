"""Tests of the quantized model broadcast and its composition into processes."""

import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.compression import broadcast
from tff_rec.errors import UserInputError
from tff_rec.models import matrix_factorization as mf

# Two users, three items, embedding dimension 2: trainable 2x2, 3x2, 2x1,
# 3x1 (15 floats) and the global bias (1 float): 64 bytes as float32.
NUM_USERS, NUM_ITEMS, DIM = 2, 3, 2


def _model_fn(num_users=NUM_USERS):
    return lambda: mf.build_matrix_factorization(
        num_users, NUM_ITEMS, embedding_dim=DIM, global_bias=3.0, seed=0
    )


def _weights_type():
    return tff.learning.models.weights_type_from_model(
        fed_avg.tff_model_fn(_model_fn())
    )


def _server_weights(seed=0):
    rng = np.random.default_rng(seed)
    specs = tff.types.type_to_tf_tensor_specs(_weights_type())
    return tf.nest.map_structure(
        lambda s: rng.normal(size=s.shape).astype(np.float32), specs
    )


def _broadcast_to(process, weights, num_clients):
    """Runs `process.next` for `num_clients` clients; returns their weights."""

    @tff.federated_computation(
        process.state_type,
        tff.FederatedType(_weights_type(), tff.SERVER),
        tff.FederatedType(np.int32, tff.CLIENTS),
    )
    def run(state, server_weights, client_ids):
        del client_ids  # Only sets the number of clients.
        output = process.next(state, server_weights)
        return output.result, output.measurements

    return run(process.initialize(), weights, list(range(num_clients)))


def _flat(weights):
    return [np.asarray(w) for w in tf.nest.flatten(weights)]


class BroadcastTest(tf.test.TestCase, parameterized.TestCase):
    def test_type_signature(self):
        process = broadcast.build_broadcast_process(_weights_type(), bits=8)
        self.assertIsInstance(process, tff.learning.templates.DistributionProcess)
        signature = process.next.type_signature
        self.assertEqual(
            signature.result.result, tff.FederatedType(_weights_type(), tff.CLIENTS)
        )
        measurements = signature.result.measurements.member
        self.assertEqual(measurements.bytes_down, tff.TensorType(np.int64))
        self.assertEqual(measurements.dense_bytes_down, tff.TensorType(np.int64))
        # The encoded payload, not the float weights, crosses to the clients.
        block = process.next.to_building_block().result
        broadcasts = [
            value.type_signature
            for _, value in block.locals
            if str(value).startswith("federated_broadcast(")
        ]
        self.assertLen(broadcasts, 1)
        sent = broadcasts[0]
        self.assertEqual(sent.placement, tff.CLIENTS)
        self.assertIn("uint8", str(sent))

    @parameterized.named_parameters(
        # 15 one-byte codes + 4 float32 scales + the float32 global bias.
        ("q8", 8, 15 + 16 + 4),
        # 4-bit: ceil(4/2)=2, 3, 1, 2 bytes + 4 scales + bias.
        ("q4", 4, 8 + 16 + 4),
        ("float32", None, 64),
    )
    def test_clients_get_the_server_weights_within_half_a_step(self, bits, per_client):
        process = broadcast.build_broadcast_process(_weights_type(), bits=bits)
        server = _server_weights()
        received, measurements = _broadcast_to(process, server, num_clients=3)
        self.assertLen(received, 3)
        for client in received:
            for mine, theirs in zip(_flat(client), _flat(server), strict=True):
                self.assertEqual(mine.shape, theirs.shape)
                if bits is None or theirs.size == 1:
                    self.assertAllEqual(mine, theirs)
                else:
                    step = np.max(np.abs(theirs)) / (2 ** (bits - 1) - 1)
                    self.assertLessEqual(np.max(np.abs(mine - theirs)), step / 2 + 1e-6)
        # Every client receives the same weights.
        for other in received[1:]:
            for a, b in zip(_flat(received[0]), _flat(other), strict=True):
                self.assertAllEqual(a, b)
        self.assertEqual(measurements["bytes_down"], 3 * per_client)
        self.assertEqual(measurements["dense_bytes_down"], 3 * 64)

    def test_factory_validates_bits(self):
        with self.assertRaisesRegex(
            UserInputError, "broadcast_quantize_bits must be in 2..16, got 20"
        ):
            broadcast.BroadcastFactory(bits=20)


def _client_data(user, items):
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(
            x=collections.OrderedDict(
                user=np.full(len(items), user, np.int32),
                item=np.array(items, np.int32),
            ),
            y=np.full((len(items), 1), 4.0, np.float32),
        )
    ).batch(2)


class ProcessCompositionTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("weighted", fed_avg.build_weighted_fed_avg, True),
        ("unweighted", fed_avg.build_unweighted_fed_avg, False),
    )
    def test_fed_avg_reports_bytes_both_ways(self, builder, weighted):
        process = builder(
            _model_fn(),
            model_distributor=broadcast.BroadcastFactory(bits=8),
            model_aggregator=aggregator_factory.configure_aggregator(
                weighted=weighted, quantize_bits=8, sparse_rows=True
            ),
        )
        state = process.initialize()
        output = process.next(state, [_client_data(0, [0, 2]), _client_data(1, [1])])
        down = output.metrics["distributor"]
        self.assertEqual(down["bytes_down"], 2 * (15 + 16 + 4))
        self.assertEqual(down["dense_bytes_down"], 2 * 64)
        up = output.metrics["aggregator"]
        # Client 0: user rows 1 index + 2 + 1 codes, items 2 indices + 4 + 2
        # codes, 4 scales; client 1: 1 + 2 + 1, 1 + 2 + 1 codes, 4 scales.
        self.assertEqual(up["bytes_up"], (2 + 3 + 4 + 6 + 16) + (2 + 3 + 2 + 3 + 16))
        self.assertEqual(up["dense_bytes_up"], 2 * 60)

    def test_fed_recon_broadcasts_only_the_item_side(self):
        process = fed_recon.build_fed_recon(
            _model_fn(num_users=1),
            model_distributor=broadcast.BroadcastFactory(bits=4),
        )
        weights_type = fed_recon.global_weights_type(_model_fn(num_users=1))
        self.assertEqual(
            sorted(tuple(t.shape) for t in weights_type.trainable), [(3, 1), (3, 2)]
        )
        output = process.next(
            process.initialize(), [_client_data(0, [0, 1]), _client_data(0, [2])]
        )
        # Item tables 3x2 and 3x1 at 4 bits: 3 + 2 bytes, 2 scales, the bias.
        self.assertEqual(output.metrics["distributor"]["bytes_down"], 2 * (5 + 8 + 4))
        self.assertEqual(output.metrics["distributor"]["dense_bytes_down"], 2 * 40)

    def test_distribution_process_is_passed_through(self):
        process = broadcast.build_broadcast_process(_weights_type(), bits=None)
        self.assertIs(fed_avg.resolve_distributor(process, _weights_type()), process)
        self.assertIsNone(fed_avg.resolve_distributor(None, _weights_type()))


if __name__ == "__main__":
    tf.test.main()
