"""Tests of the `model_card.json` that `export_run` writes."""

import json

import tensorflow as tf
from absl.testing import parameterized

from tests.export import run_dirs
from tff_rec.export import exporter
from tff_rec.export import serving


class ModelCardTest(run_dirs.ExportTestCase):
    @parameterized.named_parameters(
        ("with_privacy", {"epsilon": 3.2, "delta": 1e-5}, 3.2, 1e-5),
        ("without_privacy", {}, None, None),
    )
    def test_model_card(self, privacy, epsilon, delta):
        results = {
            "algorithm": "centralized",
            "test_rmse": 0.93,
            "test_mae": 0.72,
            "centralized_test_rmse": 0.91,
            "wall_seconds": 3.0,
            **privacy,
        }
        run_dir = run_dirs.write_run(self.tmp / "run", results=results)
        path = exporter.export_run(run_dir, self.export_dir, model_name="m")
        card = json.loads((path / "model_card.json").read_text())
        self.assertEqual(card["model_name"], "m")
        self.assertEqual(card["version"], 1)
        self.assertEqual(card["dataset"], "csv")
        self.assertEqual(card["algorithm"], "centralized")
        self.assertEqual(
            card["metrics"],
            {"test_rmse": 0.93, "test_mae": 0.72, "centralized_test_rmse": 0.91},
        )
        self.assertEqual(card["privacy"], {"epsilon": epsilon, "delta": delta})
        self.assertEqual((card["num_users"], card["num_items"]), (5, 8))
        self.assertEqual(card["embedding_dim"], 3)
        self.assertTrue(card["user_tables"])
        # Centralized runs train with centralized_l2.
        self.assertEqual(card["history_ridge"], {"l2": 0.1, "bias_l2": 0.001})
        self.assertCountEqual(card["signatures"], serving.SIGNATURE_NAMES)
        self.assertEqual(
            card["signatures"][serving.RECOMMEND]["inputs"],
            {
                "user_id": {"dtype": "string", "shape": []},
                "k": {"dtype": "int32", "shape": []},
                "exclude_item_ids": {"dtype": "string", "shape": [None]},
            },
        )
        self.assertEqual(
            card["signatures"][serving.SERVING_DEFAULT]["outputs"],
            {"score": {"dtype": "float32", "shape": [None]}},
        )


if __name__ == "__main__":
    tf.test.main()
