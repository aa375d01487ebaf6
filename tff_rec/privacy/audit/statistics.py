"""Statistics of attack scores, with bootstrap confidence intervals.

An attack on a recommender gives every candidate a score: how strongly the
attacker believes an item was rated by the user (attribute inference, rated
vs unrated items) or a user took part in training (membership inference,
members vs non-members). These functions summarise two sets of scores, the
positives (rated items, members) and the negatives (unrated items,
non-members):

* `roc_auc`: the probability that a random positive outscores a random
  negative (0.5 is guessing), threshold-free.
* `tpr_at_fpr`: the attack's true-positive rate when it may accuse only a
  small fraction of the negatives, the regime that matters for privacy
  (Carlini, Chien, Nasr, Song, Terzis and Tramèr, "Membership Inference
  Attacks From First Principles", IEEE S&P 2022, arXiv:2112.03570), and
  `dp_tpr_bound`, the most any attack can reach there against an
  (epsilon, delta)-DP mechanism, to hold the measured rate against.
* `precision_at_k`: the fraction of true positives among an attack's k best
  guesses, e.g. the k items it claims a user rated.
* `bootstrap_ci` and `grouped_bootstrap_ci`: percentile bootstrap intervals
  for any of the above, resampling scores or whole users.

Pure numpy, so attacks can be scored without TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


def _scores(values, name: str) -> np.ndarray:
    """`values` as a non-empty 1-D float64 array without NaN."""
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty; at least one score is needed")
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; scores must be comparable")
    return array


def roc_auc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve of scores that should rank positives first.

    Computed from the Mann-Whitney U statistic, with average ranks for tied
    scores, so a positive tied with a negative counts 1/2: the AUC is the
    probability that a random positive scores above a random negative, plus
    half the probability of a tie.

    Args:
        positive_scores: Scores of the positives (rated items, members).
        negative_scores: Scores of the negatives (unrated items, non-members).

    Returns:
        The AUC in [0, 1]; 0.5 for scores that carry no information.

    Raises:
        ValueError: If either set of scores is empty or contains NaN.
    """
    positives = _scores(positive_scores, "positive_scores")
    negatives = _scores(negative_scores, "negative_scores")
    combined = np.concatenate([positives, negatives])
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    # A block of tied values occupying ranks start+1 .. start+count shares
    # their average, start + (count + 1) / 2.
    starts = np.cumsum(counts) - counts
    average_ranks = starts + (counts + 1) / 2.0
    ranks = average_ranks[inverse.ravel()]
    num_pos, num_neg = positives.size, negatives.size
    u_statistic = ranks[:num_pos].sum() - num_pos * (num_pos + 1) / 2.0
    return float(u_statistic / (num_pos * num_neg))


def _check_interval_options(num_resamples: int, confidence: float) -> None:
    if num_resamples < 1:
        raise ValueError(f"num_resamples={num_resamples} must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie strictly in (0, 1)")


def _percentile_interval(
    statistics: Sequence[float], confidence: float
) -> tuple[float, float]:
    """The central `confidence` interval of the bootstrap distribution.

    Linear interpolation between order statistics, as `np.quantile`, except
    that two equal infinite neighbours give that infinity rather than NaN
    (an empirical epsilon can be infinite on a degenerate resample).
    """
    values = np.sort(np.asarray(statistics, dtype=np.float64))
    if np.isnan(values).any():
        raise ValueError("the statistic returned NaN on a bootstrap resample")
    tail = (1.0 - confidence) / 2.0

    def quantile(q: float) -> float:
        position = q * (values.size - 1)
        lower, upper = math.floor(position), math.ceil(position)
        a, b = values[lower], values[upper]
        if a == b:
            return float(a)
        return float(a + (b - a) * (position - lower))

    return quantile(tail), quantile(1.0 - tail)


