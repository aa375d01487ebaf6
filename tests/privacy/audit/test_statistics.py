"""Tests of the attack-score statistics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.privacy.audit import statistics


def _pairwise_auc(positives, negatives) -> float:
    """AUC by comparing every positive with every negative."""
    diff = np.subtract.outer(np.asarray(positives), np.asarray(negatives))
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


class RocAucTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("separated", [3.0, 4.0, 5.0], [0.0, 1.0], 1.0),
        ("reversed", [0.0, 1.0], [3.0, 4.0, 5.0], 0.0),
        ("constant", [2.0, 2.0, 2.0], [2.0, 2.0], 0.5),
        # Pairs: (3,2) 1, (3,1) 1, twice (2,2) 1/2 and (2,1) 1: 5 of 6.
        ("ties", [3.0, 2.0, 2.0], [2.0, 1.0], 5.0 / 6.0),
    )
    def test_hand_computed(self, positives, negatives, expected):
        self.assertAlmostEqual(
            statistics.roc_auc(positives, negatives), expected, places=12
        )

    @parameterized.parameters(0, 1, 2)
    def test_matches_pairwise_count(self, seed):
        rng = np.random.default_rng(seed)
        # Rounded so that many scores tie, within and across the two sets.
        positives = np.round(rng.normal(0.5, 1.0, 300), 1)
        negatives = np.round(rng.normal(0.0, 1.0, 200), 1)
        self.assertAlmostEqual(
            statistics.roc_auc(positives, negatives),
            _pairwise_auc(positives, negatives),
            places=12,
        )

    def test_empty_side_raises(self):
        with self.assertRaisesRegex(ValueError, "negative_scores is empty"):
            statistics.roc_auc([1.0], [])
        with self.assertRaisesRegex(ValueError, "positive_scores is empty"):
            statistics.roc_auc([], [1.0])

    def test_nan_raises(self):
        with self.assertRaisesRegex(ValueError, "NaN"):
            statistics.roc_auc([1.0, math.nan], [0.0])


class BootstrapTest(parameterized.TestCase):
    def _scores(self, size, seed):
        rng = np.random.default_rng(seed)
        return rng.normal(1.0, 1.0, size), rng.normal(0.0, 1.0, size)

    def test_contains_point_estimate(self):
        positives, negatives = self._scores(200, 0)
        low, high = statistics.bootstrap_ci(
            statistics.roc_auc, (positives, negatives), num_resamples=300
        )
        self.assertLess(low, statistics.roc_auc(positives, negatives))
        self.assertGreater(high, statistics.roc_auc(positives, negatives))

    def test_narrows_with_more_data(self):
        small = statistics.bootstrap_ci(
            statistics.roc_auc, self._scores(50, 1), num_resamples=300
        )
        large = statistics.bootstrap_ci(
            statistics.roc_auc, self._scores(2000, 1), num_resamples=300
        )
        # The width shrinks like 1 / sqrt(n): by about 6 for 40 times the data.
        self.assertLess(large[1] - large[0], (small[1] - small[0]) / 3)

    def test_resamples_each_sample_separately(self):
        sizes = []

        def statistic(first, second):
            sizes.append((len(first), len(second)))
            # Every resampled value comes from its own sample.
            self.assertTrue(np.all(first < 10) and np.all(second >= 10))
            return 0.0

        statistics.bootstrap_ci(
            statistic, (np.arange(3), np.arange(10, 15)), num_resamples=20
        )
        self.assertEqual(sizes, [(3, 5)] * 20)

    def test_seeded(self):
        samples = self._scores(100, 2)
        first = statistics.bootstrap_ci(statistics.roc_auc, samples, seed=3)
        again = statistics.bootstrap_ci(statistics.roc_auc, samples, seed=3)
        other = statistics.bootstrap_ci(statistics.roc_auc, samples, seed=4)
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)

    def test_percentiles(self):
        # The statistic returns 0, 1, ..., 100 in turn: its quantiles are known.
        counter = iter(range(101))
        low, high = statistics.bootstrap_ci(
            lambda _: float(next(counter)), ([1.0],), num_resamples=101
        )
        self.assertAlmostEqual(low, 2.5)
        self.assertAlmostEqual(high, 97.5)

    def test_infinite_statistic_gives_infinite_end(self):
        values = iter([1.0] * 50 + [math.inf] * 50)
        low, high = statistics.bootstrap_ci(
            lambda _: next(values), ([1.0],), num_resamples=100
        )
        self.assertEqual((low, high), (1.0, math.inf))

    def test_grouped_resamples_whole_groups(self):
        # Two users, one with 10 correct scores, one with 10 wrong ones: a
        # resample holds 0, 1 or 2 copies of the first user's block.
        groups = [np.ones(10), np.zeros(10)]
        seen = set()

        def statistic(resampled):
            self.assertLen(resampled, 2)
            mean = float(np.mean(np.concatenate(resampled)))
            seen.add(mean)
            return mean

        low, high = statistics.grouped_bootstrap_ci(
            statistic, groups, num_resamples=200
        )
        self.assertEqual(seen, {0.0, 0.5, 1.0})
        self.assertEqual((low, high), (0.0, 1.0))

    @parameterized.named_parameters(
        ("no_samples", dict(samples=()), "samples is empty"),
        ("empty_sample", dict(samples=([1.0], [])), r"samples\[1\] is empty"),
        ("resamples", dict(num_resamples=0), "num_resamples=0"),
        ("confidence", dict(confidence=1.0), "confidence=1.0"),
    )
    def test_bad_arguments(self, kwargs, message):
        arguments = dict(samples=([1.0], [2.0])) | kwargs
        with self.assertRaisesRegex(ValueError, message):
            statistics.bootstrap_ci(lambda *_: 0.0, **arguments)

    def test_grouped_empty_raises(self):
        with self.assertRaisesRegex(ValueError, "groups is empty"):
            statistics.grouped_bootstrap_ci(lambda _: 0.0, [])


class PrecisionAtKTest(parameterized.TestCase):
    # One clear positive on top, then a block of three tied scores holding
    # two positives, then a negative.
    _SCORES = [0.9, 0.8, 0.8, 0.8, 0.1]
    _LABELS = [1, 0, 1, 1, 0]

    @parameterized.named_parameters(
        ("top_one", 1, 1.0),
        # One slot of the tied block: 2/3 of a positive in expectation.
        ("into_tied_block", 2, (1 + 2 / 3) / 2),
        ("whole_tied_block", 4, 3 / 4),
        ("all", 5, 3 / 5),
    )
    def test_hand_computed(self, k, expected):
        self.assertAlmostEqual(
            statistics.precision_at_k(self._SCORES, self._LABELS, k), expected
        )

    @parameterized.parameters(1, 7, 20)
    def test_constant_scores_give_base_rate(self, k):
        labels = np.arange(20) % 4 == 0
        self.assertAlmostEqual(
            statistics.precision_at_k(np.zeros(20), labels, k), 0.25, places=12
        )

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, r"k=0 must lie in \[1, 5\]"):
            statistics.precision_at_k(self._SCORES, self._LABELS, 0)
        with self.assertRaisesRegex(ValueError, "labels has 2"):
            statistics.precision_at_k(self._SCORES, [1, 0], 1)


class TprAtFprTest(parameterized.TestCase):
    _POSITIVES = [0.9, 0.8, 0.4]
    _NEGATIVES = [0.7, 0.3, 0.2, 0.1]

    @parameterized.named_parameters(
        # No negative flagged: the threshold sits above 0.7.
        ("zero", 0.0, 2 / 3),
        # One negative of four may be flagged: just above 0.3.
        ("quarter", 0.25, 1.0),
        # floor(0.2 * 4) = 0: the same as FPR 0.
        ("between", 0.2, 2 / 3),
        ("all", 1.0, 1.0),
    )
    def test_hand_computed(self, fpr, expected):
        self.assertAlmostEqual(
            statistics.tpr_at_fpr(self._POSITIVES, self._NEGATIVES, fpr), expected
        )

    def test_positive_tied_with_boundary_negative_not_flagged(self):
        self.assertAlmostEqual(statistics.tpr_at_fpr([0.5, 0.9], [0.5], 0.0), 0.5)

    def test_fewer_negatives_than_one_over_fpr(self):
        # 1% FPR with 10 negatives cannot flag any: the threshold goes above
        # every negative, as at FPR 0.
        rng = np.random.default_rng(0)
        positives, negatives = rng.normal(1, 1, 100), rng.normal(0, 1, 10)
        self.assertEqual(statistics.resolvable_fpr(10), 0.1)
        self.assertEqual(
            statistics.tpr_at_fpr(positives, negatives, 0.01),
            statistics.tpr_at_fpr(positives, negatives, 0.0),
        )
        self.assertEqual(
            statistics.tpr_at_fpr(positives, negatives, 0.0),
            np.mean(positives > negatives.max()),
        )

    def test_fpr_that_rounds_below_an_integer_count(self):
        # 0.29 * 100 = 28.999...: still 29 negatives (71 .. 99) may be
        # flagged, so the threshold may go down to just above 70.
        negatives = np.arange(100.0)
        self.assertEqual(statistics.tpr_at_fpr([70.5], negatives, 0.29), 1.0)
        self.assertEqual(statistics.tpr_at_fpr([70.5], negatives, 0.28), 0.0)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "fpr=1.5"):
            statistics.tpr_at_fpr([1.0], [0.0], 1.5)
        with self.assertRaisesRegex(ValueError, "num_negatives=0"):
            statistics.resolvable_fpr(0)


class DpTprBoundTest(parameterized.TestCase):
    @parameterized.parameters(0.0, 0.01, 0.3, 1.0)
    def test_no_privacy_loss_gives_fpr(self, fpr):
        self.assertAlmostEqual(statistics.dp_tpr_bound(fpr, 0.0, 0.0), fpr)

    def test_hand_computed(self):
        # e^1 * 0.01 + 1e-5 is the binding term at small FPR.
        self.assertAlmostEqual(
            statistics.dp_tpr_bound(0.01, 1.0, 1e-5), math.e * 0.01 + 1e-5
        )
        # At large FPR the complement's term binds: 1 - e^-1 * (1 - 0.5).
        self.assertAlmostEqual(statistics.dp_tpr_bound(0.5, 1.0, 0.0), 1 - 0.5 / math.e)
        self.assertEqual(statistics.dp_tpr_bound(0.5, 1.0, 1.0), 1.0)

    @parameterized.parameters(0.0, 1e-3, 0.1)
    def test_monotone_in_epsilon(self, fpr):
        bounds = [
            statistics.dp_tpr_bound(fpr, eps, 1e-5) for eps in np.linspace(0.0, 8.0, 81)
        ]
        self.assertTrue(np.all(np.diff(bounds) >= 0))
        self.assertLessEqual(max(bounds), 1.0)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "epsilon=-1"):
            statistics.dp_tpr_bound(0.1, -1.0, 0.0)
        with self.assertRaisesRegex(ValueError, "delta=2"):
            statistics.dp_tpr_bound(0.1, 1.0, 2.0)


if __name__ == "__main__":
    absltest.main()
