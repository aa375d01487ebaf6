"""Implicit-feedback runs of `experiment.run_experiment` on synthetic data."""

import csv
import pathlib
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.training import config as config_lib
from tff_rec.training import experiment


class RankingExperimentTest(parameterized.TestCase, tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.data_dir = synthetic.write_ml100k(self.tmp / "ml", num_users=30)

    def config(self, **kwargs):
        settings = dict(
            data_dir=str(self.data_dir),
            task="implicit",
            split="leave_last_out",
            rounds=2,
            clients_per_round=6,
            eval_every=1,
            embedding_dim=4,
            eval_negatives=10,
            baselines=False,
            root_output_dir=str(self.tmp / "runs"),
        )
        settings.update(kwargs)
        return config_lib.TrainConfig(**settings)

    @parameterized.parameters(
        ("fedrecon", "gmf", "bce"),
        ("fedavg", "neumf", "bpr"),
        ("fedrecon", "features", "bce"),
    )
    def test_federated_run_reports_ranking_metrics(self, algorithm, model, loss):
        config = self.config(
            algorithm=algorithm, model=model, loss=loss, experiment_name=algorithm
        )
        results = experiment.run_experiment(config)
        out = self.tmp / "runs" / algorithm
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["round"] for r in rows], ["1", "2"])
        self.assertNotIn("test_rmse", rows[0])
        for row in rows:
            self.assertGreater(float(row["train_loss"]), 0.0)
            self.assertBetween(float(row["train_auc"]), 0.0, 1.0)
            for name in ("hr@10", "ndcg@10", "recall@10", "sampled_hr@10"):
                self.assertBetween(float(row[name]), 0.0, 1.0)
        self.assertEqual(results["sampled_hr@10"], float(rows[-1]["sampled_hr@10"]))
        with np.load(out / "final_weights.npz") as weights:
            names = list(weights)
        self.assertTrue(any("item" in n for n in names), names)
        # User tables are never part of the saved server model.
        self.assertFalse(any("user_embedding" in n for n in names), names)
        self.assertNotEmpty(list((out / "tensorboard").iterdir()))

    def test_with_dp_and_compressed_updates(self):
        config = self.config(
            algorithm="fedrecon",
            model="gmf",
            aggregator="dp_gaussian_fixed",
            noise_multiplier=0.1,
            clip=1.0,
            quantize_bits=8,
            sparse_item_updates=True,
            broadcast_quantize_bits=8,
            experiment_name="dp_compressed",
        )
        results = experiment.run_experiment(config)
        with open(self.tmp / "runs" / "dp_compressed" / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            self.assertGreater(float(row["epsilon"]), 0.0)
            self.assertLess(float(row["bytes_up"]), float(row["dense_bytes_up"]))
        self.assertBetween(results["sampled_hr@10"], 0.0, 1.0)
        self.assertIn("epsilon", results)

    def test_personalization_and_baselines(self):
        config = self.config(
            algorithm="fedavg",
            model="gmf",
            partition="attribute",
            clients_per_round=4,
            num_clients=4,
            personalize_steps=2,
            baselines=True,
            centralized_epochs=1,
            experiment_name="personal",
        )
        results = experiment.run_experiment(config)
        for prefix in ("global", "personalized", "centralized", "local_only"):
            for name in ("hr@10", "sampled_hr@10", "sampled_ndcg@10"):
                self.assertBetween(results[f"{prefix}_{name}"], 0.0, 1.0)
        self.assertEqual(results["global_hr@10"], results["hr@10"])
        self.assertIn("sampled_hr@10", experiment.format_results_table(results))

    @parameterized.parameters("centralized", "local_only")
    def test_without_federation(self, algorithm):
        config = self.config(
            algorithm=algorithm,
            model="mlp",
            centralized_epochs=1,
            experiment_name=algorithm,
        )
        results = experiment.run_experiment(config)
        self.assertBetween(results["sampled_hr@10"], 0.0, 1.0)


class ConfigTest(parameterized.TestCase):
    @parameterized.parameters("gmf", "mlp", "neumf", "features")
    def test_click_models_need_the_implicit_task(self, model):
        with self.assertRaisesRegex(errors.UserInputError, "task='implicit'"):
            config_lib.TrainConfig(model=model)

    def test_implicit_only_settings(self):
        with self.assertRaisesRegex(errors.UserInputError, "loss only apply"):
            config_lib.TrainConfig(loss="bpr")
        with self.assertRaisesRegex(errors.UserInputError, "personalize_steps"):
            config_lib.TrainConfig(personalize_steps=3)

    def test_personalization_needs_participating_test_users(self):
        with self.assertRaisesRegex(errors.UserInputError, "held_out_users"):
            config_lib.TrainConfig(
                task="implicit", split="held_out_users", personalize_steps=3
            )

    def test_bad_values(self):
        with self.assertRaisesRegex(errors.UserInputError, "unknown task"):
            config_lib.TrainConfig(task="clicks")
        with self.assertRaisesRegex(errors.UserInputError, "negatives must be >= 1"):
            config_lib.TrainConfig(task="implicit", negatives=0)
        with self.assertRaisesRegex(errors.UserInputError, "top_k must be >= 1"):
            config_lib.TrainConfig(task="implicit", top_k=0)


if __name__ == "__main__":
    tf.test.main()
