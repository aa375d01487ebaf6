"""A run's folder: starting over, and refusing to resume with other settings."""

import pathlib

import numpy as np
import tensorflow as tf

from tff_rec import errors
from tff_rec.training import checkpoint
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer
from tff_rec.training import run_folder


class RunFolderTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.out = pathlib.Path(self.create_tempdir().full_path)

    def test_changed_settings_are_named(self):
        config = config_lib.TrainConfig.make(rounds=10)
        metrics_writer.write_json(self.out / "hparams.json", config.as_dict())
        run_folder.check_resumable(config, self.out)
        run_folder.check_resumable(config.replace(checkpoint_every=5), self.out)
        # A moved or renamed folder, and what comes after the rounds.
        run_folder.check_resumable(
            config.replace(root_output_dir="/elsewhere", experiment_name="renamed"),
            self.out,
        )
        implicit = config_lib.TrainConfig.make(task="implicit", rounds=10)
        metrics_writer.write_json(self.out / "hparams.json", implicit.as_dict())
        run_folder.check_resumable(implicit.replace(personalize_steps=50), self.out)
        metrics_writer.write_json(self.out / "hparams.json", config.as_dict())
        with self.assertRaisesRegex(
            errors.UserInputError, r"rounds: 10 -> 20, seed: 0 -> 1.*--fresh"
        ):
            run_folder.check_resumable(config.replace(rounds=20, seed=1), self.out)
        (self.out / "hparams.json").unlink()
        with self.assertRaisesRegex(errors.UserInputError, "no hparams.json"):
            run_folder.check_resumable(config, self.out)

    def test_settings_written_before_the_sections_are_read(self):
        config = config_lib.TrainConfig.make(rounds=10, server_learning_rate=25.0)
        metrics_writer.write_json(self.out / "hparams.json", config.flat())
        run_folder.check_resumable(config, self.out)
        with self.assertRaisesRegex(
            errors.UserInputError, r"server_learning_rate: 25.0 -> None"
        ):
            run_folder.check_resumable(
                config.replace(server_learning_rate=None), self.out
            )

    def test_unreadable_settings(self):
        metrics_writer.write_json(self.out / "hparams.json", {"rounds": 0})
        with self.assertRaisesRegex(errors.UserInputError, "--fresh"):
            run_folder.check_resumable(config_lib.TrainConfig(), self.out)

    def test_fresh_removes_run_outputs_only(self):
        for name in ("metrics.csv", "results.json", "final_weights.npz", "notes.txt"):
            (self.out / name).write_text("x")
        for name in ("tensorboard", "checkpoints/program_state_3", "exports"):
            (self.out / name).mkdir(parents=True)
        run_folder.remove_outputs(self.out)
        self.assertEqual(
            sorted(p.name for p in self.out.iterdir()), ["exports", "notes.txt"]
        )

    def test_checkpoints_of_federated_runs_only(self):
        config = config_lib.TrainConfig.make(
            root_output_dir=str(self.out), checkpoint_every=3, keep_checkpoints=1
        )
        manager = run_folder.checkpoints(config)
        self.assertEqual(manager.every, 3)
        for round_num in (3, 6):
            manager.save(checkpoint.RoundCheckpoint(round_num, np.float32(1.0), {}))
        self.assertEqual(manager.rounds(), [6])
        self.assertEqual(
            manager.root_dir, self.out / config.experiment_name / "checkpoints"
        )
        self.assertIsNone(
            run_folder.checkpoints(config.replace(algorithm="centralized"))
        )


if __name__ == "__main__":
    tf.test.main()
