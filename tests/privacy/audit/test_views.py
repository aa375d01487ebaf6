"""Tests of the server's view of uploads: encoding, DP clip, sums, sizes."""

from __future__ import annotations

import math

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.privacy.audit import threat_model
from tff_rec.privacy.audit import uploads as uploads_lib
from tff_rec.privacy.audit import views

_NUM_ITEMS = 200
_DIM = 4
_NAMES = ("item_embedding/embeddings:0", "item_bias/embeddings:0", "global_bias:0")
# The rows each client's update touches.
_RATED = (
    np.array([2, 5, 7, 11, 150]),
    np.array([0, 5, 40]),
    np.array([1, 2, 3, 4, 5, 6, 199]),
)
# Dense float32 bytes of an update: both item tables and the global bias.
_DENSE_BYTES = 4 * (_NUM_ITEMS * _DIM + _NUM_ITEMS + 1)


def _sparse_bytes(rows: int) -> int:
    """A sparse-rows message: uint16 indices, float32 rows of both tables,
    and the float32 global bias."""
    return 2 * rows + 4 * rows * _DIM + 4 * rows + 4


def _uploads(scale: float = 1.0, *, dense: bool = False) -> uploads_lib.Uploads:
    """Three clients' updates, non-zero only at their `_RATED` rows (every
    value of magnitude 0.5 to 1.5 times `scale`), or everywhere if `dense`."""
    rng = np.random.default_rng(0)

    def values(shape):
        signs = rng.choice([-1.0, 1.0], size=shape)
        return (scale * signs * rng.uniform(0.5, 1.5, size=shape)).astype(np.float32)

    updates = []
    for rated in _RATED:
        embedding = np.zeros((_NUM_ITEMS, _DIM), np.float32)
        bias = np.zeros((_NUM_ITEMS, 1), np.float32)
        rows = slice(None) if dense else rated
        embedding[rows] = values(embedding[rows].shape)
        bias[rows] = values(bias[rows].shape)
        updates.append([embedding, bias, values((1,))])
    broadcast = [
        rng.normal(size=(_NUM_ITEMS, _DIM)).astype(np.float32),
        rng.normal(size=(_NUM_ITEMS, 1)).astype(np.float32),
        np.array([3.0], np.float32),
    ]
    return uploads_lib.Uploads(
        clients=np.arange(len(_RATED)),
        updates=updates,
        broadcast=broadcast,
        names=_NAMES,
    )


def _touched(message) -> np.ndarray:
    """The item rows non-zero in either item table of a message."""
    nonzero = np.any(message[0] != 0, axis=1) | np.any(message[1] != 0, axis=1)
    return np.flatnonzero(nonzero)


def _l2(tensors) -> float:
    return math.sqrt(
        sum(float(np.sum(np.square(t, dtype=np.float64))) for t in tensors)
    )


def _l1(tensors) -> float:
    return sum(float(np.sum(np.abs(t), dtype=np.float64)) for t in tensors)


def _view(name: str, uploads=None, seed: int = 0) -> views.ServerView:
    return views.server_view(
        uploads or _uploads(), threat_model.configuration(name), seed=seed
    )


# Per configuration: its codec's (bits, topk_fraction, sparse_rows,
# decoy_rows) and its DP clip (bound, norm order).
_CODECS = {
    "mean": (None, None, False, 0),
    "quantized_8bit": (8, None, False, 0),
    "topk_10pct": (None, 0.1, False, 0),
    "sparse_rows": (None, None, True, 0),
    "sparse_rows_decoys10_secure": (None, None, True, 10),
    "sparse_rows_decoys100_secure": (None, None, True, 100),
    "sparse_rows_decoys500_secure": (None, None, True, 500),
    "secure_aggregation": (None, None, False, 0),
    "dp_gaussian_fixed": (None, None, False, 0),
    "dp_gaussian_adaptive": (None, None, False, 0),
    "dp_laplace": (None, None, False, 0),
    "dp_gaussian_fixed_secure": (None, None, False, 0),
}
_CLIPS = dict.fromkeys(_CODECS) | {
    "dp_gaussian_fixed": (aggregator_factory.DEFAULT_CLIP, 2),
    "dp_gaussian_adaptive": (aggregator_factory.DEFAULT_INITIAL_CLIP, 2),
    "dp_laplace": (aggregator_factory.DEFAULT_CLIP, 1),
    "dp_gaussian_fixed_secure": (aggregator_factory.DEFAULT_CLIP, 2),
}


