"""Run outputs: metrics rows, hparams, results, arrays, resuming."""

import csv
import json
import pathlib

import tensorflow as tf

from tff_rec.training import metrics_writer


class MetricsWriterTest(tf.test.TestCase):
    def test_rows_hparams_results_and_tensorboard(self):
        out = pathlib.Path(self.create_tempdir().full_path) / "exp"
        with metrics_writer.MetricsWriter(out, ["train_loss", "test_rmse"]) as w:
            w.write_hparams({"rounds": 2})
            w.write_round(1, {"train_loss": 1.5})
            w.write_round(2, {"train_loss": 1.2, "test_rmse": 0.9})
            w.write_results({"test_rmse": 0.9, "nan": float("nan")})
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(rows[0], {"round": "1", "train_loss": "1.5", "test_rmse": ""})
        self.assertEqual(rows[1]["test_rmse"], "0.9")
        self.assertEqual(json.loads((out / "hparams.json").read_text()), {"rounds": 2})
        results = json.loads((out / "results.json").read_text())
        self.assertEqual(results, {"test_rmse": 0.9, "nan": None})
        self.assertNotEmpty(list((out / "tensorboard").glob("events.out.tfevents*")))

    def test_unknown_metric_rejected(self):
        out = pathlib.Path(self.create_tempdir().full_path)
        with (
            metrics_writer.MetricsWriter(out, ["train_loss"]) as w,
            self.assertRaisesRegex(KeyError, "bogus"),
        ):
            w.write_round(1, {"bogus": 1.0})


class MetricsWriterResumeTest(tf.test.TestCase):
    def test_rows_after_the_checkpoint_are_dropped(self):
        out = pathlib.Path(self.create_tempdir().full_path)
        with metrics_writer.MetricsWriter(out, ["train_loss", "clients"]) as writer:
            for round_num in range(1, 5):
                writer.write_round(
                    round_num, {"train_loss": round_num / 10, "clients": 4}
                )
        with metrics_writer.MetricsWriter(
            out, ["train_loss", "clients"], resume_after=2
        ) as writer:
            self.assertEqual(
                writer.previous_rows,
                [
                    {"round": 1, "train_loss": 0.1, "clients": 4.0},
                    {"round": 2, "train_loss": 0.2, "clients": 4.0},
                ],
            )
            writer.write_round(3, {"train_loss": 0.35, "clients": 4})
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["round"] for r in rows], ["1", "2", "3"])
        self.assertEqual([r["clients"] for r in rows], ["4", "4", "4"])
        self.assertEqual(rows[2]["train_loss"], "0.35")


class ReadersTest(tf.test.TestCase):
    def test_hparams_sections_are_merged(self):
        path = pathlib.Path(self.create_tempdir().full_path) / "hparams.json"
        metrics_writer.write_json(
            path, {"model": {"l2": 0.1}, "federated": {"rounds": 3}, "seed": 2}
        )
        self.assertEqual(
            metrics_writer.read_hparams(path), {"l2": 0.1, "rounds": 3, "seed": 2}
        )
        # Runs written before the sections.
        metrics_writer.write_json(path, {"l2": 0.1, "model": "mf"})
        self.assertEqual(metrics_writer.read_hparams(path), {"l2": 0.1, "model": "mf"})

    def test_arrays_round_trip(self):
        path = pathlib.Path(self.create_tempdir().full_path) / "w.npz"
        metrics_writer.write_arrays(path, {"a": [1.0, 2.0], "b": 3})
        arrays = metrics_writer.read_arrays(path)
        self.assertAllEqual(arrays["a"], [1.0, 2.0])
        self.assertEqual(float(arrays["b"]), 3.0)
        self.assertEqual(sorted(p.name for p in path.parent.iterdir()), ["w.npz"])


if __name__ == "__main__":
    tf.test.main()
