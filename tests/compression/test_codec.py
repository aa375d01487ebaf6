"""Tests of the client message: payload contents, byte counts, decoding."""

import collections

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.compression import byte_counts
from tff_rec.compression import codec as codec_lib
from tff_rec.compression import sparsify
from tff_rec.errors import UserInputError
from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import losses

# Two users, three items, embedding dimension 2.
NUM_USERS, NUM_ITEMS, DIM = 2, 3, 2


def _update(rated_items=(0, 2), user=0):
    """One SGD step's update of user `user` who rated `rated_items`."""
    model = mf.build_matrix_factorization(
        NUM_USERS, NUM_ITEMS, embedding_dim=DIM, global_bias=3.0, seed=1
    )
    keras_model = model.keras_model
    items = np.array(rated_items, np.int32)
    x = collections.OrderedDict(user=np.full(len(items), user, np.int32), item=items)
    y = np.full((len(items), 1), 4.0, np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(losses.rating_loss()(y, keras_model(x)))
    variables = keras_model.trainable_variables
    grads = tape.gradient(loss, variables)
    update = [-0.1 * tf.convert_to_tensor(g) for g in grads]
    names = [v.name.split("/")[0] for v in variables]
    return update, names


def _specs(tensors):
    return [tf.TensorSpec(t.shape, t.dtype) for t in tensors]


class PayloadTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.update, self.names = _update()
        self.specs = _specs(self.update)

    def _item_rows_key(self, payload):
        # The item tables (3 rows) form the group after the user tables (2).
        groups = {
            int(self.specs[g[0]].shape[0]): j
            for j, g in enumerate(sparsify.row_groups(self.specs))
        }
        return f"rows{groups[NUM_ITEMS]}"

    @parameterized.named_parameters(
        # 2x2 + 3x2 + 2x1 + 3x1 = 15 float32 = 60 bytes.
        ("dense", codec_lib.UpdateCodec(), 60),
        # 15 one-byte codes + 4 float32 scales.
        ("q8", codec_lib.UpdateCodec(bits=8), 15 + 16),
        # 4-bit: ceil(4*4/8)=2, ceil(6*4/8)=3, 1, 2 bytes + 4 scales.
        ("q4", codec_lib.UpdateCodec(bits=4), 8 + 16),
        # users: 1 uint16 index + 2 + 1 floats; items: 2 indices + 4 + 2 floats.
        ("sparse", codec_lib.UpdateCodec(sparse_rows=True), 2 + 12 + 4 + 24),
        (
            "sparse_q8",
            codec_lib.UpdateCodec(sparse_rows=True, bits=8),
            2 + 3 + 4 + 6 + 16,
        ),
        # top 50%: 2, 3, 1, 2 coordinates, each a uint16 index + a float32.
        ("topk", codec_lib.UpdateCodec(topk_fraction=0.5), 8 * 6),
    )
    def test_bytes_equal_hand_count(self, codec, expected):
        payload = codec.encode(self.update, self.specs)
        self.assertEqual(int(byte_counts.payload_bytes(payload)), expected)
        self.assertEqual(int(byte_counts.dense_bytes(self.update)), 60)

    @parameterized.named_parameters(
        ("dense", codec_lib.UpdateCodec(), 0.0),
        ("sparse", codec_lib.UpdateCodec(sparse_rows=True), 0.0),
        ("sparse_q8", codec_lib.UpdateCodec(sparse_rows=True, bits=8), 1.0),
        ("q4", codec_lib.UpdateCodec(bits=4, stochastic=False), 0.5),
        ("q2", codec_lib.UpdateCodec(bits=2), 1.0),
    )
    def test_decode_within_quantization_bound(self, codec, steps):
        payload = codec.encode(self.update, self.specs)
        decoded = codec.decode(payload, self.specs)
        for i, (original, restored) in enumerate(
            zip(self.update, decoded, strict=True)
        ):
            scale = float(payload.get(f"t{i}/scale", 0.0))
            self.assertEqual(restored.shape, original.shape)
            self.assertAllClose(restored, original, atol=steps * scale + 1e-7)

    def test_sparse_rows_reveal_the_rated_items(self):
        # Without secure aggregation the server reads the indices of every
        # message: they are exactly the items the user rated.
        for rated in ((0, 2), (1,), (0, 1, 2)):
            update, _ = _update(rated_items=rated, user=1)
            payload = codec_lib.UpdateCodec(sparse_rows=True).encode(update, self.specs)
            self.assertAllEqual(payload[self._item_rows_key(payload)], sorted(rated))
            self.assertAllEqual(payload["rows0"], [1])  # the user's own row

    def test_decoys_hide_the_rated_items_among_zero_rows(self):
        update, _ = _update(rated_items=(1,), user=0)
        codec = codec_lib.UpdateCodec(sparse_rows=True, decoy_rows=1)
        payload = codec.encode(update, self.specs)
        rows = payload[self._item_rows_key(payload)].numpy()
        self.assertLen(rows, 2)
        self.assertIn(1, rows)
        decoded = codec.decode(payload, self.specs)
        for restored, original in zip(decoded, update, strict=True):
            self.assertAllClose(restored, original)

    def test_top_k_keeps_the_largest_coordinates(self):
        codec = codec_lib.UpdateCodec(topk_fraction=0.5)
        decoded = codec.decode(codec.encode(self.update, self.specs), self.specs)
        for restored, original in zip(decoded, self.update, strict=True):
            original = np.asarray(original).ravel()
            restored = np.asarray(restored).ravel()
            kept = restored != 0
            self.assertAllClose(restored[kept], original[kept])
            if kept.any() and (~kept).any():
                self.assertGreaterEqual(
                    np.abs(original[kept]).min(), np.abs(original[~kept]).max()
                )

    def test_shared_scale_payload_has_no_scales_and_decodes_to_codes(self):
        codec = codec_lib.UpdateCodec(sparse_rows=True, bits=8)
        payload = codec.encode(self.update, self.specs, shared_scale=0.01)
        self.assertFalse([k for k in payload if k.endswith("/scale")])
        codes = codec.decode_codes(payload, self.specs)
        decoded = codec.decode(payload, self.specs, shared_scale=0.01)
        for c, d in zip(codes, decoded, strict=True):
            self.assertEqual(c.dtype, tf.int32)
            self.assertAllClose(tf.cast(c, tf.float32) * 0.01, d)

    @parameterized.parameters(1, 2)
    def test_norm_bound_is_never_exceeded(self, order):
        # A record clipped to norm C must decode to norm <= C (DP sensitivity),
        # even where stochastic rounding would round most coordinates up.
        tf.random.set_seed(0)
        x = np.full(64, 0.49, np.float32)  # just under half a step of 1.0
        clip = float(np.linalg.norm(x, ord=order))
        codec = codec_lib.UpdateCodec(bits=4)
        bound = codec_lib.NormBound(clip, order=order)
        for _ in range(20):
            payload = codec.encode([x], _specs([x]), shared_scale=1.0, norm_bound=bound)
            (decoded,) = codec.decode(payload, _specs([x]), shared_scale=1.0)
            self.assertLessEqual(
                np.linalg.norm(decoded.numpy(), ord=order), clip * (1 + 1e-6)
            )


class ValidationTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("bits_high", dict(bits=17), "quantize_bits must be in 2..16, got 17"),
        ("bits_low", dict(bits=1), "quantize_bits must be in 2..16, got 1"),
        ("topk_zero", dict(topk_fraction=0.0), r"topk_fraction must be in \(0, 1\]"),
        ("topk_big", dict(topk_fraction=1.5), r"topk_fraction must be in \(0, 1\]"),
        (
            "topk_and_rows",
            dict(topk_fraction=0.1, sparse_rows=True),
            "alternatives",
        ),
        ("negative_decoys", dict(sparse_rows=True, decoy_rows=-1), "decoy_rows"),
        ("decoys_dense", dict(decoy_rows=3), "only applies to sparse item updates"),
    )
    def test_rejects(self, kwargs, message):
        with self.assertRaisesRegex(UserInputError, message):
            codec_lib.UpdateCodec(**kwargs)

    def test_identity(self):
        self.assertTrue(codec_lib.UpdateCodec().is_identity)
        self.assertFalse(codec_lib.UpdateCodec(bits=8).is_identity)


if __name__ == "__main__":
    tf.test.main()
