"""Tests of the serving module's signatures on hand-computed fixtures."""

import collections

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec.data import interactions as interactions_lib
from tff_rec.evaluation import rating_metrics
from tff_rec.export import serving
from tff_rec.models import matrix_factorization as mf

# Two users, three items, dimension 2. Predictions b + b_u + b_i + <p_u, q_i>:
#        i0   i1   i2
#   u0  4.6  4.2  3.8
#   u1  4.6  2.7  1.8
USER_IDS = ["u0", "u1"]
ITEM_IDS = ["i0", "i1", "i2"]
P = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
B_U = np.array([0.5, -0.5], np.float32)
Q = np.array([[1.0, 2.0], [0.5, 0.0], [0.0, -1.0]], np.float32)
B_I = np.array([0.1, 0.2, 0.3], np.float32)
B = 3.0


def _with_oov(table):
    return np.concatenate([table, np.zeros((1,) + table.shape[1:], table.dtype)])


def make_module(
    p=P,
    b_u=B_U,
    q=Q,
    b_i=B_I,
    b=B,
    *,
    user_ids=USER_IDS,
    item_ids=ITEM_IDS,
    l2=0.1,
    bias_l2=0.0,
    rating_scale=None,
):
    """A serving module over the given tables (p/b_u None: no user tables)."""
    num_users = 0 if p is None else len(p)
    dim = q.shape[1]
    model = serving.build_inference_model(num_users, len(q), embedding_dim=dim)
    keras_model = model.keras_model
    if p is None:
        p, b_u = np.zeros([0, dim], np.float32), np.zeros([0], np.float32)
        user_ids = []
    tables = {
        mf.USER_EMBEDDING: _with_oov(p),
        mf.USER_BIAS: _with_oov(np.reshape(b_u, [-1, 1])),
        mf.ITEM_EMBEDDING: _with_oov(q),
        mf.ITEM_BIAS: _with_oov(np.reshape(b_i, [-1, 1])),
    }
    for name, table in tables.items():
        keras_model.get_layer(name).set_weights([table])
    keras_model.get_layer(mf.GLOBAL_BIAS).set_weights([np.float32(b)])
    return serving.RecommenderServingModule(
        keras_model,
        user_ids=user_ids,
        item_ids=item_ids,
        l2=l2,
        bias_l2=bias_l2,
        rating_scale=rating_scale,
    )


def random_tables(num_users=7, num_items=40, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        p=rng.normal(size=(num_users, dim)).astype(np.float32),
        b_u=rng.normal(0, 0.3, num_users).astype(np.float32),
        q=rng.normal(size=(num_items, dim)).astype(np.float32),
        b_i=rng.normal(0, 0.3, num_items).astype(np.float32),
        b=3.5,
        user_ids=[f"user {u}" for u in range(num_users)],
        item_ids=[f"item-{i}" for i in range(num_items)],
    )


def _strings(values):
    return tf.constant(values, tf.string, shape=[len(values)])


def _decode(tensor):
    return [v.decode() for v in tensor.numpy()]


class SignatureTypeTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        (
            "serving_default",
            serving.SERVING_DEFAULT,
            {"user_id": (tf.string, [None]), "item_id": (tf.string, [None])},
            {"score": (tf.float32, [None])},
        ),
        (
            "recommend",
            serving.RECOMMEND,
            {
                "user_id": (tf.string, []),
                "k": (tf.int32, []),
                "exclude_item_ids": (tf.string, [None]),
            },
            {"item_ids": (tf.string, [None]), "scores": (tf.float32, [None])},
        ),
        (
            "recommend_from_history",
            serving.RECOMMEND_FROM_HISTORY,
            {
                "history_item_ids": (tf.string, [None]),
                "history_ratings": (tf.float32, [None]),
                "k": (tf.int32, []),
                "exclude_item_ids": (tf.string, [None]),
            },
            {"item_ids": (tf.string, [None]), "scores": (tf.float32, [None])},
        ),
        (
            "score_from_history",
            serving.SCORE_FROM_HISTORY,
            {
                "history_item_ids": (tf.string, [None]),
                "history_ratings": (tf.float32, [None]),
                "item_id": (tf.string, [None]),
            },
            {"score": (tf.float32, [None])},
        ),
    )
    def test_signature_inputs_and_outputs(self, name, inputs, outputs):
        signatures = make_module().signatures()
        self.assertCountEqual(signatures, serving.SIGNATURE_NAMES)
        function = signatures[name]
        args, kwargs = function.structured_input_signature
        self.assertEmpty(kwargs)
        declared = serving.DECLARED_INPUTS[name]
        self.assertEqual(
            {k: (dtype, shape) for k, (dtype, shape) in declared.items()}, inputs
        )
        # The signatures take any shape and check the declared one in the
        # graph (a signature's static shape is not enforced on requests).
        self.assertEqual(
            {spec.name: spec.dtype for spec in args},
            {k: dtype for k, (dtype, _) in inputs.items()},
        )
        for spec in args:
            self.assertIsNone(spec.shape.rank)
        self.assertEqual(
            {
                key: (spec.dtype, spec.shape.as_list())
                for key, spec in function.structured_outputs.items()
            },
            outputs,
        )


