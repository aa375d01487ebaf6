"""Re-scoring finished runs: `tff_rec.evaluation.rescoring` and
`pipelines.evaluate`."""

import json
import pathlib
import shutil
import tempfile

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines import base
from tff_rec import errors
from tff_rec.evaluation import rescoring
from tff_rec.training import config as config_lib
from tff_rec.training import experiment


def _config(tmp: pathlib.Path, csv: pathlib.Path, algorithm: str, **overrides):
    return config_lib.TrainConfig.make(
        dataset="csv",
        data_dir=str(csv),
        root_output_dir=str(tmp / "runs"),
        experiment_name=algorithm,
        algorithm=algorithm,
        rounds=2,
        clients_per_round=4,
        eval_every=2,
        embedding_dim=4,
        centralized_epochs=2,
        baselines=False,
        **overrides,
    )


class EvaluateRunTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = pathlib.Path(tempfile.mkdtemp())
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.csv = synthetic.write_csv(cls.tmp / "ratings.csv", num_users=24)
        cls.results = {}
        for algorithm in ("centralized", "fedrecon", "local_only"):
            config = _config(cls.tmp, cls.csv, algorithm)
            cls.results[algorithm] = experiment.run_experiment(config)

    def run_dir(self, algorithm):
        return self.tmp / "runs" / algorithm

    def copy_run(self, algorithm, name):
        """A copy of `algorithm`'s run folder, for a test to alter."""
        return pathlib.Path(
            shutil.copytree(self.run_dir(algorithm), self.run_dir(name))
        )

    @parameterized.parameters("centralized", "fedrecon")
    def test_scores_equal_what_the_run_recorded(self, algorithm):
        metrics = rescoring.evaluate_run(self.run_dir(algorithm))
        recorded = self.results[algorithm]
        self.assertAlmostEqual(metrics.rmse, recorded["test_rmse"], places=6)
        self.assertAlmostEqual(metrics.mae, recorded["test_mae"], places=6)
        self.assertEqual(metrics.recorded_rmse, recorded["test_rmse"])
        self.assertEqual(metrics.num_test_ratings, 48)

    def test_scores_the_saved_tables(self):
        # Changed weights give another score: the numbers come from the file.
        run_dir = self.copy_run("centralized", "changed")
        with np.load(run_dir / "final_weights.npz") as f:
            arrays = dict(f)
        arrays["item_bias"] = arrays["item_bias"] + 1.0
        np.savez(run_dir / "final_weights.npz", **arrays)
        metrics = rescoring.evaluate_run(run_dir)
        self.assertNotAlmostEqual(
            metrics.rmse, self.results["centralized"]["test_rmse"], places=3
        )

    def test_tables_that_do_not_fit_are_refused(self):
        run_dir = self.copy_run("centralized", "cut")
        with np.load(run_dir / "final_weights.npz") as f:
            arrays = dict(f)
        np.savez(
            run_dir / "final_weights.npz",
            **{**arrays, "item_embedding": arrays["item_embedding"][:-1]},
        )
        with self.assertRaisesRegex(errors.DataFormatError, "item_embedding has"):
            rescoring.evaluate_run(run_dir)
        del arrays["user_embedding"]
        np.savez(run_dir / "final_weights.npz", **arrays)
        with self.assertRaisesRegex(errors.DataFormatError, "no user tables"):
            rescoring.evaluate_run(run_dir)

    def test_moved_data_is_found_with_data_dir(self):
        moved = self.tmp / "moved.csv"
        shutil.copy(self.csv, moved)
        metrics = rescoring.evaluate_run(
            self.run_dir("centralized"), data_dir=str(moved)
        )
        self.assertAlmostEqual(
            metrics.rmse, self.results["centralized"]["test_rmse"], places=6
        )

    def test_other_data_is_refused(self):
        other = synthetic.write_csv(self.tmp / "other.csv", num_users=30)
        with self.assertRaisesRegex(errors.UserInputError, "does not match the run"):
            rescoring.evaluate_run(self.run_dir("centralized"), data_dir=str(other))

    def test_local_only_run_has_no_model(self):
        with self.assertRaisesRegex(errors.UserInputError, "no single model"):
            rescoring.evaluate_run(self.run_dir("local_only"))

    def test_missing_and_unfinished_runs(self):
        with self.assertRaisesRegex(errors.UserInputError, "does not exist"):
            rescoring.evaluate_run(self.tmp / "nowhere")
        with self.assertRaisesRegex(errors.UserInputError, "no hparams.json"):
            rescoring.evaluate_run(self.tmp)
        unfinished = self.copy_run("fedrecon", "unfinished")
        (unfinished / "final_weights.npz").unlink()
        with self.assertRaisesRegex(errors.UserInputError, "has not finished"):
            rescoring.evaluate_run(unfinished)

    def test_bad_hparams_name_the_file(self):
        run_dir = self.copy_run("centralized", "bad_hparams")
        hparams = json.loads((run_dir / "hparams.json").read_text())
        (run_dir / "hparams.json").write_text(json.dumps({**hparams, "colour": 1}))
        with self.assertRaisesRegex(errors.DataFormatError, "hparams.json.*colour"):
            rescoring.evaluate_run(run_dir)
        (run_dir / "hparams.json").write_text("{")
        with self.assertRaisesRegex(
            errors.DataFormatError, "hparams.json:1: not valid JSON"
        ):
            rescoring.evaluate_run(run_dir)

    def test_implicit_run_is_refused(self):
        run_dir = self.copy_run("centralized", "implicit")
        hparams = json.loads((run_dir / "hparams.json").read_text())
        hparams["model"].update(task="implicit", model="gmf")
        (run_dir / "hparams.json").write_text(json.dumps(hparams))
        with self.assertRaisesRegex(errors.UserInputError, "task='implicit'"):
            rescoring.evaluate_run(run_dir)

    def test_pipeline_prints_and_writes_the_metrics(self):
        output = self.tmp / "metrics.json"
        result = base.run_pipeline(
            "evaluate",
            f"--run_dir={self.run_dir('fedrecon')}",
            f"--output_json={output}",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        rmse = self.results["fedrecon"]["test_rmse"]
        self.assertRegex(result.stdout, rf"test RMSE +{rmse:.4f} +{rmse:.4f}")
        written = json.loads(output.read_text())
        self.assertAlmostEqual(written["test_rmse"], rmse, places=6)
        self.assertEqual(written["recorded_test_rmse"], rmse)

    def test_pipeline_bad_run_dir_is_one_line(self):
        result = base.run_pipeline("evaluate", f"--run_dir={self.tmp / 'nowhere'}")
        self.assertEqual(result.returncode, 2)
        self.assertIn("does not exist", result.stderr)
        self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
    absltest.main()
