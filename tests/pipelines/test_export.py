"""End-to-end runs of `python -m pipelines.export` on a small run directory."""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines import base

TIMEOUT_S = 300


def run_export(*flags: str) -> subprocess.CompletedProcess:
    return base.run_pipeline("export", *flags, timeout=TIMEOUT_S)


def write_run(run_dir: pathlib.Path, num_users=4, num_items=6, dim=2) -> None:
    """The files `pipelines.train` leaves in a centralized run directory."""
    rng = np.random.default_rng(0)
    run_dir.mkdir(parents=True)
    (run_dir / "hparams.json").write_text(
        json.dumps({"algorithm": "centralized", "dataset": "csv", "embedding_dim": dim})
    )
    (run_dir / "vocabularies.json").write_text(
        json.dumps(
            {
                "user_ids": [f"u{u}" for u in range(num_users)],
                "item_ids": [f"i{i}" for i in range(num_items)],
            }
        )
    )
    (run_dir / "results.json").write_text(json.dumps({"test_rmse": 1.0}))
    np.savez(
        run_dir / "final_weights.npz",
        user_embedding=rng.normal(size=(num_users, dim)).astype(np.float32),
        user_bias=np.zeros(num_users, np.float32),
        item_embedding=rng.normal(size=(num_items, dim)).astype(np.float32),
        item_bias=np.zeros(num_items, np.float32),
        global_bias=np.float32(3.0),
    )


class ExportPipelineTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.run_dir = self.tmp / "runs" / "my_run"
        write_run(self.run_dir)
        self.export_dir = self.tmp / "models"
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_exports_and_prints_the_version_folder(self):
        result = run_export(
            f"--run_dir={self.run_dir}", f"--export_dir={self.export_dir}"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        path = pathlib.Path(result.stdout.strip().splitlines()[-1])
        self.assertEqual(path, self.export_dir / "my_run" / "1")
        self.assertTrue((path / "saved_model.pb").is_file())
        self.assertTrue((path / "model_card.json").is_file())

        result = run_export(
            f"--run_dir={self.run_dir}",
            f"--export_dir={self.export_dir}",
            "--model_name=movies",
            "--version=3",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertEqual(
            result.stdout.strip().splitlines()[-1],
            str(self.export_dir / "movies" / "3"),
        )
        self.assertTrue((self.export_dir / "my_run" / "1" / "saved_model.pb").exists())

    @parameterized.named_parameters(
        ("missing_run_dir", ["--run_dir={tmp}/nowhere"], "does not exist"),
        ("not_a_run_dir", ["--run_dir={tmp}"], "not a finished run directory"),
        ("no_run_dir_flag", [], "run_dir"),
        ("bad_version", ["--run_dir={run}", "--version=0"], "version must be >= 1"),
        ("bad_version_type", ["--run_dir={run}", "--version=one"], "version"),
    )
    def test_bad_input_exits_2_with_one_line(self, extra, message):
        extra = [f.format(tmp=self.tmp, run=self.run_dir) for f in extra]
        result = run_export(f"--export_dir={self.export_dir}", *extra)
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        error_lines = [
            line for line in result.stderr.splitlines() if "error" in line.lower()
        ]
        self.assertLen(error_lines, 1, result.stderr)
        self.assertIn(message, error_lines[0])
        self.assertFalse((self.export_dir / "my_run").exists())


if __name__ == "__main__":
    absltest.main()


class ExportOfATrainedRunTest(base.PipelineTestCase):
    """The documented sequence: `pipelines.train`, then `pipelines.export`."""

    @parameterized.parameters("fedrecon", "fedavg")
    def test_exports_a_run_made_by_train(self, algorithm):
        # A GroupLens dataset, as in the docs: its export reads the item
        # titles, which the CSV runs have none of.
        ml100k = synthetic.write_ml100k(self.tmp / "ml-100k", num_users=20)
        self.assert_ok(
            self.run_train(
                algorithm=algorithm,
                experiment_name="ml",
                baselines=False,
                dataset="ml-100k",
                data_dir=ml100k,
            )
        )
        export_dir = self.tmp / "models"
        result = run_export(
            f"--run_dir={self.run_dir('ml')}",
            f"--export_dir={export_dir}",
            "--model_name=movies",
        )
        self.assert_ok(result)
        self.assertEqual(result.stdout.strip(), str(export_dir / "movies" / "1"))
        loaded = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, tensorflow as tf; "
                "m = tf.saved_model.load(sys.argv[1]); "
                "print(sorted(m.signatures))",
                str(export_dir / "movies" / "1"),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        self.assertEqual(loaded.returncode, 0, loaded.stderr[-2000:])
        self.assertIn("serving_default", loaded.stdout)
