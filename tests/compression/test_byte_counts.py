"""Tests of byte counting and of the byte metrics of a round."""

import collections

import numpy as np
import tensorflow as tf

from tff_rec.compression import byte_counts


class PayloadBytesTest(tf.test.TestCase):
    def test_counts_elements_times_dtype_size(self):
        payload = collections.OrderedDict(
            codes=tf.zeros([7], tf.uint8),
            rows=tf.zeros([3], tf.uint16),
            scale=tf.constant(1.0),
            values=tf.zeros([2, 5], tf.float32),
        )
        self.assertEqual(int(byte_counts.payload_bytes(payload)), 7 + 6 + 4 + 40)
        self.assertEqual(int(byte_counts.payload_bytes({})), 0)

    def test_dense_bytes_are_float32(self):
        tensors = [tf.zeros([3, 2], tf.float64), tf.zeros([], tf.float32)]
        self.assertEqual(int(byte_counts.dense_bytes(tensors)), 4 * 7)


class ByteMetricsTest(tf.test.TestCase):
    def test_picks_distributor_and_aggregator_counts(self):
        metrics = collections.OrderedDict(
            distributor=collections.OrderedDict(
                bytes_down=np.int64(70), dense_bytes_down=np.int64(200)
            ),
            client_work=collections.OrderedDict(
                train=collections.OrderedDict(loss=1.0)
            ),
            aggregator=collections.OrderedDict(
                bytes_up=np.int64(30),
                dense_bytes_up=np.int64(120),
                inner=collections.OrderedDict(
                    dp=collections.OrderedDict(bytes_up=np.int64(999))
                ),
            ),
        )
        self.assertEqual(
            byte_counts.byte_metrics(metrics),
            {
                "bytes_up": 30.0,
                "bytes_down": 70.0,
                "dense_bytes_up": 120.0,
                "dense_bytes_down": 200.0,
            },
        )

    def test_nothing_reported(self):
        self.assertEqual(
            byte_counts.byte_metrics({"aggregator": {"mean_value": ()}}), {}
        )

    def test_summarize_totals_and_means(self):
        rows = [
            {"bytes_up": 10.0, "bytes_down": 4.0},
            {"bytes_up": 30.0, "bytes_down": ""},  # e.g. a row read back from CSV
            {"aborted": 1},
        ]
        self.assertEqual(
            byte_counts.summarize(rows),
            {
                "bytes_up_total": 40.0,
                "bytes_up_per_round": 20.0,
                "bytes_down_total": 4.0,
                "bytes_down_per_round": 4.0,
            },
        )


if __name__ == "__main__":
    tf.test.main()
