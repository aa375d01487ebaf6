import numpy as np
import tensorflow as tf

from tests import synthetic
from tff_rec.algorithms import fed_avg
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.training import federated


class RunRoundsTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data = synthetic.make_interactions(num_users=12, num_items=8, per_user=5)
        self.data = data
        partition = partition_lib.partition_by_user(data)
        self.federated = client_data.build_federated_data(data, partition)
        self.process = fed_avg.build_unweighted_fed_avg(
            lambda: mf.build_matrix_factorization(
                data.num_users, data.num_items, embedding_dim=2, global_bias=3.0
            )
        )

    def test_rows_evaluation_schedule_and_sampling(self):
        evaluated = []

        def evaluate(state):
            evaluated.append(state)
            return {"test_rmse": 1.0, "test_mae": 0.5}

        schedule = federated.RoundSchedule(
            rounds=3, clients_per_round=4, batch_size=2, seed=1
        )
        _, history = federated.run_rounds(
            self.process,
            self.federated,
            schedule,
            evaluate_fn=evaluate,
            eval_every=2,
            show_progress=False,
        )
        self.assertEqual([row["round"] for row in history], [1, 2, 3])
        self.assertLen(evaluated, 2)  # rounds 2 and 3 (the last)
        self.assertNotIn("test_rmse", history[0])
        self.assertIn("test_rmse", history[1])
        for row in history:
            self.assertEqual(row["clients"], 4)
            self.assertEqual(row["clients_dropped"], 0)
            self.assertEqual(row["aborted"], 0)
            self.assertGreater(row["train_loss"], 0.0)

    def test_dropout_and_aborted_rounds(self):
        schedule = federated.RoundSchedule(
            rounds=6,
            clients_per_round=4,
            batch_size=2,
            seed=1,
            dropout_rate=0.5,
            min_clients=3,
        )
        states = []

        def evaluate(state):
            states.append(state)
            return {"test_rmse": 1.0}

        _, history = federated.run_rounds(
            self.process,
            self.federated,
            schedule,
            evaluate_fn=evaluate,
            eval_every=1,
            show_progress=False,
        )
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

    def test_dropout_is_seeded_by_run_and_round(self):
        clients = np.arange(1000)
        a = federated.drop_out(clients, 0.3, seed=2, round_num=5)
        self.assertAllEqual(a, federated.drop_out(clients, 0.3, seed=2, round_num=5))
        self.assertNotAllEqual(a, federated.drop_out(clients, 0.3, seed=2, round_num=6))
        self.assertBetween(a.mean(), 0.25, 0.35)
        self.assertFalse(federated.drop_out(clients, 0.0, seed=2, round_num=5).any())

    def test_sampling_is_seeded_and_without_replacement(self):
        a = federated.sample_clients(np.random.default_rng(3), 10, 5)
        b = federated.sample_clients(np.random.default_rng(3), 10, 5)
        self.assertAllEqual(a, b)
        self.assertLen(set(a.tolist()), 5)

    def test_too_many_clients_per_round(self):
        schedule = federated.RoundSchedule(
            rounds=1, clients_per_round=500, batch_size=2
        )
        with self.assertRaisesRegex(ValueError, "clients_per_round=500 exceeds"):
            federated.run_rounds(self.process, self.federated, schedule)

    def test_client_data_slices_rows_of_each_client(self):
        cd = client_data.to_client_data(self.federated)
        self.assertLen(cd.client_ids, 12)
        k = 3
        rows = list(
            cd.create_tf_dataset_for_client(cd.client_ids[k]).as_numpy_iterator()
        )
        expected = self.federated.client_rows(k)
        self.assertLen(rows, expected.stop - expected.start)
        self.assertAllEqual([r["item"] for r in rows], self.federated.items[expected])
        self.assertAllEqual([r["local_user"] for r in rows], [0] * len(rows))

    def test_preprocess_batches_and_selects_user_key(self):
        dataset = client_data.client_dataset(self.federated, 0)
        batches = list(
            client_data.preprocess(
                dataset, batch_size=2, epochs=2, user_key="local_user"
            ).as_numpy_iterator()
        )
        total = sum(len(b["y"]) for b in batches)
        self.assertEqual(total, 2 * self.federated.client_size(0))
        self.assertEqual(batches[0]["y"].shape[1], 1)
        self.assertAllEqual(batches[0]["x"]["user"], [0, 0])


if __name__ == "__main__":
    tf.test.main()
