import csv
import json
import pathlib
import tempfile

import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.training import attacks
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer
from tff_rec.training import progress


class MetricsWriterTest(tf.test.TestCase):
    def test_rows_hparams_results_and_tensorboard(self):
        out = pathlib.Path(tempfile.mkdtemp()) / "exp"
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
        out = pathlib.Path(tempfile.mkdtemp())
        with (
            metrics_writer.MetricsWriter(out, ["train_loss"]) as w,
            self.assertRaisesRegex(KeyError, "bogus"),
        ):
            w.write_round(1, {"bogus": 1.0})


class ProgressTest(tf.test.TestCase):
    def test_line_has_count_and_eta(self):
        import io

        stream = io.StringIO()
        p = progress.Progress(10, stream=stream)
        line = p.update(5, "train_loss=1.0")
        self.assertStartsWith(line, "round 5/10 ")
        self.assertIn("ETA", line)
        self.assertEqual(stream.getvalue().strip(), line)

    def test_format_duration(self):
        self.assertEqual(progress.format_duration(5), "5s")
        self.assertEqual(progress.format_duration(125), "2m05s")
        self.assertEqual(progress.format_duration(3725), "1h02m")


class ConfigTest(tf.test.TestCase, parameterized.TestCase):
    def test_strings_become_enums(self):
        config = config_lib.TrainConfig(algorithm="fedavg", partition="iid")
        self.assertIs(config.algorithm, config_lib.Algorithm.FEDAVG)
        self.assertEqual(config.as_dict()["partition"], "iid")
        attacked = config_lib.TrainConfig(malicious_fraction=0.1, attack="scale")
        self.assertIs(attacked.attack, attacks.AttackType.SCALE)
        self.assertEqual(attacked.as_dict()["attack"], "scale")
        self.assertIsNone(config.as_dict()["attack"])

    def test_dataset_epochs(self):
        # Reconstruction repeats its post-reconstruction passes itself; its
        # client datasets hold one pass (else client_epochs would count twice).
        for algorithm, expected in (("fedavg", 3), ("fedrecon", 1)):
            config = config_lib.TrainConfig(algorithm=algorithm, client_epochs=3)
            self.assertEqual(config.dataset_epochs, expected)

    @parameterized.named_parameters(
        ("algorithm", dict(algorithm="sgd"), "unknown algorithm"),
        ("dataset", dict(dataset="netflix"), "unknown dataset"),
        ("rounds", dict(rounds=0), "rounds must be >= 1"),
        ("rate", dict(server_learning_rate=0.0), "server_learning_rate"),
        ("fraction", dict(test_fraction=1.5), "test_fraction"),
        ("name", dict(experiment_name="a/b"), "experiment_name"),
        ("checkpoint_every", dict(checkpoint_every=0), "checkpoint_every"),
        ("dropout", dict(dropout_rate=1.0), r"dropout_rate must be in \[0, 1\)"),
        ("min_clients", dict(min_clients_per_round=51), "exceeds clients_per_round"),
        ("no_attack", dict(malicious_fraction=0.1), "needs an attack"),
        ("no_fraction", dict(attack="nan"), "needs malicious_fraction > 0"),
        ("attack", dict(malicious_fraction=0.1, attack="flip"), "unknown attack"),
        (
            "robust_centralized",
            dict(algorithm="centralized", robust=True),
            "robust only apply to federated",
        ),
    )
    def test_bad_values(self, kwargs, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            config_lib.TrainConfig(**kwargs)


if __name__ == "__main__":
    tf.test.main()
