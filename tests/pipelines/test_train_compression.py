"""End-to-end compressed runs of `python -m pipelines.train` on synthetic data."""

import csv
import json
import pathlib
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines.test_train import run_train
from tff_rec.compression import byte_counts

NUM_USERS = 24


class TrainCompressionPipelineTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=NUM_USERS)
        self.common = [
            "--dataset=csv",
            f"--data_dir={self.csv}",
            f"--root_output_dir={self.tmp / 'runs'}",
            "--rounds=2",
            "--clients_per_round=6",
            "--eval_every=1",
            "--embedding_dim=4",
            "--nobaselines",
            "--server_learning_rate=1.0",
        ]

    def _outputs(self, name):
        out = self.tmp / "runs" / name
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        return rows, json.loads((out / "results.json").read_text())

    def _check_bytes(self, rows, results):
        self.assertLen(rows, 2)
        for row in rows:
            for key in byte_counts.BYTE_KEYS:
                self.assertGreater(float(row[key]), 0.0, key)
        for key in byte_counts.BYTE_KEYS:
            values = [float(row[key]) for row in rows]
            self.assertAlmostEqual(results[f"{key}_total"], sum(values))
            self.assertAlmostEqual(results[f"{key}_per_round"], sum(values) / 2)

    def test_compressed_reconstruction_reports_bytes_both_ways(self):
        result = run_train(
            *self.common,
            "--algorithm=fedrecon",
            "--quantize_bits=8",
            "--sparse_item_updates",
            "--broadcast_quantize_bits=8",
            "--experiment_name=compressed",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rows, results = self._outputs("compressed")
        self._check_bytes(rows, results)
        for row in rows:
            # Sparse 8-bit rows are far smaller than the float32 item tables;
            # the 8-bit broadcast about a quarter of them.
            self.assertLess(float(row["bytes_up"]), float(row["dense_bytes_up"]) / 3)
            self.assertLess(
                float(row["bytes_down"]), float(row["dense_bytes_down"]) / 3
            )
        hparams = json.loads(
            (self.tmp / "runs" / "compressed" / "hparams.json").read_text()
        )
        self.assertEqual(hparams["quantize_bits"], 8)
        self.assertTrue(hparams["sparse_item_updates"])

    def test_uncompressed_run_reports_dense_bytes(self):
        result = run_train(
            *self.common, "--algorithm=fedavg", "--experiment_name=dense"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rows, results = self._outputs("dense")
        self._check_bytes(rows, results)
        for row in rows:
            self.assertEqual(row["bytes_up"], row["dense_bytes_up"])
            self.assertEqual(row["bytes_down"], row["dense_bytes_down"])

    def test_secure_dp_quantized_sparse_with_decoys(self):
        result = run_train(
            *self.common,
            "--algorithm=fedrecon",
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=0.5",
            "--clip=0.5",
            "--secure_aggregation",
            "--quantize_bits=8",
            "--sparse_item_updates",
            "--decoy_rows=3",
            "--experiment_name=secure_dp",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rows, results = self._outputs("secure_dp")
        self._check_bytes(rows, results)
        self.assertIn("epsilon", results)

    @parameterized.named_parameters(
        ("bits_high", ["--quantize_bits=20"], "quantize_bits must be in 2..16, got 20"),
        (
            "broadcast_bits_low",
            ["--broadcast_quantize_bits=1"],
            "broadcast_quantize_bits must be in 2..16, got 1",
        ),
        ("topk_zero", ["--topk_fraction=0"], "topk_fraction must be in (0, 1]"),
        (
            "decoys_insecure",
            ["--sparse_item_updates", "--decoy_rows=5"],
            "decoy_rows=5 needs secure aggregation",
        ),
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
