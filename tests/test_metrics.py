"""Tests of `flatten_metrics`: nested TFF round metrics as flat float keys."""

import collections

import numpy as np
import tensorflow as tf

from tff_rec import metrics


class FlattenMetricsTest(tf.test.TestCase):
    def test_nested_metrics_become_slash_keys_in_order(self):
        round_metrics = collections.OrderedDict(
            distributor=collections.OrderedDict(bytes_down=np.int64(2048)),
            client_work=collections.OrderedDict(
                train=collections.OrderedDict(
                    loss=np.float32(0.5), num_examples=np.int32(12)
                )
            ),
            # TFF's MeanFactory reports empty measurements as ().
            aggregator=collections.OrderedDict(mean_value=(), clip=1.25),
            finalizer=collections.OrderedDict(),
        )
        flat = metrics.flatten_metrics(round_metrics)
        self.assertEqual(
            flat,
            {
                "distributor/bytes_down": 2048.0,
                "client_work/train/loss": 0.5,
                "client_work/train/num_examples": 12.0,
                "aggregator/clip": 1.25,
            },
        )
        self.assertEqual(
            list(flat),
            [
                "distributor/bytes_down",
                "client_work/train/loss",
                "client_work/train/num_examples",
                "aggregator/clip",
            ],
        )
        for value in flat.values():
            self.assertIs(type(value), float)

    def test_non_numeric_and_non_scalar_leaves_are_left_out(self):
        flat = metrics.flatten_metrics(
            {
                "histogram": np.array([1.0, 2.0, 3.0]),
                "name": "mean",
                "finite": np.bool_(True),
                "empty": np.zeros([0]),
                "count": 3,
            }
        )
        self.assertEqual(flat, {"count": 3.0})

    def test_prefix(self):
        flat = metrics.flatten_metrics({"loss": 1, "a": {"b": 2.5}}, prefix="train/")
        self.assertEqual(flat, {"train/loss": 1.0, "train/a/b": 2.5})

    def test_tensors_are_read(self):
        flat = metrics.flatten_metrics({"loss": tf.constant(0.25)})
        self.assertEqual(flat, {"loss": 0.25})


if __name__ == "__main__":
    tf.test.main()
