"""End-to-end runs of `python -m pipelines.train` on synthetic data."""

import csv
import json
import pathlib
import subprocess
import tempfile

import numpy as np
import pytest
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines import cli

TIMEOUT_S = 300


def run_train(*flags: str) -> subprocess.CompletedProcess:
    return cli.run_pipeline("train", *flags, timeout=TIMEOUT_S)


class TrainPipelineTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=24)
        self.common = [
            "--dataset=csv",
            f"--data_dir={self.csv}",
            f"--root_output_dir={self.tmp / 'runs'}",
            "--rounds=2",
            "--clients_per_round=4",
            "--eval_every=1",
            "--embedding_dim=4",
            "--centralized_epochs=2",
        ]

    @parameterized.parameters("fedavg", "fedavg_unweighted", "fedrecon")
    def test_federated_algorithm_writes_outputs(self, algorithm):
        result = run_train(
            *self.common, f"--algorithm={algorithm}", f"--experiment_name={algorithm}"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        out = self.tmp / "runs" / algorithm
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["round"] for r in rows], ["1", "2"])
        for row in rows:
            self.assertGreater(float(row["train_loss"]), 0.0)
            self.assertGreater(float(row["test_rmse"]), 0.0)
        results = json.loads((out / "results.json").read_text())
        for key in (
            "test_rmse",
            "test_mae",
            "rounds",
            "algorithm",
            "wall_seconds",
            "centralized_test_rmse",
            "local_only_test_rmse",
        ):
            self.assertIn(key, results)
        self.assertEqual(results["algorithm"], algorithm)
        self.assertEqual(results["rounds"], 2)
        self.assertEqual(results["test_rmse"], float(rows[-1]["test_rmse"]))
        hparams = json.loads((out / "hparams.json").read_text())
        self.assertEqual(hparams["algorithm"], algorithm)
        self.assertNotEmpty(list((out / "tensorboard").iterdir()))
        vocab = json.loads((out / "vocabularies.json").read_text())
        self.assertLen(vocab["user_ids"], 24)
        with np.load(out / "final_weights.npz") as weights:
            self.assertIn("item_embedding", weights)
            # Reconstruction's server never holds user tables.
            self.assertEqual("user_embedding" in weights, algorithm != "fedrecon")
        self.assertIn("test RMSE", result.stdout)
        self.assertIn("centralized (baseline)", result.stdout)
        self.assertIn("round 2/2", result.stderr)

    # Both runtimes end to end through the CLI; the library-level equivalence
    # tests (tests/runtime/test_inprocess.py) run by default.
    @pytest.mark.slow
    def test_runtimes_train_the_same_model(self):
        outputs = {}
        for runtime in ("tff_cpp", "inprocess"):
            result = run_train(
                *self.common,
                "--algorithm=fedrecon",
                f"--runtime={runtime}",
                f"--experiment_name={runtime}",
            )
            self.assertEqual(result.returncode, 0, result.stderr[-3000:])
            outputs[runtime] = self.tmp / "runs" / runtime
        results = {
            runtime: json.loads((out / "results.json").read_text())
            for runtime, out in outputs.items()
        }
        self.assertAlmostEqual(
            results["tff_cpp"]["test_rmse"], results["inprocess"]["test_rmse"], 5
        )
        with (
            np.load(outputs["tff_cpp"] / "final_weights.npz") as reference,
            np.load(outputs["inprocess"] / "final_weights.npz") as ours,
        ):
            np.testing.assert_allclose(
                ours["item_embedding"], reference["item_embedding"], atol=1e-5
            )

    @parameterized.parameters("centralized", "local_only")
    def test_baseline_algorithm(self, algorithm):
        result = run_train(
            *self.common,
            f"--algorithm={algorithm}",
            f"--experiment_name={algorithm}",
            "--nobaselines",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        results = json.loads(
            (self.tmp / "runs" / algorithm / "results.json").read_text()
        )
        self.assertEqual(results["algorithm"], algorithm)
        self.assertGreater(results["test_rmse"], 0.0)

    @parameterized.parameters("held_out_users", "leave_last_out")
    @pytest.mark.slow
    def test_other_splits_run_end_to_end(self, split):
        result = run_train(
            *self.common,
            "--algorithm=fedrecon",
            f"--split={split}",
            f"--experiment_name={split}",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        results = json.loads((self.tmp / "runs" / split / "results.json").read_text())
        self.assertGreater(results["test_rmse"], 0.0)
        # Held-out users are not participants, so they have no local model.
        self.assertEqual(
            results["local_only_test_rmse"] is None, split == "held_out_users"
        )

    def test_export_dir_exports_at_the_end(self):
        export_dir = self.tmp / "export"
        result = run_train(
            *self.common,
            "--algorithm=centralized",
            "--nobaselines",
            "--experiment_name=served",
            f"--export_dir={export_dir}",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertTrue((export_dir / "served" / "1" / "saved_model.pb").exists())
        self.assertIn(f"Exported {export_dir / 'served' / '1'}", result.stdout)

    @parameterized.named_parameters(
        ("too_many_clients", ["--clients_per_round=500"], "exceeds"),
        ("negative_rate", ["--client_learning_rate=-1"], "client_learning_rate"),
        ("unknown_dataset", ["--dataset=netflix"], "unknown dataset"),
        ("unknown_algorithm", ["--algorithm=fedsgd"], "unknown algorithm"),
        ("non_integer_flag", ["--rounds=two"], "rounds"),
        ("missing_file", ["--data_dir=/nonexistent/ratings.csv"], "nonexistent"),
        ("unknown_runtime", ["--runtime=gpu"], "runtime"),
        (
            "inprocess_with_workers",
            ["--runtime=inprocess", "--workers=127.0.0.1:1"],
            "--runtime=tff_cpp",
        ),
    )
    def test_bad_input_exits_2_with_one_line(self, extra, message):
        result = run_train(*self.common, *extra)
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        error_lines = [
            line for line in result.stderr.splitlines() if "error" in line.lower()
        ]
        self.assertLen(error_lines, 1, result.stderr)
        self.assertIn(message, error_lines[0])

    def test_malformed_data_exits_2_naming_file_and_line(self):
        bad = self.tmp / "bad.csv"
        bad.write_text("user,item,rating\nu1,i1,4\nu2,i2,four\n")
        result = run_train(*self.common, f"--data_dir={bad}")
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn("bad.csv:3", result.stderr)


if __name__ == "__main__":
    absltest.main()
