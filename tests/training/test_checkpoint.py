"""Checkpoints: saving, partial folders, and resuming the round loop exactly."""

import collections
import csv
import pathlib
import tempfile

import numpy as np
import tensorflow as tf

from tests import synthetic
from tff_rec import errors
from tff_rec.algorithms import fed_avg
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy import accounting
from tff_rec.training import checkpoint
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import federated
from tff_rec.training import metrics_writer


def _state(value: float):
    return collections.OrderedDict(
        weights=[np.full([2, 3], value, np.float32), np.float32(value)],
        count=np.int64(7),
    )


class CheckpointManagerTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.root = pathlib.Path(tempfile.mkdtemp()) / "checkpoints"

    def test_round_trip_of_state_round_rng_and_accountant(self):
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
                accountant_state={"rounds": 3, "spec": {"delta": 0.01}},
            )
        )
        restored = manager.load_latest(_state(0.0))
        self.assertEqual(restored.round_num, 3)
        self.assertAllEqual(restored.state["weights"][0], np.full([2, 3], 1.5))
        self.assertEqual(float(restored.state["weights"][1]), 1.5)
        self.assertEqual(int(restored.state["count"]), 7)
        self.assertEqual(restored.accountant_state["rounds"], 3)
        other = np.random.default_rng(0)
        other.bit_generator.state = restored.rng_state
        self.assertAllEqual(other.random(4), rng.random(4))

    def test_without_accountant_state(self):
        manager = checkpoint.CheckpointManager(self.root)
        rng = np.random.default_rng(0)
        manager.save(
            checkpoint.RoundCheckpoint(1, _state(1.0), rng.bit_generator.state)
        )
        self.assertIsNone(manager.load_latest(_state(0.0)).accountant_state)

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


class _Interrupt(Exception):
    pass


class _InterruptingWriter:
    """Stands in for a MetricsWriter; the run "dies" when writing a round."""

    def __init__(self, at_round):
        self.at_round = at_round

    def write_round(self, round_num, row):
        if round_num == self.at_round:
            raise _Interrupt()


class ResumeTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data = synthetic.make_interactions(num_users=12, num_items=8, per_user=5)
        partition = partition_lib.partition_by_user(data)
        self.federated = client_data.build_federated_data(data, partition)
        self.process = fed_avg.build_unweighted_fed_avg(
            lambda: mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=2, global_bias=3.0, seed=1
            )
        )
        self.schedule = federated.RoundSchedule(
            rounds=4,
            clients_per_round=4,
            batch_size=2,
            seed=3,
            sampling="poisson",
            dropout_rate=0.2,
        )
        self.spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=4,
            num_clients=12,
        )

    def _run(self, manager=None, writer=None):
        accountant = accounting.PrivacyAccountant(self.spec)
        state, history = federated.run_rounds(
            self.process,
            self.federated,
            self.schedule,
            show_progress=False,
            checkpoint=manager,
            writer=writer,
            accountant=accountant,
        )
        return state, history, accountant

    def test_interrupted_loop_resumes_to_the_same_state(self):
        expected_state, expected_history, _ = self._run()
        manager = checkpoint.CheckpointManager(tempfile.mkdtemp())
        with self.assertRaises(_Interrupt):
            self._run(manager, writer=_InterruptingWriter(at_round=3))
        self.assertEqual(manager.latest_round(), 2)
        # As if the kill had come while round 3 was being saved.
        partial = manager.root_dir / "program_state_3_temp1234"
        partial.mkdir()

        state, history, accountant = self._run(manager)
        self.assertFalse(partial.exists())
        self.assertEqual([row["round"] for row in history], [3, 4])
        for key in ("clients", "clients_dropped", "train_loss", "epsilon"):
            self.assertEqual(
                [row.get(key) for row in history],
                [row.get(key) for row in expected_history[2:]],
            )
        self.assertEqual(accountant.rounds, 4)
        self.assertAllClose(
            tf.nest.flatten(self.process.get_model_weights(state)),
            tf.nest.flatten(self.process.get_model_weights(expected_state)),
            rtol=0,
            atol=1e-7,
        )
        self.assertEqual(manager.latest_round(), 4)

    def test_private_run_refuses_a_checkpoint_without_accountant(self):
        manager = checkpoint.CheckpointManager(tempfile.mkdtemp())
        manager.save(
            checkpoint.RoundCheckpoint(
                1,
                self.process.initialize(),
                np.random.default_rng(0).bit_generator.state,
            )
        )
        with self.assertRaisesRegex(errors.UserInputError, "without differential"):
            self._run(manager)


class MetricsWriterResumeTest(tf.test.TestCase):
    def test_rows_after_the_checkpoint_are_dropped(self):
        out = pathlib.Path(tempfile.mkdtemp())
        with metrics_writer.MetricsWriter(out, ["train_loss", "clients"]) as writer:
            for round_num in range(1, 5):
                writer.write_round(
                    round_num, {"train_loss": round_num / 10, "clients": 4}
                )
        with metrics_writer.MetricsWriter(
            out, ["train_loss", "clients"], resume_after=2
        ) as writer:
            self.assertEqual(
                writer.previous_rows,
                [
                    {"round": 1, "train_loss": 0.1, "clients": 4.0},
                    {"round": 2, "train_loss": 0.2, "clients": 4.0},
                ],
            )
            writer.write_round(3, {"train_loss": 0.35, "clients": 4})
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["round"] for r in rows], ["1", "2", "3"])
        self.assertEqual([r["clients"] for r in rows], ["4", "4", "4"])
        self.assertEqual(rows[2]["train_loss"], "0.35")


class ExperimentResumeTest(tf.test.TestCase):
    def test_changed_settings_are_named(self):
        out = pathlib.Path(tempfile.mkdtemp())
        config = config_lib.TrainConfig(rounds=10)
        metrics_writer.write_json(out / "hparams.json", config.as_dict())
        experiment.check_resumable(config, out)
        experiment.check_resumable(
            config_lib.TrainConfig(rounds=10, checkpoint_every=5), out
        )
        # A moved or renamed folder, and what comes after the rounds.
        experiment.check_resumable(
            config_lib.TrainConfig(
                rounds=10, root_output_dir="/elsewhere", experiment_name="renamed"
            ),
            out,
        )
        implicit = config_lib.TrainConfig(task="implicit", rounds=10)
        metrics_writer.write_json(out / "hparams.json", implicit.as_dict())
        experiment.check_resumable(
            config_lib.TrainConfig(task="implicit", rounds=10, personalize_steps=50),
            out,
        )
        metrics_writer.write_json(out / "hparams.json", config.as_dict())
        with self.assertRaisesRegex(
            errors.UserInputError, r"rounds: 10 -> 20, seed: 0 -> 1.*--fresh"
        ):
            experiment.check_resumable(config_lib.TrainConfig(rounds=20, seed=1), out)
        (out / "hparams.json").unlink()
        with self.assertRaisesRegex(errors.UserInputError, "no hparams.json"):
            experiment.check_resumable(config, out)

    def test_fresh_removes_run_outputs_only(self):
        out = pathlib.Path(tempfile.mkdtemp())
        for name in ("metrics.csv", "results.json", "final_weights.npz", "notes.txt"):
            (out / name).write_text("x")
        for name in ("tensorboard", "checkpoints/program_state_3", "exports"):
            (out / name).mkdir(parents=True)
        experiment.remove_run_outputs(out)
        self.assertEqual(
            sorted(p.name for p in out.iterdir()), ["exports", "notes.txt"]
        )


if __name__ == "__main__":
    tf.test.main()
