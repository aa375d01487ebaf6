import math
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.evaluation import ranking_metrics

LOG2_3 = math.log2(3)


def _table(users, items, num_users, num_items):
    return interactions_lib.Interactions(
        users=np.array(users, np.int32),
        items=np.array(items, np.int32),
        ratings=np.ones(len(users), np.float32),
        timestamps=None,
        user_vocab=tuple(str(u) for u in range(num_users)),
        item_vocab=tuple(str(i) for i in range(num_items)),
    )


# Two users, five items. User 0 trained on item 0 and is tested on {1, 3};
# user 1 trained on {1, 2} and is tested on {4}.
TRAIN = _table([0, 1, 1], [0, 1, 2], 2, 5)
TEST = _table([0, 0, 1], [1, 3, 4], 2, 5)
SCORES = np.array(
    [
        # Item 0 (trained on) scores highest but is not a candidate. Candidates
        # ranked: 3 (0.6), 2 (0.55), 1 (0.5), 4 (0.1): test items at ranks 1, 3.
        [0.9, 0.5, 0.55, 0.6, 0.1],
        # Items 1, 2 are excluded. Candidates 3 (0.4), 4 (0.4), 0 (0.2): the
        # test item 4 ties with 3, so its pessimistic rank is 2.
        [0.2, 0.9, 0.8, 0.4, 0.4],
    ]
)


def _fixed_scores(users):
    return SCORES[users]


def _random_split(seed=0, num_users=50, num_items=200):
    """Train and test tables with disjoint items per user; users 0, 1 untested."""
    rng = np.random.default_rng(seed)
    train_users, train_items, test_users, test_items = [], [], [], []
    for user in range(num_users):
        items = rng.choice(num_items, size=rng.integers(3, 30), replace=False)
        num_test = 0 if user < 2 else int(rng.integers(1, 5))
        train_users += [user] * (len(items) - num_test)
        train_items += list(items[num_test:])
        test_users += [user] * num_test
        test_items += list(items[:num_test])
    return (
        _table(train_users, train_items, num_users, num_items),
        _table(test_users, test_items, num_users, num_items),
    )


def _brute_force(train, test, negatives_of, scores, k):
    """Per-user metrics from the definitions, one loop per item."""
    out = {}
    for user in sorted(set(test.users.tolist())):
        trained = set(train.items[train.users == user].tolist())
        tested = sorted(set(test.items[test.users == user].tolist()))
        candidates = [i for i in range(train.num_items) if i not in trained]
        candidates = sorted(set(candidates) | set(tested))
        s = scores[user]
        hits, dcg, sampled_hits, sampled_dcg = 0, 0.0, 0.0, 0.0
        for item in tested:
            rank = sum(1 for c in candidates if s[c] >= s[item])
            if rank <= k:
                hits += 1
                dcg += 1 / math.log2(rank + 1)
            sampled_rank = 1 + sum(
                1 for c in negatives_of(user, item) if s[c] >= s[item]
            )
            if sampled_rank <= k:
                sampled_hits += 1
                sampled_dcg += 1 / math.log2(sampled_rank + 1)
        idcg = sum(1 / math.log2(i + 1) for i in range(1, min(k, len(tested)) + 1))
        out[user] = {
            f"hr@{k}": float(hits > 0),
            f"ndcg@{k}": dcg / idcg,
            f"recall@{k}": hits / len(tested),
            f"sampled_hr@{k}": sampled_hits / len(tested),
            f"sampled_ndcg@{k}": sampled_dcg / len(tested),
        }
    return out


class HandComputedTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        # Two negatives leave no choice: user 0 can only get {2, 4}, user 1
        # only {0, 3}.
        self.evaluator = ranking_metrics.RankingEvaluator(
            TRAIN, TEST, top_k=(1, 2, 3), num_negatives=2
        )

    def test_full_ranking_per_user(self):
        per_user = self.evaluator.per_user(_fixed_scores)
        self.assertAllEqual(per_user["users"], [0, 1])
        # User 0: ranks 1 and 3 of 2 test items. User 1: rank 2 (tie) of 1.
        self.assertAllClose(per_user["hr@1"], [1.0, 0.0])
        self.assertAllClose(per_user["hr@2"], [1.0, 1.0])
        # IDCG@2 is 1 + 1/log2(3) for user 0 and 1 for user 1.
        self.assertAllClose(per_user["ndcg@2"], [1 / (1 + 1 / LOG2_3), 1 / LOG2_3])
        self.assertAllClose(per_user["recall@2"], [0.5, 1.0])
        # Rank 3 enters at K = 3: DCG 1 + 1/log2(4).
        self.assertAllClose(per_user["ndcg@3"], [1.5 / (1 + 1 / LOG2_3), 1 / LOG2_3])
        self.assertAllClose(per_user["recall@3"], [1.0, 1.0])

    def test_full_ranking_means(self):
        metrics = self.evaluator.evaluate(_fixed_scores)
        self.assertEqual(metrics["num_users"], 2)
        self.assertAlmostEqual(metrics["hr@1"], 0.5)
        self.assertAlmostEqual(metrics["ndcg@1"], 0.5)
        self.assertAlmostEqual(metrics["hr@2"], 1.0)
        self.assertAlmostEqual(
            metrics["ndcg@2"], (1 / (1 + 1 / LOG2_3) + 1 / LOG2_3) / 2
        )
        self.assertAlmostEqual(metrics["recall@2"], 0.75)

    def test_sampled_metrics(self):
        self.assertAllEqual(self.evaluator.test_users, [0, 0, 1])
        self.assertAllEqual(self.evaluator.test_items, [1, 3, 4])
        negatives = [sorted(row) for row in self.evaluator.sampled_negatives.tolist()]
        self.assertEqual(negatives, [[2, 4], [2, 4], [0, 3]])
        metrics = self.evaluator.evaluate(_fixed_scores)
        # User 0: item 1 (0.5) loses to 2 (0.55): rank 2; item 3 (0.6) rank 1.
        # User 1: item 4 (0.4) ties with 3 (0.4): rank 2.
        self.assertAlmostEqual(metrics["sampled_hr@1"], (0.5 + 0.0) / 2)
        self.assertAlmostEqual(metrics["sampled_ndcg@1"], (0.5 + 0.0) / 2)
        self.assertAlmostEqual(metrics["sampled_hr@2"], 1.0)
        self.assertAlmostEqual(
            metrics["sampled_ndcg@2"], ((1 / LOG2_3 + 1) / 2 + 1 / LOG2_3) / 2
        )

    def test_metric_names(self):
        self.assertEqual(
            list(self.evaluator.evaluate(_fixed_scores)),
            ranking_metrics.metric_names((1, 2, 3)) + ["num_users"],
        )
        self.assertEqual(
            ranking_metrics.metric_names(5),
            ["hr@5", "ndcg@5", "recall@5", "sampled_hr@5", "sampled_ndcg@5"],
        )

    def test_too_few_items_to_sample(self):
        with self.assertRaisesRegex(
            errors.UserInputError, r"num_negatives=3.*2 of the 2 evaluated.*5 items"
        ):
            ranking_metrics.RankingEvaluator(TRAIN, TEST, num_negatives=3)

    def test_nan_scores_give_nan_metrics_and_warn(self):
        def nan_scores(users):
            scores = SCORES[users].copy()
            scores[0, 4] = np.nan
            return scores

        with self.assertWarnsRegex(UserWarning, "NaN"):
            metrics = self.evaluator.evaluate(nan_scores)
        self.assertEqual(metrics["num_users"], 2)
        for name in ranking_metrics.metric_names((1, 2, 3)):
            self.assertTrue(np.isnan(metrics[name]), name)

    def test_wrong_score_shape_raises(self):
        with self.assertRaisesRegex(ValueError, r"shape \(2, 4\).*expected \(2, 5\)"):
            self.evaluator.evaluate(lambda users: SCORES[users, :4])

    @parameterized.named_parameters(
        ("zero_top_k", dict(top_k=0), "top_k"),
        ("empty_top_k", dict(top_k=[]), "top_k"),
        ("bool_top_k", dict(top_k=True), "top_k"),
        ("zero_negatives", dict(num_negatives=0), "num_negatives"),
        ("zero_batch", dict(batch_users=0), "batch_users"),
    )
    def test_invalid_options_raise(self, kwargs, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            ranking_metrics.RankingEvaluator(
                TRAIN, TEST, **({"num_negatives": 1} | kwargs)
            )

    def test_test_outside_train_id_space_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "6 items.*5"):
            ranking_metrics.RankingEvaluator(
                TRAIN, _table([0], [5], 2, 6), num_negatives=1
            )
        with self.assertRaisesRegex(errors.UserInputError, "user ids"):
            ranking_metrics.RankingEvaluator(
                TRAIN, _table([2], [4], 3, 5), num_negatives=1
            )


class RandomDataTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.train, self.test = _random_split()
        self.evaluator = ranking_metrics.RankingEvaluator(
            self.train, self.test, top_k=(1, 5, 10), batch_users=7
        )

    def _interacted(self, user):
        return set(self.train.items[self.train.users == user].tolist()) | set(
            self.test.items[self.test.users == user].tolist()
        )

    def test_negatives_exclude_train_and_test_items(self):
        negatives = self.evaluator.sampled_negatives
        self.assertEqual(negatives.shape, (len(self.test), 99))
        for user, row in zip(self.evaluator.test_users, negatives, strict=True):
            self.assertLen(set(row.tolist()), 99)
            self.assertEmpty(set(row.tolist()) & self._interacted(user))
            self.assertTrue(np.all((row >= 0) & (row < 200)))

    def test_negatives_depend_only_on_seed(self):
        again = ranking_metrics.RankingEvaluator(
            self.train, self.test, top_k=(1, 5, 10)
        )
        other = ranking_metrics.RankingEvaluator(self.train, self.test, seed=1)
        self.assertAllEqual(again.sampled_negatives, self.evaluator.sampled_negatives)
        self.assertNotAllEqual(
            other.sampled_negatives, self.evaluator.sampled_negatives
        )

    def test_test_pairs_and_users(self):
        self.assertAllEqual(self.evaluator.users, np.arange(2, 50))
        pairs = sorted(
            zip(self.test.users.tolist(), self.test.items.tolist(), strict=True)
        )
        self.assertEqual(
            list(
                zip(
                    self.evaluator.test_users.tolist(),
                    self.evaluator.test_items.tolist(),
                    strict=True,
                )
            ),
            pairs,
        )

    @parameterized.named_parameters(("continuous", 0), ("many_ties", 1))
    def test_matches_brute_force(self, ties):
        scores = np.random.default_rng(3).normal(size=(50, 200))
        if ties:
            scores = np.round(scores)
        evaluator = self.evaluator
        rows = {
            (u, i): r
            for r, (u, i) in enumerate(
                zip(
                    evaluator.test_users.tolist(),
                    evaluator.test_items.tolist(),
                    strict=True,
                )
            )
        }

        def negatives_of(user, item):
            return evaluator.sampled_negatives[rows[(user, item)]].tolist()

        per_user = evaluator.per_user(lambda users: scores[users])
        for k in (1, 5, 10):
            expected = _brute_force(self.train, self.test, negatives_of, scores, k)
            for name in expected[2]:
                self.assertAllClose(
                    per_user[name], [expected[u][name] for u in per_user["users"]]
                )

    def test_constant_scorer_gets_no_hits(self):
        metrics = self.evaluator.evaluate(lambda users: np.zeros((len(users), 200)))
        for k in (1, 5, 10):
            self.assertEqual(metrics[f"hr@{k}"], 0.0)
            self.assertEqual(metrics[f"ndcg@{k}"], 0.0)
            self.assertEqual(metrics[f"sampled_hr@{k}"], 0.0)

    def test_perfect_scorer(self):
        relevant = np.zeros((50, 200))
        # Distinct scores: tied test items would share the pessimistic rank.
        relevant[self.test.users, self.test.items] = 1.0 + np.arange(len(self.test))
        relevant /= len(self.test) + 1.0
        # Train items score highest of all; they must not count.
        relevant[self.train.users, self.train.items] = 2.0
        metrics = self.evaluator.evaluate(lambda users: relevant[users])
        for k in (1, 5, 10):
            for name in ("hr", "ndcg", "sampled_hr", "sampled_ndcg"):
                self.assertAlmostEqual(metrics[f"{name}@{k}"], 1.0, msg=f"{name}@{k}")
        self.assertAlmostEqual(metrics["recall@10"], 1.0)

    def test_evaluate_is_mean_of_per_user_and_batches(self):
        scores = np.random.default_rng(4).normal(size=(50, 200))
        score_fn = mock.Mock(wraps=lambda users: scores[users])
        per_user = self.evaluator.per_user(score_fn)
        self.assertEqual(score_fn.call_count, 7)  # 48 users, 7 per batch.
        metrics = self.evaluator.evaluate(score_fn)
        self.assertEqual(metrics.pop("num_users"), 48)
        for name, value in metrics.items():
            self.assertAlmostEqual(value, np.mean(per_user[name]), msg=name)

    def test_subset_of_users(self):
        scores = np.random.default_rng(5).normal(size=(50, 200))
        per_user = self.evaluator.per_user(lambda users: scores[users])
        # Users 0 and 1 have no test items and are skipped.
        metrics = self.evaluator.evaluate(lambda u: scores[u], users=[7, 0, 3, 1])
        self.assertEqual(metrics["num_users"], 2)
        self.assertAlmostEqual(metrics["ndcg@10"], np.mean(per_user["ndcg@10"][[1, 5]]))
        empty = self.evaluator.evaluate(lambda u: scores[u], users=[0, 1])
        self.assertEqual(empty["num_users"], 0)
        self.assertTrue(np.isnan(empty["hr@10"]))
        with self.assertRaisesRegex(errors.UserInputError, "user ids"):
            self.evaluator.evaluate(lambda u: scores[u], users=[50])


class SampleNegativesTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("rejection", 100, np.arange(0, 100, 10), 5),
        ("set_difference", 20, np.arange(15), 3),
    )
    def test_uniform_over_allowed_items(self, num_items, exclude, n):
        rng = np.random.default_rng(0)
        counts = np.zeros(num_items)
        trials = 4000
        for _ in range(trials):
            draw = ranking_metrics.sample_negatives(rng, num_items, exclude, n)
            self.assertLen(set(draw.tolist()), n)
            counts[draw] += 1
        self.assertAllEqual(counts[exclude], np.zeros(len(exclude)))
        allowed = np.setdiff1d(np.arange(num_items), exclude)
        expected = trials * n / len(allowed)
        # Binomial standard deviation is below sqrt(expected); allow 5 of them.
        self.assertAllClose(
            counts[allowed], np.full(len(allowed), expected), atol=5 * np.sqrt(expected)
        )

    def test_too_few_items_raises(self):
        with self.assertRaisesRegex(errors.UserInputError, "only 2 of the 5"):
            ranking_metrics.sample_negatives(
                np.random.default_rng(0), 5, [0, 1, 1, 2], 3
            )


if __name__ == "__main__":
    tf.test.main()
