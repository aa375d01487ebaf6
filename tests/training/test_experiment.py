"""Whole runs of `experiment.run_experiment` on synthetic data: their
outputs, both tasks, divergence, and data far from MovieLens."""

import csv
import json
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.data import preparation
from tff_rec.data import synthetic as data_synthetic
from tff_rec.training import checkpoint
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import process as process_lib


class RankingExperimentTest(parameterized.TestCase, tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(self.create_tempdir().full_path)
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
        return config_lib.TrainConfig.make(**settings)

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


class RatingExperimentTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(self.create_tempdir().full_path)

    def config(self, csv_path, **settings):
        return config_lib.TrainConfig.make(
            dataset="csv",
            data_dir=str(csv_path),
            root_output_dir=str(self.tmp / "runs"),
            baselines=False,
            **settings,
        )

    def test_run_folder(self):
        csv_path = synthetic.write_csv(self.tmp / "ratings.csv", num_users=24)
        config = self.config(csv_path, rounds=3, clients_per_round=4, eval_every=2)
        results = experiment.run_experiment(config)
        out = self.tmp / "runs" / config.experiment_name
        hparams = json.loads((out / "hparams.json").read_text())
        self.assertEqual(config_lib.TrainConfig.from_dict(hparams), config)
        self.assertEqual(hparams["federated"]["rounds"], 3)
        vocabularies = json.loads((out / "vocabularies.json").read_text())
        self.assertLen(vocabularies["user_ids"], 24)
        with open(out / "metrics.csv") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        self.assertEqual(
            reader.fieldnames[1:],
            list(
                experiment.make_task(
                    config, preparation.prepare(config.data, seed=0)
                ).round_fields
            ),
        )
        self.assertEqual([r["test_rmse"] != "" for r in rows], [False, True, True])
        self.assertEqual(results["test_rmse"], float(rows[-1]["test_rmse"]))
        recorded = json.loads((out / "results.json").read_text())
        self.assertEqual(recorded["rounds"], 3)
        self.assertGreater(recorded["server_learning_rate"], 0)
        with np.load(out / "final_weights.npz") as weights:
            # Reconstruction's server never holds user tables.
            self.assertEqual(
                sorted(weights), ["global_bias", "item_bias", "item_embedding"]
            )

    def test_default_reconstruction_on_a_wide_rating_scale(self):
        # Dense ratings in [-10, 10]: the server step of 25 that suits sparse
        # 1-5 star data diverges here; the default derived from the data
        # trains and beats predicting the training mean.
        csv_path = data_synthetic.write_wide_scale_csv(self.tmp / "wide.csv")
        config = self.config(csv_path, rounds=20, eval_every=20)
        results = experiment.run_experiment(config)
        data = preparation.prepare(config.data, seed=config.seed)
        mean = float(np.mean(data.split.train.ratings))
        mean_rmse = float(np.sqrt(np.mean((data.split.test.ratings - mean) ** 2)))
        self.assertTrue(math.isfinite(results["test_rmse"]))
        self.assertLess(results["test_rmse"], 0.7 * mean_rmse)
        self.assertLess(results["server_learning_rate"], 5.0)
        with self.assertRaises(errors.TrainingDivergedError):
            experiment.run_experiment(
                config.replace(server_learning_rate=25.0, experiment_name="step25")
            )

    def test_divergence_stops_the_run_and_keeps_the_last_finite_checkpoint(self):
        csv_path = data_synthetic.write_wide_scale_csv(self.tmp / "wide.csv")
        config = self.config(
            csv_path, rounds=20, eval_every=20, server_learning_rate=25.0
        )
        with self.assertRaisesRegex(
            errors.TrainingDivergedError,
            r"training diverged at round (\d+): .*--server_learning_rate \(now 25\)",
        ) as raised:
            experiment.run_experiment(config)
        diverged = raised.exception.round_num
        self.assertBetween(diverged, 2, 19)
        out = self.tmp / "runs" / config.experiment_name
        results = json.loads((out / "results.json").read_text())
        self.assertTrue(results["diverged"])
        self.assertEqual(results["diverged_round"], diverged)
        self.assertNotIn("test_rmse", results)
        self.assertFalse((out / "final_weights.npz").exists())
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(int(rows[-1]["round"]), diverged)
        # The newest checkpoint is the round before, whose model is finite.
        manager = checkpoint.CheckpointManager(out / "checkpoints")
        self.assertEqual(manager.latest_round(), diverged - 1)
        task = experiment.make_task(config, preparation.prepare(config.data, seed=0))
        process = process_lib.build_run_process(
            config, task, task.data, spec=None, server_learning_rate=25.0
        )
        restored = manager.load_latest(process.initialize())
        for tensor in process.get_model_weights(restored.state).trainable:
            self.assertTrue(np.all(np.isfinite(tensor)))


@pytest.mark.slow
@pytest.mark.data
class MovieLensTest(tf.test.TestCase):
    """Short real-data runs on MovieLens-100K (minutes each)."""

    def setUp(self):
        super().setUp()
        self.config = config_lib.TrainConfig.make(
            root_output_dir=self.create_tempdir().full_path, rounds=20, eval_every=20
        )
        data = preparation.prepare(self.config.data, seed=self.config.seed)
        mean = float(np.mean(data.split.train.ratings))
        self.mean_rmse = float(np.sqrt(np.mean((data.split.test.ratings - mean) ** 2)))

    def test_reconstruction_learns_in_twenty_rounds(self):
        results = experiment.run_experiment(
            self.config.replace(experiment_name="recon")
        )
        self.assertLess(results["test_rmse"], 1.0)
        self.assertLess(results["test_rmse"], self.mean_rmse - 0.1)
        self.assertLess(results["centralized_test_rmse"], 0.92)
        self.assertLess(results["centralized_test_rmse"], results["test_rmse"])
        self.assertGreater(results["local_only_test_rmse"], results["test_rmse"])

    def test_unweighted_fed_avg_learns_in_twenty_rounds(self):
        results = experiment.run_experiment(
            self.config.replace(
                experiment_name="fedavg",
                algorithm="fedavg_unweighted",
                server_learning_rate=50.0,
                baselines=False,
            )
        )
        self.assertLess(results["test_rmse"], self.mean_rmse - 0.05)


if __name__ == "__main__":
    tf.test.main()
