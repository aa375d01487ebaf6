import json
import pathlib

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import scenarios


class ScenarioSettingsTest(parameterized.TestCase):
    @parameterized.parameters(*sorted(scenarios.SCENARIOS))
    def test_preset_is_a_valid_config_recording_its_name(self, name):
        config = scenarios.make_config(name, {})
        self.assertEqual(config.scenario, name)
        flat = config.flat()
        for key, value in scenarios.get(name).settings.items():
            self.assertEqual(flat[key], value, key)

    def test_explicit_settings_win(self):
        config = scenarios.make_config(
            "ecommerce_stores", {"rounds": 3, "model": "neumf"}
        )
        self.assertEqual(config.federated.rounds, 3)
        self.assertEqual(config.model.model, config_lib.ModelType.NEUMF)
        self.assertEqual(config.task, config_lib.Task.IMPLICIT)

    def test_no_scenario_is_the_defaults(self):
        self.assertEqual(scenarios.make_config(None, {}), config_lib.TrainConfig())

    def test_unknown_scenario(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "unknown scenario 'bank'; allowed: ecommerce_stores, news_users, "
            "video_users",
        ):
            scenarios.make_config("bank", {})

    def test_describe_lists_every_setting_by_section(self):
        text = scenarios.describe("news_users")
        lines = text.splitlines()
        for key, value in scenarios.get("news_users").settings.items():
            self.assertIn(f"    --{key}={value}", lines)
        self.assertLess(
            lines.index("  data:"), lines.index("    --split=leave_last_out")
        )
        self.assertLess(lines.index("  model:"), lines.index("    --task=implicit"))


class ScenarioRunTest(parameterized.TestCase, tf.test.TestCase):
    """Each preset runs end to end for one round on synthetic MovieLens files."""

    @parameterized.parameters(*sorted(scenarios.SCENARIOS))
    def test_one_round(self, name):
        tmp = pathlib.Path(self.create_tempdir().full_path)
        data_dir = synthetic.write_ml100k(tmp / "ml-100k", num_users=44, per_user=10)
        overrides = dict(
            data_dir=str(data_dir),
            rounds=1,
            eval_every=1,
            embedding_dim=4,
            eval_negatives=10,
            centralized_epochs=1,
            root_output_dir=str(tmp / "runs"),
        )
        if scenarios.get(name).settings["partition"] == "user":
            overrides["clients_per_round"] = 5
        config = scenarios.make_config(name, overrides)
        results = experiment.run_experiment(config)
        self.assertEqual(results["rounds"], 1)
        metrics = (
            ("test_rmse",)
            if config.task is config_lib.Task.RATING
            else ("hr@10", "sampled_hr@10")
        )
        for key in metrics:
            self.assertTrue(np.isfinite(results[key]), key)
        out = tmp / "runs" / config.experiment_name
        hparams = json.loads((out / "hparams.json").read_text())
        self.assertEqual(hparams["federated"]["rounds"], 1)
        self.assertEqual(hparams["scenario"], name)
        if name == "ecommerce_stores":
            self.assertEqual(results["num_clients"], 10)
            self.assertIn("personalized_sampled_hr@10", results)
            self.assertIn("local_only_sampled_hr@10", results)


if __name__ == "__main__":
    tf.test.main()
