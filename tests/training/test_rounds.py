"""The round loop: rows, evaluation, aborted rounds, hooks, resuming exactly."""

import tensorflow as tf

from tests import synthetic
from tff_rec import errors
from tff_rec.algorithms import fed_avg
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy import accounting
from tff_rec.tasks import rating
from tff_rec.training import budget
from tff_rec.training import checkpoint
from tff_rec.training import hooks
from tff_rec.training import rounds
from tff_rec.training import sampling


def _federated_data():
    data = synthetic.make_interactions(num_users=12, num_items=8, per_user=5)
    partition = partition_lib.partition_by_user(data)
    return data, client_data.build_federated_data(data, partition)


def _sampler(federated, *, seed=1, **kwargs):
    return sampling.ClientSampler(
        federated.num_clients,
        4,
        rating.datasets_fn(
            federated, batch_size=2, epochs=1, user_key="user", seed=seed
        ),
        seed=seed,
        **kwargs,
    )


class _Recorder(hooks.RoundHook):
    """Records what a hook sees."""

    def __init__(self):
        self.started = []
        self.results = []

    def start(self, done, rounds_):
        self.started.append((done, rounds_))

    def after_round(self, result):
        self.results.append(result)


class _Interrupt(Exception):
    pass


class _InterruptAt(hooks.RoundHook):
    """The run "dies" after this round's row, before its checkpoint."""

    def __init__(self, round_num):
        self.round_num = round_num

    def after_round(self, result):
        if result.number == self.round_num:
            raise _Interrupt()


class RunRoundsTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data, self.federated = _federated_data()
        self.process = fed_avg.build_unweighted_fed_avg(
            lambda: mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=2, global_bias=3.0
            )
        )

    def test_rows_evaluation_schedule_and_hook_order(self):
        evaluated = []

        def evaluate(state):
            evaluated.append(state)
            return {"test_rmse": 1.0, "test_mae": 0.5}

        recorder = _Recorder()
        outcome = rounds.run_rounds(
            self.process,
            _sampler(self.federated),
            rounds=3,
            hooks=[hooks.PeriodicEvaluation(evaluate, every=2), recorder],
        )
        history = outcome.history
        self.assertEqual([row["round"] for row in history], [1, 2, 3])
        self.assertLen(evaluated, 2)  # rounds 2 and 3 (the last)
        self.assertNotIn("test_rmse", history[0])
        self.assertIn("test_rmse", history[1])
        # The recorder comes after the evaluation: it sees its metrics.
        self.assertIn("test_rmse", recorder.results[1].row)
        self.assertEqual(recorder.started, [(0, 3)])
        self.assertEqual([r.last for r in recorder.results], [False, False, True])
        self.assertIsNone(outcome.stopped)
        for row in history:
            self.assertEqual(row["clients"], 4)
            self.assertEqual(row["clients_dropped"], 0)
            self.assertEqual(row["aborted"], 0)
            self.assertGreater(row["train_loss"], 0.0)

    def test_dropout_and_aborted_rounds(self):
        states = []

        def evaluate(state):
            states.append(state)
            return {"test_rmse": 1.0}

        outcome = rounds.run_rounds(
            self.process,
            _sampler(self.federated, dropout_rate=0.5, min_clients=3),
            rounds=6,
            hooks=[hooks.PeriodicEvaluation(evaluate, every=1)],
        )
        history = outcome.history
        self.assertLen(history, 6)
        aborted = [row for row in history if row["aborted"]]
        self.assertNotEmpty(aborted)
        self.assertLen(aborted, sum(row["clients"] < 3 for row in history))
        for k, row in enumerate(history):
            self.assertEqual(row["clients"] + row["clients_dropped"], 4)
            self.assertEqual("train_loss" in row, not row["aborted"])
            if row["aborted"] and k > 0:
                # The model is left as the previous round left it.
                for now, before in zip(
                    tf.nest.flatten(self.process.get_model_weights(states[k])),
                    tf.nest.flatten(self.process.get_model_weights(states[k - 1])),
                    strict=True,
                ):
                    self.assertAllEqual(now, before)

    def test_a_hook_stops_training(self):
        class StopAfterTwo(hooks.RoundHook):
            def after_round(self, result):
                if result.number == 2:
                    result.stop = "enough"

        recorder = _Recorder()
        outcome = rounds.run_rounds(
            self.process,
            _sampler(self.federated),
            rounds=5,
            hooks=[StopAfterTwo(), recorder],
        )
        self.assertLen(outcome.history, 2)
        self.assertEqual(outcome.stopped, "enough")
        self.assertTrue(recorder.results[-1].final)

    def test_a_hook_that_finds_nothing_to_run(self):
        class NothingLeft(hooks.RoundHook):
            def start(self, done, rounds_):
                return "nothing left"

        outcome = rounds.run_rounds(
            self.process, _sampler(self.federated), rounds=3, hooks=[NothingLeft()]
        )
        self.assertEqual(outcome.history, [])
        self.assertEqual(outcome.stopped, "nothing left")


class ResumeTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data, self.federated = _federated_data()
        self.process = fed_avg.build_unweighted_fed_avg(
            lambda: mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=2, global_bias=3.0, seed=1
            )
        )
        self.spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=4,
            num_clients=12,
        )

    def _run(self, manager=None, extra_hooks=()):
        privacy = budget.PrivacyBudget(accounting.PrivacyAccountant(self.spec), None)
        outcome = rounds.run_rounds(
            self.process,
            _sampler(
                self.federated,
                seed=3,
                sampling="poisson",
                dropout_rate=0.2,
            ),
            rounds=4,
            hooks=[privacy, *extra_hooks],
            checkpoints=manager,
        )
        return outcome, privacy.accountant

    def test_interrupted_loop_resumes_to_the_same_state(self):
        expected, _ = self._run()
        manager = checkpoint.CheckpointManager(self.create_tempdir().full_path)
        with self.assertRaises(_Interrupt):
            self._run(manager, extra_hooks=[_InterruptAt(3)])
        self.assertEqual(manager.latest_round(), 2)
        # As if the kill had come while round 3 was being saved.
        partial = manager.root_dir / "program_state_3_temp1234"
        partial.mkdir()

        outcome, accountant = self._run(manager)
        self.assertFalse(partial.exists())
        self.assertEqual([row["round"] for row in outcome.history], [3, 4])
        for key in ("clients", "clients_dropped", "train_loss", "epsilon"):
            self.assertEqual(
                [row.get(key) for row in outcome.history],
                [row.get(key) for row in expected.history[2:]],
            )
        self.assertEqual(accountant.rounds, 4)
        self.assertAllClose(
            tf.nest.flatten(self.process.get_model_weights(outcome.state)),
            tf.nest.flatten(self.process.get_model_weights(expected.state)),
            rtol=0,
            atol=1e-7,
        )
        self.assertEqual(manager.latest_round(), 4)

    def test_private_run_refuses_a_checkpoint_without_accountant(self):
        manager = checkpoint.CheckpointManager(self.create_tempdir().full_path)
        manager.save(
            checkpoint.RoundCheckpoint(
                1,
                self.process.initialize(),
                _sampler(self.federated).get_state(),
            )
        )
        with self.assertRaisesRegex(errors.UserInputError, "without differential"):
            self._run(manager)


if __name__ == "__main__":
    tf.test.main()
