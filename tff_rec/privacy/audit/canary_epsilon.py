"""One-shot empirical epsilon of a federated training run, from canary clients.

The method of Andrew, Kairouz, Oh, Oprea, McMahan and Suriyakumar, "One-shot
Empirical Privacy Estimation for Federated Learning", ICLR 2024,
arXiv:2302.03098. Some extra clients, the canaries, each send as their update
a fixed random direction scaled to the clip norm
(`tff_rec.privacy.audit.canaries`). After training, the cosine between the
final model delta and each canary's direction is measured for the canaries
that were inserted and for others that never were. In high
dimension random directions are nearly orthogonal, so the held-out cosines
show how much any one direction aligns with the model by chance, and the
inserted cosines how much a client's participation moves the model towards
its update.

Each set of cosines is fitted with a Gaussian, and the empirical epsilon is
the epsilon, at the run's delta, of telling the two Gaussians apart
(`gaussian_pair_epsilon`): the smallest epsilon whose hockey-stick
divergence is at most delta in both directions. For equal variances this is
the mu-Gaussian-DP curve of Dong, Roth and Su, "Gaussian Differential
Privacy", JRSS-B 2022, arXiv:1905.02383, with mu the gap of the means in
standard deviations. It takes one training run, with the canaries alongside
the real clients, rather than the thousands of runs of a classic audit.

The result is an estimate for the threat model of an adversary who sees only
the final model, under the Gaussian fit; it is not an upper bound on the
privacy loss and does not replace the accountant's epsilon.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import optimize

from tff_rec.privacy.audit import statistics

# Beyond this epsilon the divergence is treated as never reaching delta.
MAX_EPSILON = 1e3
# Absolute tolerance of the epsilon found by Brent's method.
_EPSILON_XTOL = 1e-12
_SQRT2 = math.sqrt(2.0)


def _normal_mass(z_low: float, z_high: float) -> float:
    """Standard normal mass of [z_low, z_high], accurate in either tail."""
    # Subtracting upper-tail masses keeps the digits that 1 - Phi would lose.
    if z_low >= 0.0:
        return 0.5 * (math.erfc(z_low / _SQRT2) - math.erfc(z_high / _SQRT2))
    return 0.5 * (math.erfc(-z_high / _SQRT2) - math.erfc(-z_low / _SQRT2))


def _hockey_stick(epsilon: float, mean: float, ratio: float) -> float:
    """sup_S Q(S) - e^eps P(S) for P = N(0, 1) and Q = N(mean, ratio^2).

    The sup is attained on A = {q > e^eps p}. The log density ratio is
    quadratic in x, so A is the set where a x^2 + b x + c > 0: a half-line
    for equal variances, an interval when Q is narrower than P, the
    complement of an interval when Q is wider.
    """
    a = 0.5 - 0.5 / ratio**2
    b = mean / ratio**2
    c = -0.5 * mean**2 / ratio**2 - math.log(ratio) - epsilon
    if a == 0.0:
        if b == 0.0:
            return 0.0  # Q = P: A is empty for epsilon >= 0.
        edge = -c / b
        pieces = [(edge, math.inf)] if b > 0 else [(-math.inf, edge)]
    else:
        discriminant = b * b - 4.0 * a * c
        if discriminant <= 0.0:
            # A is empty (a < 0) or the whole line (a > 0); either way the
            # divergence is max(0, 1 - e^eps) = 0.
            return 0.0
        # The stable form of the quadratic formula: no cancellation when a is
        # tiny (variances nearly equal) and one root runs off to infinity.
        t = -0.5 * (b + math.copysign(math.sqrt(discriminant), b))
        low, high = sorted((t / a, c / t))
        # Q narrower than P (a < 0): an interval; wider: its complement.
        inside = [(low, high)]
        outside = [(-math.inf, low), (high, math.inf)]
        pieces = inside if a < 0.0 else outside
    mass_q = sum(
        _normal_mass((lo - mean) / ratio, (hi - mean) / ratio) for lo, hi in pieces
    )
    mass_p = sum(_normal_mass(lo, hi) for lo, hi in pieces)
    # e^eps P(A) <= Q(A) <= 1, but e^eps alone overflows beyond eps ~ 709.
    scaled_p = math.exp(epsilon + math.log(mass_p)) if mass_p > 0.0 else 0.0
    return max(0.0, mass_q - scaled_p)


def _one_way_epsilon(mean: float, ratio: float, delta: float) -> float:
    """Smallest eps >= 0 with _hockey_stick(eps, mean, ratio) <= delta."""
    if _hockey_stick(0.0, mean, ratio) <= delta:
        return 0.0
    lower, upper = 0.0, 1.0
    while _hockey_stick(upper, mean, ratio) > delta:
        if upper >= MAX_EPSILON:
            return math.inf
        lower, upper = upper, min(2.0 * upper, MAX_EPSILON)
    return optimize.brentq(
        lambda eps: _hockey_stick(eps, mean, ratio) - delta,
        lower,
        upper,
        xtol=_EPSILON_XTOL,
        rtol=4 * np.finfo(float).eps,
    )


def gaussian_pair_epsilon(
    mu_out: float, sigma_out: float, mu_in: float, sigma_in: float, delta: float
) -> float:
    """The epsilon at `delta` of distinguishing two Gaussians.

    With P = N(mu_out, sigma_out^2) and Q = N(mu_in, sigma_in^2), the result
    is the smallest epsilon >= 0 with sup_S Q(S) - e^eps P(S) <= delta and
    sup_S P(S) - e^eps Q(S) <= delta. Each divergence is computed exactly
    from normal CDFs and the epsilon found with Brent's method; 0 when the
    total variation distance is already at most delta.

    The divergence falls to 0 as epsilon grows only slowly when the
    variances differ a lot: the wider Gaussian's tails outweigh the
    narrower's by a factor that grows like exp(x^2). If it is still above
    delta at `MAX_EPSILON` the result is `math.inf` (with delta = 1e-5, once
    one standard deviation is more than about 10 times the other). Distinct
    Gaussians are never (epsilon, 0)-DP: delta = 0 gives `math.inf`. A zero
    sigma is a point mass: two equal point masses give 0, any other pair
    with a point mass gives `math.inf`.

    Args:
        mu_out: Mean of the held-out (never inserted) canaries' cosines.
        sigma_out: Their standard deviation, >= 0.
        mu_in: Mean of the inserted canaries' cosines.
        sigma_in: Their standard deviation, >= 0.
        delta: The delta of the guarantee, in [0, 1].

    Returns:
        The epsilon, >= 0, or `math.inf`.

    Raises:
        ValueError: If a sigma is negative or not finite, a mean is not
            finite, or `delta` is outside [0, 1].
    """
    for name, value in (("mu_out", mu_out), ("mu_in", mu_in)):
        if not math.isfinite(value):
            raise ValueError(f"{name}={value} must be finite")
    for name, value in (("sigma_out", sigma_out), ("sigma_in", sigma_in)):
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name}={value} must be finite and >= 0")
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta={delta} must lie in [0, 1]")
    if sigma_out == 0.0 or sigma_in == 0.0 or delta == 0.0:
        # Distinct Gaussians have no pure-DP epsilon: with equal variances
        # the log density ratio is unbounded on a half-line, otherwise in
        # the wider one's tails. Decided here, as the tail masses that show
        # it underflow to 0 long before MAX_EPSILON.
        same = sigma_out == sigma_in and mu_out == mu_in
        return 0.0 if same else math.inf
    # Each direction is standardized so that the reference is N(0, 1).
    return max(
        _one_way_epsilon((mu_in - mu_out) / sigma_out, sigma_in / sigma_out, delta),
        _one_way_epsilon((mu_out - mu_in) / sigma_in, sigma_out / sigma_in, delta),
    )


@dataclasses.dataclass(frozen=True)
class EmpiricalEpsilon:
    """An empirical epsilon with its bootstrap interval and Gaussian fits.

    Attributes:
        epsilon: The point estimate, from the Gaussians fitted to all cosines.
        ci_low: Lower end of the bootstrap confidence interval.
        ci_high: Upper end of the bootstrap confidence interval.
        delta: The delta at which epsilon is measured.
        num_inserted: Number of inserted canaries.
        num_held_out: Number of held-out (never inserted) canaries.
        mu_in: Mean cosine of the inserted canaries.
        sigma_in: Standard deviation (ddof=1) of their cosines.
        mu_out: Mean cosine of the held-out canaries.
        sigma_out: Standard deviation (ddof=1) of their cosines.
    """

    epsilon: float
    ci_low: float
    ci_high: float
    delta: float
    num_inserted: int
    num_held_out: int
    mu_in: float
    sigma_in: float
    mu_out: float
    sigma_out: float

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order."""
        return dataclasses.asdict(self)


