"""Run directories as `run_experiment` leaves them, for the export tests."""

import json
import pathlib

import numpy as np
import tensorflow as tf
from absl.testing import parameterized


def write_run(
    run_dir,
    *,
    algorithm="centralized",
    num_users=5,
    num_items=8,
    dim=3,
    seed=0,
    drop=(),
    replace=None,
    results=None,
):
    """Writes the files `run_experiment` leaves in a run directory."""
    rng = np.random.default_rng(seed)
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True)
    hparams = {
        "algorithm": algorithm,
        "dataset": "csv",
        "embedding_dim": dim,
        "l2": 0.05,
        "bias_l2": 0.001,
        "centralized_l2": 0.1,
        "split": "holdout",
    }
    item_ids = [f"i{i}" for i in range(num_items)]
    item_ids[1] = "Amélie (2001)"
    vocabularies = {
        "user_ids": [f"u{u}" for u in range(num_users)],
        "item_ids": item_ids,
    }
    arrays = {
        "item_embedding": rng.normal(size=(num_items, dim)).astype(np.float32),
        "item_bias": rng.normal(0, 0.3, num_items).astype(np.float32),
        "global_bias": np.float32(3.5),
    }
    if algorithm != "fedrecon":
        arrays["user_embedding"] = rng.normal(size=(num_users, dim)).astype(np.float32)
        arrays["user_bias"] = rng.normal(0, 0.3, num_users).astype(np.float32)
    for key in drop:
        del arrays[key]
    arrays.update(replace or {})
    if results is None:
        results = {"algorithm": algorithm, "test_rmse": 0.95, "test_mae": 0.75}
    (run_dir / "hparams.json").write_text(json.dumps(hparams))
    (run_dir / "vocabularies.json").write_text(json.dumps(vocabularies))
    (run_dir / "results.json").write_text(json.dumps(results))
    np.savez(run_dir / "final_weights.npz", **arrays)
    return run_dir


class ExportTestCase(tf.test.TestCase, parameterized.TestCase):
    """A fresh temporary folder `tmp`, with `export_dir` inside it."""

    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(self.create_tempdir().full_path)
        self.export_dir = self.tmp / "export"
