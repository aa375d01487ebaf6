"""Noise calibration: the noise a privacy budget needs, the rounds it allows.

`calibrate_noise_multiplier` finds the smallest noise multiplier whose rounds
stay within a target epsilon, with `dp_accounting.calibrate_dp_mechanism`
(Brent's method); `max_rounds` finds how many rounds of a given mechanism a
budget allows. Both compose the rounds of `accounting.round_event` with the
accountants of `accounting.make_accountant`.
"""

from __future__ import annotations

import functools

import dp_accounting

from tff_rec import errors
from tff_rec import settings
from tff_rec.privacy import accounting

# Noise multipliers searched by `calibrate_noise_multiplier`. Below the lower
# end the PLD of the mechanism becomes very large; above the upper end the
# model learns nothing.
DEFAULT_MIN_NOISE_MULTIPLIER = 0.05
DEFAULT_MAX_NOISE_MULTIPLIER = 1e4
# Tolerance on the calibrated noise multiplier.
DEFAULT_CALIBRATION_TOLERANCE = 1e-5
# `max_rounds` gives up beyond this many rounds.
DEFAULT_MAX_ROUNDS_SEARCHED = 2**24


def max_rounds(spec: accounting.PrivacySpec, target_epsilon: float) -> int:
    """The most rounds of `spec` whose epsilon stays within `target_epsilon`.

    Args:
      spec: the mechanism.
      target_epsilon: the budget (> 0).

    Returns:
      The largest r with ``epsilon(spec, r) <= target_epsilon`` (0 if even one
      round exceeds it).

    Raises:
      UserInputError: if `target_epsilon` <= 0, or the budget allows more than
        `DEFAULT_MAX_ROUNDS_SEARCHED` rounds.
    """
    _check_epsilon(target_epsilon)
    if accounting.epsilon(spec, 1) > target_epsilon:
        return 0
    low, high = 1, 2  # epsilon(low) <= target; find high with epsilon > target.
    while accounting.epsilon(spec, high) <= target_epsilon:
        if high >= DEFAULT_MAX_ROUNDS_SEARCHED:
            raise errors.UserInputError(
                f"target_epsilon={target_epsilon} allows more than "
                f"{DEFAULT_MAX_ROUNDS_SEARCHED} rounds"
            )
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if accounting.epsilon(spec, middle) <= target_epsilon:
            low = middle
        else:
            high = middle
    return low


def _check_epsilon(target_epsilon: float | None) -> None:
    if target_epsilon is None:
        raise errors.UserInputError("a target_epsilon (> 0) is required")
    settings.check_positive("target_epsilon", target_epsilon)


# A run calibrates before writing its folder and again when it trains.
@functools.lru_cache(maxsize=64)
def calibrate_noise_multiplier(
    *,
    target_epsilon: float,
    rounds: int,
    clients_per_round: int,
    num_clients: int,
    delta: float | None = None,
    mechanism: accounting.Mechanism | str = accounting.Mechanism.GAUSSIAN,
    sampling: accounting.Sampling | str = accounting.Sampling.POISSON,
    accountant: accounting.AccountantType | str | None = None,
) -> float:
    """The smallest noise multiplier whose `rounds` rounds spend `target_epsilon`.

    Uses `dp_accounting.calibrate_dp_mechanism` (Brent's method) on the events
    of `accounting.round_event`, searching noise multipliers in
    [`DEFAULT_MIN_NOISE_MULTIPLIER`, `DEFAULT_MAX_NOISE_MULTIPLIER`].

    Args:
      target_epsilon: the budget (> 0).
      rounds: number of training rounds (>= 1).
      clients_per_round: clients per round.
      num_clients: the population.
      delta: None means `accounting.default_delta(num_clients)`.
      mechanism: Gaussian (default) or Laplace.
      sampling: Poisson (default) or fixed-size.
      accountant: None means the default for mechanism and sampling.

    Returns:
      A noise multiplier z with ``epsilon <= target_epsilon``, within
      `DEFAULT_CALIBRATION_TOLERANCE` of the smallest such z.

    Raises:
      UserInputError: for bad inputs, or a target that needs a noise multiplier
        outside the searched range.
    """
    _check_epsilon(target_epsilon)
    if rounds is None:
        raise errors.UserInputError("rounds (>= 1) is required")
    settings.check_at_least("rounds", rounds, 1)
    # Validates everything but the noise multiplier.
    template = accounting.PrivacySpec(
        mechanism=mechanism,
        noise_multiplier=1.0,
        clients_per_round=clients_per_round,
        num_clients=num_clients,
        delta=delta,
        sampling=sampling,
        accountant=accountant,
    )

    def spent(z: float) -> float:
        return accounting.epsilon(template.replace(noise_multiplier=z), rounds)

    # Bracket the root by doubling or halving from 1, so that the costly
    # accounting of tiny noise multipliers runs only when the target needs it.
    lower, upper = 1.0, 1.0
    if spent(upper) > target_epsilon:
        while spent(upper) > target_epsilon:
            if upper >= DEFAULT_MAX_NOISE_MULTIPLIER:
                raise errors.UserInputError(
                    f"target_epsilon={target_epsilon} needs a noise_multiplier "
                    f"above {DEFAULT_MAX_NOISE_MULTIPLIER:g} for {rounds} rounds"
                )
            lower, upper = upper, min(2 * upper, DEFAULT_MAX_NOISE_MULTIPLIER)
    else:
        lower = upper / 2
        while spent(lower) <= target_epsilon:
            if lower <= DEFAULT_MIN_NOISE_MULTIPLIER:
                raise errors.UserInputError(
                    f"target_epsilon={target_epsilon} is reached with a "
                    f"noise_multiplier below {DEFAULT_MIN_NOISE_MULTIPLIER:g}; "
                    "such weak privacy is not calibrated"
                )
            upper, lower = lower, max(lower / 2, DEFAULT_MIN_NOISE_MULTIPLIER)
    return float(
        dp_accounting.calibrate_dp_mechanism(
            make_fresh_accountant=lambda: accounting.make_accountant(template),
            make_event_from_param=lambda z: dp_accounting.SelfComposedDpEvent(
                accounting.round_event(template.replace(noise_multiplier=z)), rounds
            ),
            target_epsilon=target_epsilon,
            target_delta=template.delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(lower, upper),
            tol=DEFAULT_CALIBRATION_TOLERANCE,
        )
    )