def _cosine_set(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size < 2:
        raise ValueError(
            f"{name} has {array.size} value(s); fitting a Gaussian needs at "
            "least 2 canaries"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _fitted_epsilon(
    inserted: np.ndarray, held_out: np.ndarray, delta: float, equal_variance: bool
) -> float:
    sigma_out = float(held_out.std(ddof=1))
    return gaussian_pair_epsilon(
        float(held_out.mean()),
        sigma_out,
        float(inserted.mean()),
        sigma_out if equal_variance else float(inserted.std(ddof=1)),
        delta,
    )


def estimate_epsilon(
    inserted_cosines,
    held_out_cosines,
    delta: float,
    *,
    num_resamples: int = statistics.DEFAULT_RESAMPLES,
    confidence: float = statistics.DEFAULT_CONFIDENCE,
    seed: int = 0,
    equal_variance: bool = False,
) -> EmpiricalEpsilon:
    """Empirical epsilon from the cosines of inserted and held-out canaries.

    Fits a Gaussian (mean, standard deviation with ddof=1) to each set and
    returns `gaussian_pair_epsilon` of the two, with a percentile bootstrap
    interval that resamples each set with replacement
    (`statistics.bootstrap_ci`). A resample can give an infinite epsilon (see
    `gaussian_pair_epsilon`), and so can the interval's upper end.

    Args:
        inserted_cosines: Cosines of the canaries inserted in training.
        held_out_cosines: Cosines of canaries never inserted.
        delta: The run's delta, in [0, 1].
        num_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval, e.g. 0.95.
        seed: Seed of the bootstrap's generator.
        equal_variance: Fit both sets with the held-out canaries' standard
            deviation (a shift-only model: the epsilon of mu-GDP with mu the
            gap of the means in held-out standard deviations). Two free
            variances are biased upward at a few hundred canaries: a fitted
            ratio away from 1 alone opens a tail of unbounded privacy loss.

    Returns:
        The estimate, its interval and the fitted Gaussians.

    Raises:
        ValueError: If a set has fewer than 2 values or non-finite ones, or
            `delta`, `num_resamples` or `confidence` is out of range.
    """
    inserted = _cosine_set(inserted_cosines, "inserted_cosines")
    held_out = _cosine_set(held_out_cosines, "held_out_cosines")
    point = _fitted_epsilon(inserted, held_out, delta, equal_variance)
    ci_low, ci_high = statistics.bootstrap_ci(
        lambda ins, out: _fitted_epsilon(ins, out, delta, equal_variance),
        (inserted, held_out),
        num_resamples=num_resamples,
        confidence=confidence,
        seed=seed,
    )
    return EmpiricalEpsilon(
        epsilon=point,
        ci_low=ci_low,
        ci_high=ci_high,
        delta=delta,
        num_inserted=inserted.size,
        num_held_out=held_out.size,
        mu_in=float(inserted.mean()),
        sigma_in=float(inserted.std(ddof=1)),
        mu_out=float(held_out.mean()),
        sigma_out=float(held_out.std(ddof=1)),
    )