class CodecAndClipTest(parameterized.TestCase):
    def test_tables_cover_every_configuration(self):
        self.assertEqual(set(_CODECS), {c.name for c in threat_model.CONFIGURATIONS})

    @parameterized.parameters(*_CODECS.items())
    def test_codec_of(self, name, expected):
        codec = views.codec_of(threat_model.configuration(name))
        self.assertEqual(
            (codec.bits, codec.topk_fraction, codec.sparse_rows, codec.decoy_rows),
            expected,
        )

    @parameterized.parameters(*_CLIPS.items())
    def test_dp_clip(self, name, expected):
        self.assertEqual(views.dp_clip(threat_model.configuration(name)), expected)

    @parameterized.named_parameters(
        ("fixed", {"aggregator": "dp_gaussian_fixed", "clip": 0.5}, (0.5, 2)),
        ("laplace", {"aggregator": "dp_laplace", "clip": 2.0}, (2.0, 1)),
        # The adaptive clip starts from its initial value, whatever `clip`.
        (
            "adaptive",
            {"aggregator": "dp_gaussian_adaptive", "initial_clip": 0.3, "clip": 9},
            (0.3, 2),
        ),
    )
    def test_dp_clip_from_settings(self, settings, expected):
        config = threat_model.Configuration("custom", "custom", settings)
        self.assertEqual(views.dp_clip(config), expected)

    def test_clip_update_hand_computed(self):
        update = [np.array([3.0, 0.0]), np.array([[4.0]])]
        l2 = views.clip_update(update, 1.0, 2)
        np.testing.assert_allclose(l2[0], [0.6, 0.0])
        np.testing.assert_allclose(l2[1], [[0.8]])
        l1 = views.clip_update(update, 1.0, 1)
        np.testing.assert_allclose(l1[0], [3 / 7, 0.0])
        np.testing.assert_allclose(l1[1], [[4 / 7]])


