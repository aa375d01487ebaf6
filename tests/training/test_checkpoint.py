"""Checkpoints: saving, keeping the newest, and partial folders."""

import collections
import pathlib

import numpy as np
import tensorflow as tf

from tff_rec import errors
from tff_rec.training import checkpoint


def _state(value: float):
    return collections.OrderedDict(
        weights=[np.full([2, 3], value, np.float32), np.float32(value)],
        count=np.int64(7),
    )


class CheckpointManagerTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.root = pathlib.Path(self.create_tempdir().full_path) / "checkpoints"

    def test_round_trip_of_state_round_rng_and_hook_states(self):
        manager = checkpoint.CheckpointManager(self.root)
        self.assertIsNone(manager.load_latest(_state(0.0)))
        self.assertEqual(manager.latest_round(), 0)
        rng = np.random.default_rng(5)
        rng.random(3)
        manager.save(
            checkpoint.RoundCheckpoint(
                round_num=3,
                state=_state(1.5),
                rng_state=rng.bit_generator.state,
                hook_states={"accountant": {"rounds": 3, "spec": {"delta": 0.01}}},
            )
        )
        restored = manager.load_latest(_state(0.0))
        self.assertEqual(restored.round_num, 3)
        self.assertAllEqual(restored.state["weights"][0], np.full([2, 3], 1.5))
        self.assertEqual(float(restored.state["weights"][1]), 1.5)
        self.assertEqual(int(restored.state["count"]), 7)
        self.assertEqual(restored.hook_states["accountant"]["rounds"], 3)
        other = np.random.default_rng(0)
        other.bit_generator.state = restored.rng_state
        self.assertAllEqual(other.random(4), rng.random(4))

    def test_without_hook_states(self):
        manager = checkpoint.CheckpointManager(self.root)
        rng = np.random.default_rng(0)
        manager.save(
            checkpoint.RoundCheckpoint(1, _state(1.0), rng.bit_generator.state)
        )
        self.assertEqual(manager.load_latest(_state(0.0)).hook_states, {})

    def test_a_checkpoint_of_another_state_is_refused(self):
        manager = checkpoint.CheckpointManager(self.root)
        rng = np.random.default_rng(0)
        manager.save(
            checkpoint.RoundCheckpoint(1, _state(1.0), rng.bit_generator.state)
        )
        other = collections.OrderedDict(weights=[np.zeros([4], np.float32)])
        with self.assertRaisesRegex(errors.UserInputError, "--fresh"):
            manager.load_latest(other)

    def test_keeps_the_newest_and_saves_every_n_rounds(self):
        manager = checkpoint.CheckpointManager(self.root, every=2, keep_total=2)
        rng_state = np.random.default_rng(0).bit_generator.state
        for round_num in (2, 4, 6):
            manager.save(checkpoint.RoundCheckpoint(round_num, _state(1.0), rng_state))
        self.assertEqual(manager.rounds(), [4, 6])
        self.assertEqual(manager.latest_round(), 6)
        self.assertEqual(
            [manager.should_save(r) for r in range(1, 6)],
            [False, True, False, True, False],
        )
        self.assertTrue(manager.should_save(5, last=True))

    def test_partial_folders_are_ignored_and_removed(self):
        manager = checkpoint.CheckpointManager(self.root)
        rng_state = np.random.default_rng(0).bit_generator.state
        manager.save(checkpoint.RoundCheckpoint(2, _state(2.0), rng_state))
        # What a kill during the save of round 3 leaves behind.
        partial = self.root / "program_state_3_temp4821"
        (partial / "variables").mkdir(parents=True)
        (partial / "saved_model.pb").write_bytes(b"\x08")
        self.assertEqual(manager.latest_round(), 2)
        self.assertEqual(manager.load_latest(_state(0.0)).round_num, 2)
        self.assertEqual(manager.remove_partial(), [partial])
        self.assertFalse(partial.exists())
        self.assertTrue(manager.path(2).is_dir())

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "every must be >= 1"):
            checkpoint.CheckpointManager(self.root, every=0)
        with self.assertRaisesRegex(ValueError, "keep_total must be >= 1"):
            checkpoint.CheckpointManager(self.root, keep_total=0)


if __name__ == "__main__":
    tf.test.main()
