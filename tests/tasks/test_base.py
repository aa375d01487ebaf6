"""Tests of what every task shares: `Trained`, `prefixed`, columns, the interface."""

import contextlib
import dataclasses
import io

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.compression import byte_counts
from tff_rec.tasks import base
from tff_rec.tasks import rating

# One implementation of each method a task must provide.
_IMPLEMENTATIONS = {
    "model_fn": lambda self, num_users: None,
    "loss_fn": lambda self: None,
    "metrics_fn": lambda self: [],
    "metric_names": property(lambda self: ("test_rmse",)),
    "round_fields": property(lambda self: base.ROUND_FIELDS),
    "client_inputs": lambda self, process, *, attacked: (process, None),
    "evaluate": lambda self, process, state: {},
    "finish": lambda self, process, state, final: base.Trained({}),
    "train_centralized": lambda self: base.Trained({}),
    "train_local_only": lambda self: base.Trained({}),
    "baselines": lambda self: {},
    "format_results": staticmethod(lambda results: ""),
}


class TrainedTest(tf.test.TestCase):
    def test_fields(self):
        weights = {"item_embedding": np.zeros([3, 2], np.float32)}
        trained = base.Trained({"test_rmse": 0.9}, weights)
        self.assertEqual(trained.results, {"test_rmse": 0.9})
        self.assertIs(trained.weights, weights)

    def test_no_weights_by_default(self):
        self.assertIsNone(base.Trained({"local_only_test_rmse": 1.1}).weights)

    def test_frozen(self):
        trained = base.Trained({})
        with self.assertRaises(dataclasses.FrozenInstanceError):
            trained.weights = {}


class PrefixedTest(tf.test.TestCase):
    def test_prefixes_every_key_in_order(self):
        prefixed = base.prefixed("centralized", {"test_rmse": 0.9, "test_mae": 0.7})
        self.assertEqual(
            prefixed, {"centralized_test_rmse": 0.9, "centralized_test_mae": 0.7}
        )
        self.assertEqual(
            list(prefixed), ["centralized_test_rmse", "centralized_test_mae"]
        )

    def test_empty(self):
        self.assertEqual(base.prefixed("global", {}), {})


class RoundFieldsTest(tf.test.TestCase):
    def test_train_loss_comes_first(self):
        # Tasks insert their own columns after it (`ROUND_FIELDS[1:]`).
        self.assertEqual(base.ROUND_FIELDS[0], "train_loss")
        self.assertEqual(
            rating.ROUND_FIELDS[:5],
            ("train_loss", "train_rmse", "train_mae", "test_rmse", "test_mae"),
        )
        self.assertEqual(rating.ROUND_FIELDS[5:], base.ROUND_FIELDS[1:])

    def test_no_column_twice(self):
        self.assertLen(set(base.ROUND_FIELDS), len(base.ROUND_FIELDS))

    def test_has_the_byte_counts_and_round_bookkeeping(self):
        self.assertContainsSubset(byte_counts.BYTE_KEYS, base.ROUND_FIELDS)
        self.assertContainsSubset(
            ["clients", "round_seconds", "epsilon", "delta", "clip"],
            base.ROUND_FIELDS,
        )
        self.assertContainsSubset(
            ["clients_dropped", "aborted", "clients_malicious"], base.ROUND_FIELDS
        )


class TaskTest(tf.test.TestCase, parameterized.TestCase):
    def test_the_abstract_methods(self):
        self.assertEqual(base.Task.__abstractmethods__, frozenset(_IMPLEMENTATIONS))

    def test_a_complete_task_keeps_its_config_and_data(self):
        complete = type("Complete", (base.Task,), dict(_IMPLEMENTATIONS))
        config, data = object(), object()
        task = complete(config, data)
        self.assertIs(task.config, config)
        self.assertIs(task.data, data)
        self.assertEqual(task.round_fields, base.ROUND_FIELDS)

    def test_task_itself_is_abstract(self):
        with self.assertRaisesRegex(TypeError, "abstract"):
            base.Task(object(), object())

    @parameterized.parameters(sorted(_IMPLEMENTATIONS))
    def test_a_task_missing_a_method_cannot_be_made(self, missing):
        partial = type(
            "Partial",
            (base.Task,),
            {k: v for k, v in _IMPLEMENTATIONS.items() if k != missing},
        )
        with self.assertRaisesRegex(TypeError, missing):
            partial(object(), object())


class AnnounceTest(tf.test.TestCase):
    def test_writes_a_line_to_stderr_only(self):
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            base.announce("Round 3 of 10")
        self.assertEqual(stderr.getvalue(), "Round 3 of 10\n")
        self.assertEqual(stdout.getvalue(), "")


if __name__ == "__main__":
    tf.test.main()
