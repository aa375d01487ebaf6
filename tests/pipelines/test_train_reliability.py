"""`python -m pipelines.train` with failing clients, malicious clients, --robust."""

import csv
import json
import pathlib
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines.test_train import run_train


class TrainReliabilityTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=24)
        self.common = [
            "--dataset=csv",
            f"--data_dir={self.csv}",
            f"--root_output_dir={self.tmp / 'runs'}",
            "--rounds=3",
            "--clients_per_round=6",
            "--eval_every=3",
            "--embedding_dim=4",
            "--nobaselines",
        ]

    def test_dropout_attack_and_robust_run_completes(self):
        result = run_train(
            *self.common,
            "--algorithm=fedrecon",
            "--dropout_rate=0.3",
            "--min_clients_per_round=2",
            "--robust",
            "--malicious_fraction=0.25",
            "--attack=nan",
            "--experiment_name=reliable",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        out = self.tmp / "runs" / "reliable"
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["round"] for r in rows], ["1", "2", "3"])
        for row in rows:
            self.assertEqual(int(row["clients"]) + int(row["clients_dropped"]), 6)
            self.assertEqual(row["aborted"], str(int(int(row["clients"]) < 2)))
            self.assertLessEqual(int(row["clients_malicious"]), int(row["clients"]))
        self.assertGreater(sum(int(r["clients_dropped"]) for r in rows), 0)
        self.assertGreater(sum(int(r["clients_malicious"]) for r in rows), 0)
        results = json.loads((out / "results.json").read_text())
        self.assertGreater(results["test_rmse"], 0.0)
        self.assertLess(results["test_rmse"], 10.0)
        self.assertTrue((out / "checkpoints" / "program_state_3").is_dir())

    @parameterized.named_parameters(
        ("dropout", ["--dropout_rate=1.5"], "dropout_rate must be in [0, 1)"),
        ("attack", ["--malicious_fraction=0.1", "--attack=flip"], "unknown attack"),
        ("min_clients", ["--min_clients_per_round=7"], "exceeds clients_per_round"),
    )
    def test_bad_flags_exit_2_with_one_line(self, extra, message):
        result = run_train(*self.common, *extra)
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        error_lines = [
            line for line in result.stderr.splitlines() if "error" in line.lower()
        ]
        self.assertLen(error_lines, 1, result.stderr)
        self.assertIn(message, error_lines[0])


if __name__ == "__main__":
    absltest.main()
