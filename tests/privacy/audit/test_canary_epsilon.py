"""Tests of the one-shot canary epsilon: exact Gaussian pairs, then estimates."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized
from scipy import optimize
from scipy import stats

from tff_rec.privacy.audit import canary_epsilon

_DELTA = 1e-5
# Canaries per set in the known-answer tests. Fitting both standard deviations
# biases the estimate upwards (any fitted ratio other than 1 opens the tails
# of the wider Gaussian), by about as much as its spread: over 100 seeds with
# 2,000 canaries per set the 99th percentile of the relative error was 53%,
# 30% and 19% for mu = 0.5, 1 and 2; with 20,000 it is 19%, 11% and 6%.
_NUM_CANARIES = 20_000
# Largest relative error of the estimate tested at _NUM_CANARIES per set: above
# the largest error seen over 100 seeds (20%, at mu = 0.5), yet tight enough
# to tell mu = 0.5 (epsilon 1.99) from 0.35 (1.34) or 0.65 (2.68).
_RELATIVE_TOLERANCE = 0.25
# Largest estimate tested when nothing is inserted (true epsilon 0); over 100
# seeds the largest was 0.28.
_NULL_TOLERANCE = 0.5
# Standard deviation of held-out cosines, 1 / sqrt(dimension) for 10^4 weights.
_SIGMA = 0.01


def _gdp_epsilon(mu: float, delta: float) -> float:
    """Epsilon at delta of mu-GDP, from Dong, Roth and Su's delta(epsilon)."""

    def excess(eps):
        upper = stats.norm.cdf(-eps / mu + mu / 2)
        return upper - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2) - delta

    if excess(0.0) <= 0:
        return 0.0
    return optimize.brentq(excess, 0.0, 500.0, xtol=1e-14, rtol=1e-15)


def _hockey_stick(mu_p, sigma_p, mu_q, sigma_q, epsilon) -> float:
    """sup_S Q(S) - e^eps P(S) by integrating max(0, q - e^eps p) on a grid."""
    span = abs(mu_p) + abs(mu_q) + 40 * max(sigma_p, sigma_q)
    x = np.linspace(-span, span, 2_000_001)
    p = stats.norm.pdf(x, mu_p, sigma_p)
    q = stats.norm.pdf(x, mu_q, sigma_q)
    return float(np.trapz(np.maximum(0.0, q - math.exp(epsilon) * p), x))


def _cosine_sets(mu: float, seed: int, size: int = _NUM_CANARIES):
    """Inserted ~ N(mu * sigma, sigma^2) and held-out ~ N(0, sigma^2) cosines."""
    inserted = np.random.default_rng([2, seed]).normal(mu * _SIGMA, _SIGMA, size)
    held_out = np.random.default_rng([1, seed]).normal(0.0, _SIGMA, size)
    return inserted, held_out


