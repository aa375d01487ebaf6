"""One-line, human-readable statements of a run's privacy.

`epsilon_statement` says what a number of rounds of a mechanism spends;
`noise_statement` says which noise multiplier keeps them within a target
epsilon. Both name the sampling rate, the sampling and the accountant, e.g.
for a pipeline's output or a training log.
"""

from __future__ import annotations

import math

from tff_rec.privacy import accounting
from tff_rec.privacy import calibration


def _conditions(spec: accounting.PrivacySpec) -> str:
    return (
        f"q={spec.sampling_probability:.3g}, "
        f"{spec.sampling.value.replace('_', '-')} sampling, {spec.accountant.name}"
    )


def _round_up(value: float, digits: int = 4) -> float:
    """`value` rounded up to `digits` significant digits."""
    rounded = float(f"{value:.{digits}g}")
    if rounded < value:
        exponent = math.floor(math.log10(abs(value))) - digits + 1
        rounded = float(f"{rounded + 10.0**exponent:.{digits}g}")
    return rounded


def epsilon_statement(spec: accounting.PrivacySpec, rounds: int) -> str:
    """One line: the epsilon spent by `rounds` rounds of `spec`, and how.

    E.g. ``epsilon=3.21 delta=5.3e-04 after 100 rounds (gaussian,
    noise_multiplier=1, q=0.053, poisson sampling, RDP)``.
    """
    spent = accounting.epsilon(spec, rounds)
    return (
        f"epsilon={spent:.4g} delta={spec.delta:.2e} after {rounds} rounds "
        f"({spec.mechanism.value}, noise_multiplier={spec.noise_multiplier:.4g}, "
        f"{_conditions(spec)})"
    )


def noise_statement(
    *,
    target_epsilon: float,
    rounds: int,
    clients_per_round: int,
    num_clients: int,
    delta: float | None = None,
    mechanism: accounting.Mechanism | str = accounting.Mechanism.GAUSSIAN,
    sampling: accounting.Sampling | str = accounting.Sampling.POISSON,
    accountant: accounting.AccountantType | str | None = None,
) -> str:
    """One line: the noise multiplier that reaches `target_epsilon`, and how.

    The multiplier is printed rounded up (4 significant digits), so using the
    printed value keeps epsilon within the target. Arguments as for
    `calibration.calibrate_noise_multiplier`.
    """
    z = calibration.calibrate_noise_multiplier(
        target_epsilon=target_epsilon,
        rounds=rounds,
        clients_per_round=clients_per_round,
        num_clients=num_clients,
        delta=delta,
        mechanism=mechanism,
        sampling=sampling,
        accountant=accountant,
    )
    spec = accounting.PrivacySpec(
        mechanism=mechanism,
        noise_multiplier=z,
        clients_per_round=clients_per_round,
        num_clients=num_clients,
        delta=delta,
        sampling=sampling,
        accountant=accountant,
    )
    return (
        f"noise_multiplier={_round_up(z):.4g} reaches epsilon={target_epsilon:g} "
        f"delta={spec.delta:.2e} after {rounds} rounds "
        f"({spec.mechanism.value}, {_conditions(spec)})"
    )