class ScoreTest(tf.test.TestCase, parameterized.TestCase):
    def test_known_pairs_match_hand_computed(self):
        module = make_module()
        users = ["u0", "u0", "u0", "u1", "u1", "u1"]
        items = ["i0", "i1", "i2", "i0", "i1", "i2"]
        score = module.score(_strings(users), _strings(items))["score"]
        self.assertAllClose(score, [4.6, 4.2, 3.8, 4.6, 2.7, 1.8])

    @parameterized.named_parameters(
        # OOV user: b + b_i; OOV item: b + b_u; both: b.
        ("oov_user", "nobody", "i1", 3.2),
        ("oov_item", "u1", "unknown", 2.5),
        ("both_oov", "nobody", "unknown", 3.0),
        ("empty_string_ids", "", "", 3.0),
    )
    def test_out_of_vocabulary(self, user, item, expected):
        module = make_module()
        score = module.score(_strings([user]), _strings([item]))["score"]
        self.assertAllClose(score, [expected])

    def test_empty_batch(self):
        module = make_module()
        score = module.score(_strings([]), _strings([]))["score"]
        self.assertEqual(score.shape, [0])

    def test_length_mismatch_fails(self):
        module = make_module()
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "same length"):
            module.score(_strings(["u0"]), _strings(["i0", "i1"]))

    def test_without_user_tables_every_user_is_oov(self):
        module = make_module(p=None, b_u=None)
        score = module.score(_strings(["u0", "u1", "x"]), _strings(["i0", "i2", "?"]))
        self.assertAllClose(score["score"], [3.1, 3.3, 3.0])

    def test_matches_keras_model(self):
        tables = random_tables()
        module = make_module(**tables)
        users, items = np.meshgrid(np.arange(7), np.arange(40), indexing="ij")
        users, items = users.ravel(), items.ravel()
        expected = module.model(
            collections.OrderedDict(
                user=tf.constant(users, tf.int32), item=tf.constant(items, tf.int32)
            )
        )[:, mf.PREDICTION_COLUMN]
        score = module.score(
            _strings([tables["user_ids"][u] for u in users]),
            _strings([tables["item_ids"][i] for i in items]),
        )["score"]
        self.assertAllClose(score, expected)


class RecommendTest(tf.test.TestCase, parameterized.TestCase):
    def recommend(self, module, user, k, exclude=()):
        out = module.recommend(tf.constant(user), tf.constant(k), _strings(exclude))
        return _decode(out["item_ids"]), out["scores"].numpy()

    def test_top_k_hand_computed(self):
        ids, scores = self.recommend(make_module(), "u1", 2)
        self.assertEqual(ids, ["i0", "i1"])
        self.assertAllClose(scores, [4.6, 2.7])

    def test_excludes_items_and_ignores_unknown_exclusions(self):
        ids, scores = self.recommend(make_module(), "u0", 3, ["i0", "i0", "zzz"])
        self.assertEqual(ids, ["i1", "i2"])
        self.assertAllClose(scores, [4.2, 3.8])

    @parameterized.named_parameters(
        ("larger_than_catalogue", 10, [], 3),
        ("larger_than_candidates", 3, ["i1", "i2"], 1),
        ("everything_excluded", 2, ["i0", "i1", "i2"], 0),
    )
    def test_k_is_clamped(self, k, exclude, expected_length):
        ids, scores = self.recommend(make_module(), "u0", k, exclude)
        self.assertLen(ids, expected_length)
        self.assertLen(scores, expected_length)

    @parameterized.parameters(0, -3)
    def test_k_below_one_fails(self, k):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "k must be >= 1"):
            self.recommend(make_module(), "u0", k)

    def test_oov_user_ranks_by_item_bias(self):
        ids, scores = self.recommend(make_module(), "stranger", 3)
        self.assertEqual(ids, ["i2", "i1", "i0"])
        self.assertAllClose(scores, [3.3, 3.2, 3.1])

    @parameterized.parameters(0, 3, 6)
    def test_same_top_k_as_ranking_keras_scores(self, user):
        tables = random_tables()
        module = make_module(**tables)
        keras_scores = module.model.predict(
            collections.OrderedDict(
                user=np.full(40, user, np.int32), item=np.arange(40, dtype=np.int32)
            ),
            verbose=0,
        )[:, mf.PREDICTION_COLUMN]
        order = np.argsort(-keras_scores, kind="stable")[:8]
        ids, scores = self.recommend(module, tables["user_ids"][user], 8)
        self.assertEqual(ids, [tables["item_ids"][i] for i in order])
        self.assertAllClose(scores, keras_scores[order])