class GaussianPairEpsilonTest(parameterized.TestCase):
    @parameterized.product(mu=(0.1, 0.5, 1.0, 2.0, 5.0), delta=(1e-10, 1e-5, 1e-3))
    def test_equal_variances_match_gaussian_dp(self, mu, delta):
        expected = _gdp_epsilon(mu, delta)
        # Location and scale do not matter, only the gap in standard deviations.
        for mu_out, sigma in ((0.0, 1.0), (0.3, 0.02)):
            np.testing.assert_allclose(
                canary_epsilon.gaussian_pair_epsilon(
                    mu_out, sigma, mu_out + mu * sigma, sigma, delta
                ),
                expected,
                rtol=1e-6,
            )

    def test_nearly_equal_variances_are_continuous(self):
        np.testing.assert_allclose(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 1.0, 1.0 + 1e-9, _DELTA),
            _gdp_epsilon(1.0, _DELTA),
            rtol=1e-6,
        )

    @parameterized.named_parameters(
        ("wider_in", 0.0, 1.0, 1.0, 1.3),
        ("narrower_in", 0.0, 1.0, 2.0, 0.7),
        ("same_means", 0.0, 1.0, 0.0, 1.5),
        ("wider_and_shifted", 0.2, 0.5, -0.4, 0.6),
    )
    def test_unequal_variances_match_integrated_divergence(
        self, mu_out, sigma_out, mu_in, sigma_in
    ):
        delta = 1e-3
        epsilon = canary_epsilon.gaussian_pair_epsilon(
            mu_out, sigma_out, mu_in, sigma_in, delta
        )
        self.assertGreater(epsilon, 0.0)

        def divergence(eps):
            return max(
                _hockey_stick(mu_out, sigma_out, mu_in, sigma_in, eps),
                _hockey_stick(mu_in, sigma_in, mu_out, sigma_out, eps),
            )

        # The larger of the two divergences is delta at the returned epsilon,
        # and above it just below: epsilon is the smallest that suffices.
        np.testing.assert_allclose(divergence(epsilon), delta, rtol=1e-4)
        self.assertGreater(divergence(0.99 * epsilon), delta)

    @parameterized.parameters(
        (0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.3), (0.5, 0.2, -1.0, 0.1)
    )
    def test_symmetric(self, mu_out, sigma_out, mu_in, sigma_in):
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(
                mu_out, sigma_out, mu_in, sigma_in, _DELTA
            ),
            canary_epsilon.gaussian_pair_epsilon(
                mu_in, sigma_in, mu_out, sigma_out, _DELTA
            ),
        )

    def test_zero_when_total_variation_is_below_delta(self):
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 0.0, 1.0, _DELTA), 0.0
        )
        # Total variation 2 * Phi(1e-6 / 2) - 1, about 4e-7.
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 1e-6, 1.0, _DELTA), 0.0
        )

    def test_unreachable_delta_is_infinite(self):
        # A 20-fold wider Gaussian's tails stay above delta beyond MAX_EPSILON.
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 0.0, 20.0, _DELTA),
            math.inf,
        )
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 1.0, 1.0, 0.0), math.inf
        )
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.0, 1.0, 0.0, 1.0, 0.0), 0.0
        )

    def test_point_masses(self):
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.5, 0.0, 0.5, 0.0, _DELTA), 0.0
        )
        self.assertEqual(
            canary_epsilon.gaussian_pair_epsilon(0.5, 0.0, 0.5, 1.0, _DELTA),
            math.inf,
        )

    @parameterized.named_parameters(
        ("negative_sigma", (0.0, -1.0, 0.0, 1.0, _DELTA), "sigma_out=-1.0"),
        ("nan_mean", (0.0, 1.0, math.nan, 1.0, _DELTA), "mu_in=nan"),
        ("delta", (0.0, 1.0, 1.0, 1.0, 1.5), "delta=1.5"),
    )
    def test_bad_arguments(self, arguments, message):
        with self.assertRaisesRegex(ValueError, message):
            canary_epsilon.gaussian_pair_epsilon(*arguments)


