import numpy as np
import tensorflow as tf

from tests import synthetic
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.evaluation import baselines
from tff_rec.evaluation import per_client
from tff_rec.evaluation import rating_metrics


class PerClientTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data = synthetic.make_interactions(num_users=40, num_items=25, per_user=15)
        self.split = splits.random_holdout(data, test_fraction=0.2, seed=0)
        self.partition = partition_lib.partition_iid(
            self.split.train, num_clients=4, seed=0
        )
        options = dict(embedding_dim=4, epochs=30, batch_size=32, learning_rate=0.02)
        self.central = baselines.train_centralized(
            self.split.train, self.split.test, **options
        )
        self.local = baselines.train_local_only(
            self.split.train, self.split.test, self.partition, **options
        )

    def report(self, **kwargs):
        return per_client.rating_report(
            self.split.train,
            self.split.test,
            self.partition,
            global_weights=self.central.weights,
            local_predictions=self.local.predictions,
            centralized_weights=self.central.weights,
            **kwargs,
        )

    def test_rows_add_up_to_the_whole_test_set(self):
        report = self.report()
        self.assertLen(report, 4)
        self.assertEqual(sum(r["num_examples"] for r in report), len(self.split.train))
        self.assertEqual(
            sum(r["num_test_examples"] for r in report), len(self.split.test)
        )
        self.assertEqual(sum(r["num_users"] for r in report), 40)
        # The example-weighted mean of the clients' squared errors is the
        # whole test set's.
        for model, overall in (
            ("local", self.local.metrics.rmse),
            ("centralized", self.central.metrics.rmse),
        ):
            mse = sum(
                r[f"{model}_test_rmse"] ** 2 * r["num_test_examples"] for r in report
            ) / len(self.split.test)
            self.assertAllClose(np.sqrt(mse), overall, rtol=1e-5)

    def test_gain_is_local_minus_best_of_global_and_finetuned(self):
        for row in self.report():
            best = min(row["global_test_rmse"], row["finetuned_test_rmse"])
            self.assertAllClose(row["gain_rmse"], row["local_test_rmse"] - best)
            self.assertEqual(row["federation_helps"], row["gain_rmse"] > 0)
            for key in ("client_id", "global_test_mae", "centralized_test_mae"):
                self.assertIn(key, row)

    def test_zero_finetuning_epochs_repeat_the_global_model(self):
        report = self.report(finetuning=per_client.FineTuning(epochs=0))
        for row in report:
            self.assertAllClose(row["finetuned_test_rmse"], row["global_test_rmse"])

    def test_finetuning_lowers_the_clients_training_loss(self):
        weights = self.central.weights
        rows = self.partition.client_indices[0]
        train = self.split.train.subset(rows)
        tuned = per_client.finetune(
            weights,
            self.split.train,
            rows,
            per_client.FineTuning(epochs=5, learning_rate=0.05),
        )
        before = rating_metrics.evaluate_global_model(weights, train).rmse
        after = rating_metrics.evaluate_global_model(tuned, train).rmse
        self.assertLess(after, before)
        # The input is left as it was.
        self.assertAllEqual(weights.user_embedding, self.central.weights.user_embedding)

    def test_table_has_a_line_per_client_and_the_count(self):
        table = per_client.format_table(self.report())
        self.assertLen(table.splitlines(), 4 + 3)
        self.assertIn("customers", table)
        self.assertIn("of 4 clients do better", table)


if __name__ == "__main__":
    tf.test.main()
