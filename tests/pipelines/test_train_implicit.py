"""`python -m pipelines.train` with --task=implicit and --scenario."""

import json
import pathlib
import tempfile

from absl.testing import absltest

from tests import synthetic
from tests.pipelines import cli


class ImplicitTrainPipelineTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.data_dir = synthetic.write_ml100k(self.tmp / "ml", num_users=30)

    def test_scenario_with_explicit_overrides(self):
        result = cli.run_pipeline(
            "train",
            "--scenario=news_users",
            f"--data_dir={self.data_dir}",
            f"--root_output_dir={self.tmp / 'runs'}",
            "--rounds=1",
            "--clients_per_round=4",
            "--embedding_dim=4",
            "--eval_negatives=10",
            "--loss=bpr",
            "--nobaselines",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        out = self.tmp / "runs" / "news_users"
        hparams = json.loads((out / "hparams.json").read_text())
        # Preset values, and the flags given on top of them.
        self.assertEqual(hparams["scenario"], "news_users")
        self.assertEqual(hparams["task"], "implicit")
        self.assertEqual(hparams["split"], "leave_last_out")
        self.assertEqual(hparams["loss"], "bpr")
        self.assertEqual(hparams["rounds"], 1)
        results = json.loads((out / "results.json").read_text())
        self.assertIn("sampled_ndcg@10", results)
        self.assertIn("sampled_hr@10", result.stdout)

    def test_describe_scenario(self):
        result = cli.run_pipeline(
            "train", "--scenario=ecommerce_stores", "--describe_scenario"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertIn("--partition_attribute=zip_prefix", result.stdout)
        self.assertIn("--personalize_steps=100", result.stdout)

    def test_bad_scenario_and_model_are_one_line_errors(self):
        for flags, message in (
            (["--scenario=bank"], "unknown scenario 'bank'"),
            (["--model=neumf"], "task='implicit'"),
            (["--task=implicit", "--export_dir=/tmp/x"], "supports task='rating'"),
        ):
            result = cli.run_pipeline("train", *flags)
            self.assertEqual(result.returncode, 2, result.stderr[-2000:])
            self.assertIn(message, result.stderr)
            self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
    absltest.main()