class EstimateEpsilonTest(parameterized.TestCase):
    @parameterized.parameters(0.5, 1.0, 2.0)
    def test_recovers_known_epsilon(self, mu):
        # The pure-Gaussian draws of known sigma: the true epsilon is mu-GDP's.
        true_epsilon = _gdp_epsilon(mu, _DELTA)
        estimate = canary_epsilon.estimate_epsilon(*_cosine_sets(mu, seed=0), _DELTA)
        self.assertLess(
            abs(estimate.epsilon / true_epsilon - 1),
            _RELATIVE_TOLERANCE,
            msg=f"estimate {estimate.epsilon}, true {true_epsilon}",
        )
        self.assertBetween(estimate.epsilon, estimate.ci_low, estimate.ci_high)
        # Only the upper end is tested against the truth: the percentile
        # interval of this upward-biased estimate held the true epsilon in
        # 77-83% of 100 seeds, not 95%, its lower end always being the one
        # that missed; the upper end held it in all of them.
        self.assertLessEqual(true_epsilon, estimate.ci_high)

    @parameterized.parameters(0.5, 1.0, 2.0)
    def test_equal_variance_recovers_known_epsilon_from_few_canaries(self, mu):
        # The shift-only fit, at the audit's canary counts (500 inserted,
        # 2000 held out): within the interval, which holds the truth.
        true_epsilon = _gdp_epsilon(mu, _DELTA)
        rng = np.random.default_rng(5)
        held_out = rng.normal(0.0, 0.01, 2000)
        inserted = rng.normal(mu * 0.01, 0.01, 500)
        estimate = canary_epsilon.estimate_epsilon(
            inserted, held_out, _DELTA, equal_variance=True
        )
        self.assertBetween(true_epsilon, estimate.ci_low, estimate.ci_high)
        self.assertLess(abs(estimate.epsilon / true_epsilon - 1), 0.3)

    def test_equal_variance_ignores_a_spread_without_a_shift(self):
        # Inserted cosines spread wider but centred: two free variances give
        # a large epsilon, the shift-only fit about none.
        rng = np.random.default_rng(6)
        held_out = rng.normal(0.0, 0.01, 2000)
        inserted = rng.normal(0.0, 0.013, 500)
        free = canary_epsilon.estimate_epsilon(
            inserted, held_out, _DELTA, num_resamples=100
        )
        shift = canary_epsilon.estimate_epsilon(
            inserted, held_out, _DELTA, num_resamples=100, equal_variance=True
        )
        self.assertGreater(free.epsilon, 1.0)
        self.assertLess(shift.epsilon, _NULL_TOLERANCE)

    def test_nothing_inserted_gives_about_zero(self):
        estimate = canary_epsilon.estimate_epsilon(*_cosine_sets(0.0, seed=0), _DELTA)
        self.assertBetween(estimate.epsilon, 0.0, _NULL_TOLERANCE)
        self.assertGreaterEqual(estimate.ci_low, 0.0)

    def test_unequal_variances_finite_and_symmetric(self):
        rng = np.random.default_rng(3)
        inserted = rng.normal(0.03, 0.015, 500)
        held_out = rng.normal(0.0, 0.01, 500)
        forward = canary_epsilon.estimate_epsilon(
            inserted, held_out, _DELTA, num_resamples=200
        )
        swapped = canary_epsilon.estimate_epsilon(
            held_out, inserted, _DELTA, num_resamples=200
        )
        self.assertTrue(math.isfinite(forward.epsilon))
        self.assertTrue(math.isfinite(forward.ci_high))
        self.assertEqual(forward.epsilon, swapped.epsilon)

    def test_fitted_fields(self):
        inserted, held_out = [0.1, 0.3, 0.2], [0.0, 0.02, -0.02, 0.0]
        estimate = canary_epsilon.estimate_epsilon(
            inserted, held_out, 1e-3, num_resamples=50
        )
        self.assertEqual((estimate.num_inserted, estimate.num_held_out), (3, 4))
        self.assertAlmostEqual(estimate.mu_in, 0.2)
        self.assertAlmostEqual(estimate.sigma_in, 0.1)
        self.assertAlmostEqual(estimate.mu_out, 0.0)
        self.assertAlmostEqual(estimate.sigma_out, np.std(held_out, ddof=1))
        self.assertEqual(estimate.delta, 1e-3)
        self.assertEqual(
            estimate.epsilon,
            canary_epsilon.gaussian_pair_epsilon(
                estimate.mu_out,
                estimate.sigma_out,
                estimate.mu_in,
                estimate.sigma_in,
                1e-3,
            ),
        )
        self.assertEqual(
            list(estimate.as_dict()),
            [field.name for field in dataclasses.fields(estimate)],
        )
        self.assertEqual(estimate.as_dict()["num_inserted"], 3)

    def test_seeded_interval(self):
        sets = _cosine_sets(1.0, seed=1, size=300)
        first = canary_epsilon.estimate_epsilon(*sets, _DELTA, num_resamples=100)
        again = canary_epsilon.estimate_epsilon(*sets, _DELTA, num_resamples=100)
        self.assertEqual(first, again)

    @parameterized.named_parameters(
        ("one_inserted", [0.1], [0.0, 0.1], "inserted_cosines has 1 value"),
        ("no_held_out", [0.1, 0.2], [], "held_out_cosines has 0 value"),
        ("nan", [0.1, math.nan], [0.0, 0.1], "NaN or infinite"),
    )
    def test_bad_cosines(self, inserted, held_out, message):
        with self.assertRaisesRegex(ValueError, message):
            canary_epsilon.estimate_epsilon(inserted, held_out, _DELTA)


if __name__ == "__main__":
    absltest.main()