def bootstrap_ci(
    statistic: Callable[..., float],
    samples: Sequence[Any],
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of one or more samples.

    Each sample is resampled with replacement on its own, keeping its size
    (a stratified bootstrap): for `roc_auc` of `(positives, negatives)` every
    resample has as many positives and negatives as the data.

    Args:
        statistic: Called as `statistic(*resampled)` with one array per
            sample, in the order of `samples`; returns a float.
        samples: The samples, e.g. `(positive_scores, negative_scores)`; each
            is indexed along its first axis.
        num_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval, e.g. 0.95.
        seed: Seed of the numpy generator that draws the resamples.

    Returns:
        `(low, high)`, the (1 - confidence) / 2 and (1 + confidence) / 2
        quantiles of the statistic over the resamples.

    Raises:
        ValueError: If there are no samples, one is empty, `num_resamples` is
            below 1, `confidence` is outside (0, 1), or the statistic returns
            NaN.
    """
    _check_interval_options(num_resamples, confidence)
    arrays = [np.asarray(sample) for sample in samples]
    if not arrays:
        raise ValueError("samples is empty; give at least one sample to resample")
    for index, array in enumerate(arrays):
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(f"samples[{index}] is empty; it cannot be resampled")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_resamples):
        resampled = [a[rng.integers(0, len(a), size=len(a))] for a in arrays]
        values.append(statistic(*resampled))
    return _percentile_interval(values, confidence)


def grouped_bootstrap_ci(
    statistic: Callable[[list[Any]], float],
    groups: Sequence[Any],
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval that resamples whole groups.

    For a statistic that averages over users, the scores of one user are not
    independent of each other; resampling users, each with all its scores,
    keeps that dependence in the interval.

    Args:
        statistic: Called with a list of groups (drawn with replacement from
            `groups`, as many as there are groups); returns a float.
        groups: One item per group, e.g. per audited user; items are passed
            to `statistic` unchanged.
        num_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval, e.g. 0.95.
        seed: Seed of the numpy generator that draws the resamples.

    Returns:
        `(low, high)`, the central `confidence` interval of the statistic
        over the resamples.

    Raises:
        ValueError: If `groups` is empty, `num_resamples` is below 1,
            `confidence` is outside (0, 1), or the statistic returns NaN.
    """
    _check_interval_options(num_resamples, confidence)
    items = list(groups)
    if not items:
        raise ValueError("groups is empty; give at least one group to resample")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_resamples):
        indices = rng.integers(0, len(items), size=len(items))
        values.append(statistic([items[i] for i in indices]))
    return _percentile_interval(values, confidence)


def precision_at_k(scores, labels, k: int) -> float:
    """Fraction of true labels among the `k` highest scores.

    Scores tied across the cut are not ordered arbitrarily: of a tied block
    that straddles position k, the slots taken hold its positives in
    expectation (slots * positives_in_block / block_size). Constant scores
    therefore give exactly the base rate, as a random guess would on average.

    Args:
        scores: One score per candidate; higher means more likely positive.
        labels: One boolean (or 0/1) per candidate, True for positives.
        k: How many top-scored candidates count, 1 <= k <= len(scores).

    Returns:
        The precision at k in [0, 1].

    Raises:
        ValueError: If the lengths differ, scores are empty or NaN, or `k`
            is out of range.
    """
    values = _scores(scores, "scores")
    truth = np.asarray(labels).ravel().astype(bool)
    if truth.size != values.size:
        raise ValueError(
            f"scores has {values.size} entries but labels has {truth.size}"
        )
    if not 1 <= k <= values.size:
        raise ValueError(f"k={k} must lie in [1, {values.size}] (number of scores)")
    cut = np.sort(values)[::-1][k - 1]
    above = values > cut
    tied = values == cut
    slots = k - int(above.sum())
    expected_tied = slots * truth[tied].sum() / tied.sum()
    return float((truth[above].sum() + expected_tied) / k)