class FromHistoryTest(tf.test.TestCase, parameterized.TestCase):
    def reference(self, tables, history_items, history_ratings, *, l2, bias_l2):
        """numpy `reconstruct_users` for one user with the given history."""
        weights = rating_metrics.MatrixFactorizationWeights(
            item_embedding=tables["q"], item_bias=tables["b_i"], global_bias=tables["b"]
        )
        history = interactions_lib.Interactions(
            users=np.zeros(len(history_items), np.int32),
            items=np.asarray(history_items, np.int32),
            ratings=np.asarray(history_ratings, np.float32),
            timestamps=None,
            user_vocab=["someone"],
            item_vocab=tables["item_ids"],
        )
        return rating_metrics.reconstruct_users(
            weights, history, l2=l2, bias_l2=bias_l2
        )

    @parameterized.product(num_history=[1, 12], l2=[0.01, 0.5], bias_l2=[0.0, 0.2])
    def test_matches_reconstruct_users(self, num_history, l2, bias_l2):
        tables = random_tables(seed=num_history)
        module = make_module(**tables, l2=l2, bias_l2=bias_l2)
        rng = np.random.default_rng(num_history)
        items = rng.choice(40, num_history, replace=False)
        ratings = rng.integers(1, 6, num_history).astype(np.float32)
        reconstructed = self.reference(tables, items, ratings, l2=l2, bias_l2=bias_l2)
        all_items = np.arange(40)
        expected = reconstructed.predict(np.zeros(40, np.int64), all_items)
        history_ids = _strings([tables["item_ids"][i] for i in items])
        score = module.score_from_history(
            history_ids,
            tf.constant(ratings),
            _strings([tables["item_ids"][i] for i in all_items]),
        )["score"]
        self.assertAllClose(score, expected, atol=1e-5)
        out = module.recommend_from_history(
            history_ids, tf.constant(ratings), tf.constant(5), _strings([])
        )
        order = np.argsort(-expected, kind="stable")[:5]
        self.assertEqual(
            _decode(out["item_ids"]), [tables["item_ids"][i] for i in order]
        )
        self.assertAllClose(out["scores"], expected[order], atol=1e-5)

    def test_empty_history_is_bias_only(self):
        module = make_module()
        empty = (_strings([]), tf.zeros([0], tf.float32))
        score = module.score_from_history(*empty, _strings(["i0", "i1", "i2", "?"]))
        self.assertAllClose(score["score"], [3.1, 3.2, 3.3, 3.0])
        out = module.recommend_from_history(*empty, tf.constant(5), _strings(["i1"]))
        self.assertEqual(_decode(out["item_ids"]), ["i2", "i0"])
        self.assertAllClose(out["scores"], [3.3, 3.1])

    def test_only_unknown_history_is_bias_only(self):
        module = make_module()
        score = module.score_from_history(
            _strings(["x", "y"]), tf.constant([5.0, 1.0]), _strings(["i0"])
        )
        self.assertAllClose(score["score"], [3.1])

    def test_unknown_history_items_are_ignored(self):
        module = make_module()
        items = _strings(["i0", "i2"])
        clean = module.score_from_history(items, tf.constant([5.0, 2.0]), items)
        noisy = module.score_from_history(
            _strings(["nope", "i0", "", "i2"]), tf.constant([1.0, 5.0, 1.0, 2.0]), items
        )
        self.assertAllClose(noisy["score"], clean["score"])

    def test_history_length_mismatch_fails(self):
        module = make_module()
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "same length"):
            module.score_from_history(
                _strings(["i0"]), tf.constant([4.0, 5.0]), _strings(["i1"])
            )

    def test_k_below_one_fails(self):
        module = make_module()
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "k must be >= 1"):
            module.recommend_from_history(
                _strings(["i0"]), tf.constant([4.0]), tf.constant(0), _strings([])
            )