class ServerViewTest(parameterized.TestCase):
    @parameterized.parameters("mean", "secure_aggregation")
    def test_dense_message_is_the_update(self, name):
        uploads = _uploads()
        view = _view(name, uploads)
        self.assertIsNone(view.item_rows)
        for message, update in zip(view.messages, uploads.updates, strict=True):
            for got, expected in zip(message, update, strict=True):
                np.testing.assert_array_equal(got, expected)
        self.assertEqual(view.message_bytes, [_DENSE_BYTES] * len(_RATED))

    def test_sparse_rows_carry_the_rated_rows(self):
        uploads = _uploads()
        view = _view("sparse_rows", uploads)
        for k, rated in enumerate(_RATED):
            np.testing.assert_array_equal(view.item_rows[k], rated)
            for got, expected in zip(view.messages[k], uploads.updates[k], strict=True):
                np.testing.assert_array_equal(got, expected)
        self.assertEqual(view.message_bytes, [_sparse_bytes(len(r)) for r in _RATED])
        self.assertTrue(all(b < _DENSE_BYTES for b in view.message_bytes))

    @parameterized.parameters(*threat_model.DEFAULT_DECOYS)
    def test_decoys(self, decoys):
        uploads = _uploads()
        view = _view(f"sparse_rows_decoys{decoys}_secure", uploads)
        for k, rated in enumerate(_RATED):
            rows = view.item_rows[k]
            # 500 decoys exceed the untouched rows: all of them are sent.
            expected = min(len(rated) + decoys, _NUM_ITEMS)
            self.assertLen(rows, expected)
            self.assertTrue(np.all(np.diff(rows) > 0), "sorted and unique")
            self.assertTrue(np.all((rows >= 0) & (rows < _NUM_ITEMS)))
            self.assertEqual(np.intersect1d(rows, rated).tolist(), rated.tolist())
            # The decoys are sent as zeros: the message is still the update.
            np.testing.assert_array_equal(_touched(view.messages[k]), rated)
            for got, want in zip(view.messages[k], uploads.updates[k], strict=True):
                np.testing.assert_array_equal(got, want)
            self.assertEqual(view.message_bytes[k], _sparse_bytes(expected))

    def test_decoys_follow_the_seed(self):
        name = "sparse_rows_decoys100_secure"
        first = _view(name, seed=1).item_rows
        again = _view(name, seed=1).item_rows
        other = _view(name, seed=2).item_rows
        for a, b, c in zip(first, again, other, strict=True):
            np.testing.assert_array_equal(a, b)
            self.assertFalse(np.array_equal(a, c))
        # Each client draws its own decoys.
        self.assertFalse(
            np.array_equal(
                np.setdiff1d(first[0], _RATED[0]), np.setdiff1d(first[1], _RATED[1])
            )
        )

    def test_quantized_8bit(self):
        uploads = _uploads()
        view = _view("quantized_8bit", uploads)
        for message, update, rated in zip(
            view.messages, uploads.updates, _RATED, strict=True
        ):
            for got, expected in zip(message[:2], update[:2], strict=True):
                step = np.max(np.abs(expected)) / 127
                self.assertLessEqual(np.max(np.abs(got - expected)), step * (1 + 1e-6))
                # Quantized, not sent as it is.
                self.assertFalse(np.array_equal(got, expected))
            np.testing.assert_array_equal(_touched(message), rated)
            # A single value is sent as it is.
            np.testing.assert_array_equal(message[2], update[2])
        # 8-bit codes of each table plus its float32 scale, and the bias.
        self.assertEqual(
            view.message_bytes,
            [_NUM_ITEMS * _DIM + 4 + _NUM_ITEMS + 4 + 4] * len(_RATED),
        )

    def test_topk_keeps_a_tenth_of_each_tensor(self):
        uploads = _uploads(dense=True)
        view = _view("topk_10pct", uploads)
        for message, update in zip(view.messages, uploads.updates, strict=True):
            for got, expected in zip(message, update, strict=True):
                kept = math.ceil(0.1 * expected.size)
                self.assertEqual(np.count_nonzero(got), kept)
                # The kept coordinates are the largest in magnitude, unchanged.
                largest = np.argsort(-np.abs(expected).ravel())[:kept]
                self.assertEqual(
                    set(np.flatnonzero(got).tolist()), set(largest.tolist())
                )
                np.testing.assert_array_equal(
                    got.ravel()[largest], expected.ravel()[largest]
                )

    @parameterized.named_parameters(
        ("fixed", "dp_gaussian_fixed", aggregator_factory.DEFAULT_CLIP, _l2),
        (
            "adaptive",
            "dp_gaussian_adaptive",
            aggregator_factory.DEFAULT_INITIAL_CLIP,
            _l2,
        ),
        ("laplace", "dp_laplace", aggregator_factory.DEFAULT_CLIP, _l1),
        ("secure", "dp_gaussian_fixed_secure", aggregator_factory.DEFAULT_CLIP, _l2),
    )
    def test_dp_clips_large_updates(self, name, clip, norm):
        uploads = _uploads()
        view = _view(name, uploads)
        for message, update in zip(view.messages, uploads.updates, strict=True):
            self.assertGreater(norm(update), clip)
            self.assertLessEqual(norm(message), clip * (1 + 1e-6))
            self.assertAlmostEqual(norm(message), clip, delta=1e-5 * clip)
            # Scaled, not reshaped: the same direction.
            scale = norm(message) / norm(update)
            for got, expected in zip(message, update, strict=True):
                np.testing.assert_allclose(got, scale * expected, rtol=1e-5)

    @parameterized.parameters("dp_gaussian_fixed", "dp_gaussian_adaptive", "dp_laplace")
    def test_dp_keeps_small_updates(self, name):
        # Every update's L1 norm (hence L2 norm) is at most 0.05, below every
        # default clip.
        uploads = _uploads(scale=0.05 / 60)
        for update in uploads.updates:
            self.assertLess(_l1(update), 0.05)
        view = _view(name, uploads)
        for message, update in zip(view.messages, uploads.updates, strict=True):
            for got, expected in zip(message, update, strict=True):
                np.testing.assert_array_equal(got, expected)

    def test_cohort_sum(self):
        uploads = _uploads()
        view = _view("secure_aggregation", uploads)
        cohort = view.cohort_sum(np.array([0, 2]))
        self.assertLen(cohort, 3)
        for k, got in enumerate(cohort):
            np.testing.assert_array_equal(
                got, uploads.updates[0][k] + uploads.updates[2][k]
            )
        whole = view.cohort_sum(np.arange(3))
        for k, got in enumerate(whole):
            np.testing.assert_allclose(
                got, np.sum([u[k] for u in uploads.updates], axis=0), rtol=1e-6
            )


if __name__ == "__main__":
    absltest.main()
