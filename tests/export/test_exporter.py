"""Tests of `export_run`: layout, versions, refusals, and the SavedModel of
real training runs loaded in a fresh process."""

import collections
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tests import synthetic
from tests.export import run_dirs
from tff_rec import errors
from tff_rec.data import loaders
from tff_rec.data import splits
from tff_rec.evaluation import rating_metrics
from tff_rec.export import exporter
from tff_rec.export import serving
from tff_rec.models import matrix_factorization as mf

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 300
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def load_weights(run_dir):
    with np.load(pathlib.Path(run_dir) / "final_weights.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["global_bias"] = float(arrays["global_bias"])
    return rating_metrics.MatrixFactorizationWeights(**arrays)


def _strings(values):
    return tf.constant(values, tf.string, shape=[len(values)])


class ExportRunTest(run_dirs.ExportTestCase):
    def test_writes_tf_serving_layout(self):
        run_dir = run_dirs.write_run(self.tmp / "movies")
        path = exporter.export_run(run_dir, self.export_dir)
        self.assertEqual(path, self.export_dir / "movies" / "1")
        for name in (
            "saved_model.pb",
            "variables/variables.index",
            "assets.extra/tf_serving_warmup_requests",
            "model_card.json",
        ):
            self.assertTrue((path / name).is_file(), name)
        # No staging folder is left beside the version.
        self.assertEqual(os.listdir(self.export_dir / "movies"), ["1"])

    def test_versions_increase_and_old_versions_are_kept(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        first = exporter.export_run(run_dir, self.export_dir, model_name="recs")
        second = exporter.export_run(run_dir, self.export_dir, model_name="recs")
        self.assertEqual([first.name, second.name], ["1", "2"])
        self.assertEqual(exporter.existing_versions(self.export_dir / "recs"), [1, 2])
        loaded = tf.saved_model.load(str(first))
        self.assertIn(serving.SERVING_DEFAULT, loaded.signatures)
        explicit = exporter.export_run(
            run_dir, self.export_dir, model_name="recs", version=7
        )
        self.assertEqual(explicit.name, "7")
        following = exporter.export_run(run_dir, self.export_dir, model_name="recs")
        self.assertEqual(following.name, "8")

    def test_existing_or_invalid_version_is_refused(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        exporter.export_run(run_dir, self.export_dir)
        with self.assertRaisesRegex(errors.UserInputError, "version 1 already exists"):
            exporter.export_run(run_dir, self.export_dir, version=1)
        with self.assertRaisesRegex(errors.UserInputError, "version must be >= 1"):
            exporter.export_run(run_dir, self.export_dir, version=0)
        with self.assertRaisesRegex(errors.UserInputError, "model_name"):
            exporter.export_run(run_dir, self.export_dir, model_name="a/b")

    def test_loaded_model_scores_match_the_weights(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        weights = load_weights(run_dir)
        loaded = tf.saved_model.load(str(exporter.export_run(run_dir, self.export_dir)))
        run = exporter.load_run(run_dir)
        users, items = np.meshgrid(np.arange(5), np.arange(8), indexing="ij")
        users, items = users.ravel(), items.ravel()
        score = loaded.signatures[serving.SERVING_DEFAULT](
            user_id=_strings([run.user_ids[u] for u in users]),
            item_id=_strings([run.item_ids[i] for i in items]),
        )["score"]
        self.assertAllClose(score, weights.predict(users, items), atol=1e-6)
        oov = loaded.signatures[serving.SERVING_DEFAULT](
            user_id=_strings(["nobody", "u2", "nobody"]),
            item_id=_strings(["i3", "nothing", "nothing"]),
        )["score"]
        b = weights.global_bias
        self.assertAllClose(
            oov, [b + weights.item_bias[3], b + weights.user_bias[2], b], atol=1e-6
        )

    def test_reconstruction_run_treats_users_as_oov(self):
        run_dir = run_dirs.write_run(self.tmp / "recon", algorithm="fedrecon")
        weights = load_weights(run_dir)
        path = exporter.export_run(run_dir, self.export_dir)
        loaded = tf.saved_model.load(str(path))
        score = loaded.signatures[serving.SERVING_DEFAULT](
            user_id=_strings(["u0", "u4"]), item_id=_strings(["i0", "i5"])
        )["score"]
        self.assertAllClose(
            score, weights.global_bias + weights.item_bias[[0, 5]], atol=1e-6
        )
        card = json.loads((path / "model_card.json").read_text())
        self.assertFalse(card["user_tables"])
        self.assertEqual(card["history_ridge"], {"l2": 0.05, "bias_l2": 0.001})

    def test_weights_go_through_model_weights_assign(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        original = tff.learning.models.ModelWeights.assign_weights_to
        with mock.patch.object(
            tff.learning.models.ModelWeights,
            "assign_weights_to",
            autospec=True,
            side_effect=original,
        ) as assign:
            module = exporter.build_serving_module(exporter.load_run(run_dir))
        assign.assert_called_once()
        model_weights, keras_model = assign.call_args.args
        self.assertIs(keras_model, module.model)
        self.assertLen(model_weights.trainable, len(keras_model.trainable_weights))
        self.assertLen(
            model_weights.non_trainable, len(keras_model.non_trainable_weights)
        )

    @parameterized.named_parameters(
        ("missing_item_bias", dict(drop=["item_bias"]), "item_bias/embeddings"),
        ("missing_user_table", dict(drop=["user_embedding"]), "user_embedding"),
        (
            "missing_item_table_reconstruction",
            dict(algorithm="fedrecon", drop=["item_embedding"]),
            "item_embedding",
        ),
        ("missing_global_bias", dict(drop=["global_bias"]), "global_bias/bias"),
        (
            "wrong_embedding_dim",
            dict(replace={"item_embedding": np.zeros([8, 5], np.float32)}),
            r"shape \(8, 5\), expected \(8, 3\)",
        ),
        (
            "wrong_user_count",
            dict(replace={"user_bias": np.zeros([4], np.float32)}),
            r"'user_bias' has shape \(4,\)",
        ),
        (
            "non_finite",
            dict(replace={"item_bias": np.full([8], np.nan, np.float32)}),
            "non-finite",
        ),
    )
    def test_unassigned_variable_is_refused(self, run_kwargs, message):
        run_dir = run_dirs.write_run(self.tmp / "bad", **run_kwargs)
        with self.assertRaisesRegex(errors.UserInputError, "unassigned") as raised:
            exporter.export_run(run_dir, self.export_dir)
        self.assertRegex(str(raised.exception), message)
        self.assertEqual(exporter.existing_versions(self.export_dir / "bad"), [])

    def test_failed_save_leaves_no_version_folder(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        exporter.export_run(run_dir, self.export_dir)

        def crash(module, path, signatures):
            pathlib.Path(path, "saved_model.pb").write_bytes(b"half")
            raise OSError("disk full")

        with (
            mock.patch.object(tf.saved_model, "save", side_effect=crash),
            self.assertRaisesRegex(OSError, "disk full"),
        ):
            exporter.export_run(run_dir, self.export_dir)
        self.assertEqual(os.listdir(self.export_dir / "run"), ["1"])

    @parameterized.named_parameters(
        ("no_directory", None, "does not exist"),
        ("no_weights", "final_weights.npz", "no final_weights.npz"),
        ("no_vocabularies", "vocabularies.json", "no vocabularies.json"),
        ("no_hparams", "hparams.json", "no hparams.json"),
    )
    def test_incomplete_run_directory_is_refused(self, missing, message):
        run_dir = self.tmp / "run"
        if missing is not None:
            run_dirs.write_run(run_dir)
            (run_dir / missing).unlink()
        with self.assertRaisesRegex(errors.UserInputError, message):
            exporter.export_run(run_dir, self.export_dir)
        self.assertFalse((self.export_dir / "run").exists())

    def test_malformed_json_is_refused(self):
        run_dir = run_dirs.write_run(self.tmp / "run")
        (run_dir / "hparams.json").write_text("{not json")
        with self.assertRaisesRegex(errors.DataFormatError, "hparams.json:1"):
            exporter.export_run(run_dir, self.export_dir)


# Loads exports in a process that never imported tff_rec, runs the requests
# of a JSON file and writes the outputs as JSON.
_FRESH_PROCESS_SCRIPT = """
import json, sys
import tensorflow as tf
assert "tff_rec" not in sys.modules
requests = json.load(open(sys.argv[1]))
models, outputs = {}, []
for request in requests:
    if request["export"] not in models:
        models[request["export"]] = tf.saved_model.load(request["export"])
    signature = models[request["export"]].signatures[request["signature"]]
    _, specs = signature.structured_input_signature
    inputs = {
        name: tf.constant(request["inputs"][name], spec.dtype)
        for name, spec in specs.items()
    }
    outputs.append({
        key: [v.decode() if isinstance(v, bytes) else float(v)
              for v in value.numpy().ravel()]
        for key, value in signature(**inputs).items()
    })
json.dump(outputs, open(sys.argv[2], "w"))
"""


def run_train(*flags):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.train", *flags],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def run_saved_model_cli(*args):
    executable = shutil.which(
        "saved_model_cli", path=str(pathlib.Path(sys.executable).parent)
    ) or shutil.which("saved_model_cli")
    return subprocess.run(
        [executable, *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


class TrainedRunExportTest(tf.test.TestCase, parameterized.TestCase):
    """Trains centralized and fedrecon runs, exports them, loads them fresh."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = pathlib.Path(tempfile.mkdtemp())
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        csv = synthetic.write_csv(cls.tmp / "ratings.csv", num_users=24)
        cls.runs, cls.exports, cls.weights, cls.results = {}, {}, {}, {}
        for algorithm in ("centralized", "fedrecon"):
            result = run_train(
                "--dataset=csv",
                f"--data_dir={csv}",
                f"--root_output_dir={cls.tmp / 'runs'}",
                "--rounds=2",
                "--clients_per_round=4",
                "--eval_every=1",
                "--embedding_dim=4",
                "--centralized_epochs=2",
                "--nobaselines",
                f"--algorithm={algorithm}",
                f"--experiment_name={algorithm}",
            )
            assert result.returncode == 0, result.stderr[-3000:]
            run_dir = cls.tmp / "runs" / algorithm
            cls.runs[algorithm] = exporter.load_run(run_dir)
            cls.exports[algorithm] = exporter.export_run(run_dir, cls.tmp / "export")
            cls.weights[algorithm] = load_weights(run_dir)
            cls.results[algorithm] = json.loads((run_dir / "results.json").read_text())
        # The split the pipeline trained and evaluated on.
        cls.interactions = loaders.load_dataset("csv", csv)
        cls.split = splits.make_split(
            cls.interactions, "holdout", seed=0, test_fraction=0.2
        )
        cls.requests = []
        cls._add_requests()
        requests_path = cls.tmp / "requests.json"
        outputs_path = cls.tmp / "outputs.json"
        requests_path.write_text(json.dumps([r for _, r in cls.requests]))
        result = subprocess.run(
            [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, requests_path, outputs_path],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs = json.loads(outputs_path.read_text())
        cls.outputs = collections.defaultdict(list)
        for (tag, _), output in zip(cls.requests, outputs, strict=True):
            cls.outputs[tag].append(output)

    @classmethod
    def _request(cls, tag, algorithm, signature, **inputs):
        cls.requests.append(
            (
                tag,
                {
                    "export": str(cls.exports[algorithm]),
                    "signature": signature,
                    "inputs": inputs,
                },
            )
        )

    @classmethod
    def _add_requests(cls):
        vocab_users = cls.interactions.user_vocab
        vocab_items = cls.interactions.item_vocab
        test, train = cls.split.test, cls.split.train
        for algorithm in ("centralized", "fedrecon"):
            cls._request(
                f"{algorithm}/test_scores",
                algorithm,
                serving.SERVING_DEFAULT,
                user_id=[vocab_users[u] for u in test.users],
                item_id=[vocab_items[i] for i in test.items],
            )
            for user in np.unique(test.users):
                history = train.users == user
                cls._request(
                    f"{algorithm}/history_scores",
                    algorithm,
                    serving.SCORE_FROM_HISTORY,
                    history_item_ids=[vocab_items[i] for i in train.items[history]],
                    history_ratings=train.ratings[history].tolist(),
                    item_id=[vocab_items[i] for i in test.items[test.users == user]],
                )
            for user in (0, 7, 23):
                history_items = [
                    vocab_items[i] for i in train.items[train.users == user]
                ]
                cls._request(
                    f"{algorithm}/recommend_from_history",
                    algorithm,
                    serving.RECOMMEND_FROM_HISTORY,
                    history_item_ids=history_items,
                    history_ratings=train.ratings[train.users == user].tolist(),
                    k=5,
                    exclude_item_ids=history_items,
                )
            cls._request(
                f"{algorithm}/recommend_empty_history",
                algorithm,
                serving.RECOMMEND_FROM_HISTORY,
                history_item_ids=[],
                history_ratings=[],
                k=4,
                exclude_item_ids=[],
            )
        for user in (0, 7, 23):
            cls._request(
                "centralized/recommend",
                "centralized",
                serving.RECOMMEND,
                user_id=vocab_users[user],
                k=5,
                exclude_item_ids=[],
            )
        cls._request(
            "centralized/recommend_all",
            "centralized",
            serving.RECOMMEND,
            user_id=vocab_users[3],
            k=1000,
            exclude_item_ids=[vocab_items[0], vocab_items[5], "not-an-item"],
        )
        cls._request(
            "centralized/oov",
            "centralized",
            serving.SERVING_DEFAULT,
            user_id=["unknown-user", vocab_users[2], "unknown-user"],
            item_id=[vocab_items[4], "unknown-item", "unknown-item"],
        )

    def test_vocabularies_match_the_pipeline_data(self):
        for run in self.runs.values():
            self.assertEqual(run.user_ids, list(self.interactions.user_vocab))
            self.assertEqual(run.item_ids, list(self.interactions.item_vocab))

    def test_serving_default_reproduces_the_run_test_rmse(self):
        (output,) = self.outputs["centralized/test_scores"]
        rmse = rating_metrics.from_predictions(
            self.split.test.ratings, output["score"]
        ).rmse
        self.assertAlmostEqual(
            rmse, self.results["centralized"]["test_rmse"], delta=1e-5
        )
        expected = rating_metrics.evaluate_global_model(
            self.weights["centralized"], self.split.test
        )
        self.assertAlmostEqual(rmse, expected.rmse, delta=1e-5)

    def test_reconstruction_serving_default_is_bias_only(self):
        (output,) = self.outputs["fedrecon/test_scores"]
        weights = self.weights["fedrecon"]
        self.assertAllClose(
            output["score"],
            weights.global_bias + weights.item_bias[self.split.test.items],
            atol=1e-5,
        )

    @parameterized.parameters("centralized", "fedrecon")
    def test_history_scores_match_evaluate_reconstruction(self, algorithm):
        test = self.split.test
        ratings = np.concatenate(
            [test.ratings[test.users == user] for user in np.unique(test.users)]
        )
        scores = np.concatenate(
            [output["score"] for output in self.outputs[f"{algorithm}/history_scores"]]
        )
        rmse = rating_metrics.from_predictions(ratings, scores).rmse
        l2, bias_l2 = self.runs[algorithm].ridge
        expected = rating_metrics.evaluate_reconstruction(
            item_side(self.weights[algorithm]),
            self.split.train,
            test,
            l2=l2,
            bias_l2=bias_l2,
        )
        self.assertAlmostEqual(rmse, expected.rmse, delta=1e-3)
        if algorithm == "fedrecon":
            self.assertAlmostEqual(
                rmse, self.results["fedrecon"]["test_rmse"], delta=1e-3
            )

    def test_recommend_matches_keras_ranking(self):
        weights = self.weights["centralized"]
        model = mf.build_matrix_factorization(24, 20, embedding_dim=4)
        keras_model = model.keras_model
        keras_model.get_layer(mf.USER_EMBEDDING).set_weights([weights.user_embedding])
        keras_model.get_layer(mf.USER_BIAS).set_weights([weights.user_bias[:, None]])
        keras_model.get_layer(mf.ITEM_EMBEDDING).set_weights([weights.item_embedding])
        keras_model.get_layer(mf.ITEM_BIAS).set_weights([weights.item_bias[:, None]])
        keras_model.get_layer(mf.GLOBAL_BIAS).set_weights(
            [np.float32(weights.global_bias)]
        )
        items = self.interactions.item_vocab
        for user, output in zip(
            (0, 7, 23), self.outputs["centralized/recommend"], strict=True
        ):
            scores = keras_model.predict(
                collections.OrderedDict(
                    user=np.full(20, user, np.int32), item=np.arange(20, dtype=np.int32)
                ),
                verbose=0,
            )[:, mf.PREDICTION_COLUMN]
            order = np.argsort(-scores, kind="stable")[:5]
            self.assertEqual(output["item_ids"], [items[i] for i in order])
            self.assertAllClose(output["scores"], scores[order], atol=1e-5)

    def test_k_larger_than_catalogue_is_clamped(self):
        (output,) = self.outputs["centralized/recommend_all"]
        # 20 items, two of them excluded (the unknown exclusion is ignored).
        self.assertLen(output["item_ids"], 18)
        self.assertNotIn(self.interactions.item_vocab[0], output["item_ids"])
        self.assertNotIn(self.interactions.item_vocab[5], output["item_ids"])
        self.assertEqual(output["scores"], sorted(output["scores"], reverse=True))

    @parameterized.parameters("centralized", "fedrecon")
    def test_recommend_from_history_matches_reconstruction(self, algorithm):
        l2, bias_l2 = self.runs[algorithm].ridge
        weights = rating_metrics.reconstruct_users(
            item_side(self.weights[algorithm]),
            self.split.train,
            l2=l2,
            bias_l2=bias_l2,
        )
        items = self.interactions.item_vocab
        train = self.split.train
        for user, output in zip(
            (0, 7, 23), self.outputs[f"{algorithm}/recommend_from_history"], strict=True
        ):
            scores = weights.predict(np.full(20, user), np.arange(20))
            scores[train.items[train.users == user]] = -np.inf
            order = np.argsort(-scores, kind="stable")[:5]
            self.assertEqual(output["item_ids"], [items[i] for i in order])
            self.assertAllClose(output["scores"], scores[order], atol=1e-4)

    @parameterized.parameters("centralized", "fedrecon")
    def test_empty_history_ranks_by_item_bias(self, algorithm):
        (output,) = self.outputs[f"{algorithm}/recommend_empty_history"]
        weights = self.weights[algorithm]
        # float32 like the graph: adding b can make close item biases tie, and
        # ties rank the lower row first.
        scores = np.float32(weights.global_bias) + weights.item_bias
        order = np.argsort(-scores, kind="stable")[:4]
        self.assertEqual(
            output["item_ids"], [self.interactions.item_vocab[i] for i in order]
        )
        self.assertAllClose(output["scores"], scores[order], atol=1e-5)

    def test_out_of_vocabulary_user_and_item(self):
        (output,) = self.outputs["centralized/oov"]
        weights = self.weights["centralized"]
        b = weights.global_bias
        self.assertAllClose(
            output["score"],
            [b + weights.item_bias[4], b + weights.user_bias[2], b],
            atol=1e-5,
        )

    def test_saved_model_cli_show_lists_signatures(self):
        result = run_saved_model_cli(
            "show", "--dir", str(self.exports["centralized"]), "--all"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        for name in serving.SIGNATURE_NAMES:
            self.assertIn(f"signature_def['{name}']", result.stdout)
        self.assertIn("DT_STRING", result.stdout)

    def test_saved_model_cli_run_serving_default(self):
        users, items = self.interactions.user_vocab, self.interactions.item_vocab
        result = run_saved_model_cli(
            "run",
            "--dir",
            str(self.exports["centralized"]),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f'user_id=["{users[3]}"];item_id=["{items[5]}"]',
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        match = re.search(r"Result for output key score:\s*\[([^\]]+)\]", result.stdout)
        self.assertIsNotNone(match, result.stdout)
        expected = self.weights["centralized"].predict(np.array([3]), np.array([5]))
        self.assertAllClose([float(match.group(1))], expected, atol=1e-4)

    def test_saved_model_cli_run_recommend_from_history(self):
        items = self.interactions.item_vocab
        result = run_saved_model_cli(
            "run",
            "--dir",
            str(self.exports["fedrecon"]),
            "--tag_set",
            "serve",
            "--signature_def",
            "recommend_from_history",
            "--input_exprs",
            f'history_item_ids=["{items[0]}","{items[1]}"];'
            "history_ratings=[5.0,1.0];k=3;exclude_item_ids=[]",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn("Result for output key item_ids", result.stdout)
        self.assertIn("Result for output key scores", result.stdout)


def item_side(weights):
    return rating_metrics.MatrixFactorizationWeights(
        item_embedding=weights.item_embedding,
        item_bias=weights.item_bias,
        global_bias=weights.global_bias,
    )


if __name__ == "__main__":
    tf.test.main()