class SaveLoadTest(tf.test.TestCase):
    def test_loaded_signatures_give_the_same_outputs(self):
        module = make_module()
        path = self.create_tempdir().full_path
        tf.saved_model.save(module, path, signatures=module.signatures())
        loaded = tf.saved_model.load(path)
        self.assertCountEqual(loaded.signatures, serving.SIGNATURE_NAMES)
        requests = {
            serving.SERVING_DEFAULT: dict(
                user_id=_strings(["u0", "x"]), item_id=_strings(["i1", "i1"])
            ),
            serving.RECOMMEND: dict(
                user_id=tf.constant("u1"),
                k=tf.constant(2),
                exclude_item_ids=_strings([]),
            ),
            serving.RECOMMEND_FROM_HISTORY: dict(
                history_item_ids=_strings(["i0"]),
                history_ratings=tf.constant([5.0]),
                k=tf.constant(3),
                exclude_item_ids=_strings(["i0"]),
            ),
            serving.SCORE_FROM_HISTORY: dict(
                history_item_ids=_strings(["i0"]),
                history_ratings=tf.constant([5.0]),
                item_id=_strings(["i0", "i1"]),
            ),
        }
        methods = {
            serving.SERVING_DEFAULT: module.score,
            serving.RECOMMEND: module.recommend,
            serving.RECOMMEND_FROM_HISTORY: module.recommend_from_history,
            serving.SCORE_FROM_HISTORY: module.score_from_history,
        }
        for name, inputs in requests.items():
            expected = methods[name](**inputs)
            actual = loaded.signatures[name](**inputs)
            self.assertCountEqual(actual, expected)
            for key in expected:
                self.assertAllEqual(actual[key], expected[key], msg=f"{name}/{key}")


# Bad requests sent to a SavedModel loaded in a fresh process, as TF Serving
# would receive them: each must fail with an InvalidArgumentError naming the
# input, never answer.
_BAD_REQUESTS = r"""
import json, sys
import tensorflow as tf
signatures = tf.saved_model.load(sys.argv[1]).signatures
none = tf.constant([], tf.string)
history = dict(history_item_ids=tf.constant(["i0"]), k=tf.constant(2),
               exclude_item_ids=none)
requests = {
    "nan_rating": ("recommend_from_history",
                   dict(history, history_ratings=tf.constant([float("nan")]))),
    "inf_rating": ("recommend_from_history",
                   dict(history, history_ratings=tf.constant([float("inf")]))),
    "huge_rating": ("recommend_from_history",
                    dict(history, history_ratings=tf.constant([1e30]))),
    "negative_rating": ("recommend_from_history",
                        dict(history, history_ratings=tf.constant([-100.0]))),
    "score_nan_rating": ("score_from_history", dict(
        history_item_ids=tf.constant(["i0"]),
        history_ratings=tf.constant([float("nan")]),
        item_id=tf.constant(["i1"]))),
    "vector_user_id": ("recommend", dict(
        user_id=tf.constant(["u0", "u1"]), k=tf.constant(2), exclude_item_ids=none)),
    "matrix_exclude": ("recommend", dict(
        user_id=tf.constant("u0"), k=tf.constant(2),
        exclude_item_ids=tf.constant([["i0"]]))),
    "vector_k": ("recommend", dict(
        user_id=tf.constant("u0"), k=tf.constant([2, 3]), exclude_item_ids=none)),
    "scalar_item_id": ("serving_default", dict(
        user_id=tf.constant(["u0"]), item_id=tf.constant("i0"))),
    "good": ("recommend_from_history",
             dict(history, history_ratings=tf.constant([5.0]))),
}
out = {}
for key, (name, inputs) in requests.items():
    try:
        result = signatures[name](**inputs)
        out[key] = "ok " + str([float(v) for v in result.get("scores", result.get(
            "score")).numpy().ravel()])
    except tf.errors.InvalidArgumentError as e:
        out[key] = "InvalidArgumentError " + " ".join(e.message.split())[:3000]
print(json.dumps(out))
"""


class BadRequestTest(tf.test.TestCase, parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import json
        import subprocess
        import sys
        import tempfile

        module = make_module(rating_scale=(1.0, 5.0))
        path = tempfile.mkdtemp()
        tf.saved_model.save(module, path, signatures=module.signatures())
        result = subprocess.run(
            [sys.executable, "-c", _BAD_REQUESTS, path],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        cls.outcomes = json.loads(result.stdout.strip().splitlines()[-1])

    @parameterized.named_parameters(
        ("nan_rating", "history_ratings must be finite"),
        ("inf_rating", "history_ratings must be finite"),
        ("huge_rating", "history_ratings must lie in the rating scale 1..5"),
        ("negative_rating", "history_ratings must lie in the rating scale 1..5"),
        ("score_nan_rating", "history_ratings must be finite"),
        ("vector_user_id", "user_id must be a scalar"),
        ("matrix_exclude", "exclude_item_ids must be a 1-D list"),
        ("vector_k", "k must be a scalar"),
        ("scalar_item_id", "item_id must be a 1-D list"),
    )
    def test_bad_request_fails_naming_the_input(self, message):
        outcome = self.outcomes[self._testMethodName.rsplit("_input_", 1)[-1]]
        self.assertStartsWith(outcome, "InvalidArgumentError")
        self.assertIn(message, outcome)

    def test_good_request_still_answers(self):
        self.assertStartsWith(self.outcomes["good"], "ok ")
        self.assertNotIn("nan", self.outcomes["good"])


if __name__ == "__main__":
    tf.test.main()