def resolvable_fpr(num_negatives: int) -> float:
    """The smallest nonzero false-positive rate `num_negatives` can measure.

    Below it, `tpr_at_fpr` can only use thresholds above every negative.

    Args:
        num_negatives: Number of negative scores.

    Returns:
        1 / num_negatives.

    Raises:
        ValueError: If `num_negatives` is not positive.
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives={num_negatives} must be at least 1")
    return 1.0 / num_negatives


def tpr_at_fpr(positive_scores, negative_scores, fpr: float) -> float:
    """The largest true-positive rate at a false-positive rate of at most `fpr`.

    A threshold t flags every score >= t; its FPR is the fraction of negatives
    flagged, its TPR the fraction of positives flagged. Of the thresholds with
    FPR <= `fpr`, the lowest flags the most positives: it sits just above the
    (floor(fpr * n) + 1)-th highest negative, n being the number of
    negatives, so positives tied with that negative are not flagged.

    With fewer than 1 / `fpr` negatives (`fpr` below `resolvable_fpr(n)`),
    the only admissible thresholds lie above every negative (FPR 0): the
    result is then the TPR at FPR 0, a conservative value, and reporting a
    smaller `fpr` than the data resolve claims nothing more.

    Args:
        positive_scores: Scores of the positives (rated items, members).
        negative_scores: Scores of the negatives (unrated items, non-members).
        fpr: The largest admissible false-positive rate, in [0, 1].

    Returns:
        The TPR in [0, 1].

    Raises:
        ValueError: If either set of scores is empty or NaN, or `fpr` is
            outside [0, 1].
    """
    positives = _scores(positive_scores, "positive_scores")
    negatives = _scores(negative_scores, "negative_scores")
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr={fpr} must lie in [0, 1]")
    num_neg = negatives.size
    # The most negatives that may be flagged. The check on k + 1 corrects
    # floor(fpr * n) where the product rounds just below an integer
    # (0.29 * 100 = 28.999...), so that fpr = k / n admits k negatives.
    allowed = math.floor(fpr * num_neg)
    if (allowed + 1) / num_neg <= fpr:
        allowed += 1
    if allowed >= num_neg:
        return 1.0
    boundary = np.sort(negatives)[::-1][allowed]
    return float(np.mean(positives > boundary))


def dp_tpr_bound(fpr: float, epsilon: float, delta: float) -> float:
    """The largest TPR any test can have at `fpr` against (epsilon, delta)-DP.

    A test flags the output of the mechanism run with the audited record as
    "in" on a set S; TPR = Q(S) and FPR = P(S), Q and P the output
    distributions with and without the record. (epsilon, delta)-DP bounds
    Q(S) <= e^eps * P(S) + delta, and the same for the complement, P(not S) <=
    e^eps * Q(not S) + delta, hence
    TPR <= min(1, e^eps * FPR + delta, 1 - e^-eps * (1 - delta - FPR)),
    the privacy region of Kairouz, Oh and Viswanath, "The Composition Theorem
    for Differential Privacy", ICML 2015, arXiv:1311.0776. An attack measured
    above this line refutes the claimed guarantee.

    Args:
        fpr: False-positive rate, in [0, 1].
        epsilon: Epsilon of the guarantee, >= 0.
        delta: Delta of the guarantee, in [0, 1].

    Returns:
        The bound, clamped to [0, 1].

    Raises:
        ValueError: If an argument is out of range.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr={fpr} must lie in [0, 1]")
    if not epsilon >= 0.0:
        raise ValueError(f"epsilon={epsilon} must be >= 0")
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta={delta} must lie in [0, 1]")
    if math.isinf(epsilon):
        return 1.0
    bound = min(
        1.0,
        math.exp(epsilon) * fpr + delta,
        1.0 - math.exp(-epsilon) * (1.0 - delta - fpr),
    )
    return float(min(1.0, max(0.0, bound)))
