"""End-to-end DP runs of `python -m pipelines.train` on synthetic data."""

import csv
import json
import pathlib
import tempfile

from absl.testing import absltest

from tests import synthetic
from tests.pipelines.test_train import run_train
from tff_rec.privacy import accounting

NUM_USERS = 24


class TrainPrivacyPipelineTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=NUM_USERS)
        self.common = [
            "--dataset=csv",
            f"--data_dir={self.csv}",
            f"--root_output_dir={self.tmp / 'runs'}",
            "--clients_per_round=6",
            "--eval_every=1",
            "--embedding_dim=4",
            "--nobaselines",
            "--server_learning_rate=1.0",
        ]

    def _rows(self, name):
        with open(self.tmp / "runs" / name / "metrics.csv") as f:
            return list(csv.DictReader(f))

    def test_dp_run_reports_epsilon_every_round(self):
        result = run_train(
            *self.common,
            "--algorithm=fedrecon",
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=0.8",
            "--clip=0.5",
            "--client_sampling=poisson",
            "--rounds=3",
            "--experiment_name=dp",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rows = self._rows("dp")
        self.assertLen(rows, 3)
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=0.8,
            clients_per_round=6,
            num_clients=NUM_USERS,
            sampling="poisson",
        )
        for k, row in enumerate(rows, start=1):
            self.assertAlmostEqual(
                float(row["epsilon"]), accounting.epsilon(spec, k), places=6
            )
            self.assertAlmostEqual(float(row["delta"]), 1 / NUM_USERS**1.1)
        results = json.loads((self.tmp / "runs" / "dp" / "results.json").read_text())
        for key in ("epsilon", "delta", "noise_multiplier", "clip"):
            self.assertIn(key, results)
        self.assertAlmostEqual(results["epsilon"], float(rows[-1]["epsilon"]))
        self.assertEqual(results["noise_multiplier"], 0.8)
        self.assertEqual(results["clip"], 0.5)
        self.assertIn("Privacy: epsilon=", result.stderr)

    def test_budget_stops_before_exceeding_target(self):
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=6,
            num_clients=NUM_USERS,
            sampling="fixed_size",
        )
        target = (accounting.epsilon(spec, 2) + accounting.epsilon(spec, 3)) / 2
        result = run_train(
            *self.common,
            "--algorithm=fedavg_unweighted",
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=1.0",
            f"--target_epsilon={target}",
            "--rounds=6",
            "--experiment_name=budget",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rows = self._rows("budget")
        self.assertLen(rows, 2)
        self.assertLessEqual(float(rows[-1]["epsilon"]), target)
        self.assertIn("Privacy budget: stopping after round 2 of 6", result.stderr)
        results = json.loads(
            (self.tmp / "runs" / "budget" / "results.json").read_text()
        )
        self.assertEqual(results["rounds"], 2)
        self.assertIn("test_rmse", results)

    def test_weighted_fed_avg_with_dp_is_rejected(self):
        result = run_train(
            *self.common,
            "--algorithm=fedavg",
            "--aggregator=dp_gaussian_adaptive",
            "--noise_multiplier=0.1",
            "--rounds=1",
        )
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertIn("unweighted", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_secure_aggregation_with_dp_runs(self):
        result = run_train(
            *self.common,
            "--algorithm=fedavg_unweighted",
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=0.5",
            "--secure_aggregation",
            "--rounds=1",
            "--experiment_name=secure",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertLen(self._rows("secure"), 1)


if __name__ == "__main__":
    absltest.main()
