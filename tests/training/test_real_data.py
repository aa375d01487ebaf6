"""Short real-data runs on MovieLens-100K (marked slow: minutes each)."""

import numpy as np
import pytest
import tensorflow as tf

from tff_rec.data import preparation
from tff_rec.training import config as config_lib
from tff_rec.training import experiment

pytestmark = [pytest.mark.slow, pytest.mark.data]


class RealDataTest(tf.test.TestCase):
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
