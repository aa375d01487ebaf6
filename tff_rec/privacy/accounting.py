"""Client-level (epsilon, delta) accounting for differentially private training.

Each round releases a noised mean of clipped client updates (DP-FedAvg of
McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private Recurrent
Language Models", ICLR 2018, arXiv:1710.06963). The privacy cost of many rounds
is composed with the moments accountant of Abadi, Chu, Goodfellow, McMahan,
Mironov, Talwar and Zhang, "Deep Learning with Differential Privacy", CCS 2016,
arXiv:1607.00133, in its Rényi form (Mironov, "Rényi Differential Privacy", CSF
2017, arXiv:1702.07476), or with privacy loss distributions (PLD), both from
`dp_accounting`.

The unit of privacy is a client (a user when clients are users): neighbouring
datasets differ in one client's whole data.

What dp_accounting 0.4.3 can account, and what this module therefore does:

* Gaussian, Poisson sampling (each client joins a round independently with
  probability q = clients_per_round / num_clients; add/remove-one-client
  neighbouring): `PoissonSampledDpEvent(q, GaussianDpEvent(z))`; RDP (the
  default) or PLD.
* Gaussian, fixed-size sampling (exactly clients_per_round clients drawn
  uniformly without replacement; replace-one-client neighbouring, the number
  of clients being public): `SampledWithoutReplacementDpEvent(num_clients,
  clients_per_round, GaussianDpEvent(z / 2))`; RDP only (the PLD accountant
  has no sampling without replacement). The event's noise multiplier is
  relative to the sum's sensitivity, and replacing one client moves a sum of
  updates clipped to C by up to 2C, hence z / 2.
* Laplace, Poisson sampling: `PoissonSampledDpEvent(q, LaplaceDpEvent(z))`;
  PLD only (the RDP accountant accounts Laplace without sampling only), so PLD
  is the default for Laplace.
* Laplace, fixed-size sampling: no accountant handles sampled-without-
  replacement Laplace, so each round is accounted as a plain Laplace release
  with replace-one sensitivity 2C, `LaplaceDpEvent(z / 2)`, claiming no
  amplification by sampling (a valid but loose bound); RDP or PLD (default).

Asking for an accountant that cannot handle the combination is an error.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from typing import Any

import dp_accounting
import numpy as np
from dp_accounting import pld
from dp_accounting import rdp

from tff_rec import errors
from tff_rec import settings

DEFAULT_DELTA_EXPONENT = 1.1
_EPSILON_CACHE_SIZE = 4096


class Mechanism(enum.Enum):
    """The noise added to each round's sum of clipped client updates."""

    GAUSSIAN = "gaussian"
    LAPLACE = "laplace"


class Sampling(enum.Enum):
    """How the clients of a round are chosen."""

    POISSON = "poisson"
    FIXED_SIZE = "fixed_size"


class AccountantType(enum.Enum):
    """Which `dp_accounting` accountant composes the rounds."""

    RDP = "rdp"
    PLD = "pld"


_SUPPORTED_ACCOUNTANTS = {
    (Mechanism.GAUSSIAN, Sampling.POISSON): (AccountantType.RDP, AccountantType.PLD),
    (Mechanism.GAUSSIAN, Sampling.FIXED_SIZE): (AccountantType.RDP,),
    (Mechanism.LAPLACE, Sampling.POISSON): (AccountantType.PLD,),
    (Mechanism.LAPLACE, Sampling.FIXED_SIZE): (AccountantType.PLD, AccountantType.RDP),
}


def supported_accountants(
    mechanism: Mechanism, sampling: Sampling
) -> tuple[AccountantType, ...]:
    """Accountants of dp_accounting 0.4.3 that handle this combination.

    The first is the default (see the module docstring).
    """
    return _SUPPORTED_ACCOUNTANTS[(Mechanism(mechanism), Sampling(sampling))]


def check_accountant(
    mechanism: Mechanism, sampling: Sampling, accountant: AccountantType | str | None
) -> AccountantType:
    """The accountant to use: `accountant`, or the default of the combination.

    Raises:
      UserInputError: if `accountant` cannot handle `mechanism` with `sampling`.
    """
    supported = supported_accountants(mechanism, sampling)
    if accountant is None:
        return supported[0]
    accountant = errors.parse_enum(AccountantType, accountant, "accountant")
    if accountant not in supported:
        raise errors.UserInputError(
            f"dp_accounting's {accountant.name} accountant cannot account "
            f"{Mechanism(mechanism).value} noise with {Sampling(sampling).value} "
            f"sampling; use accountant={supported[0].value}"
        )
    return accountant


def default_delta(num_clients: int) -> float:
    """Returns ``1 / num_clients**1.1``, a delta below one over the population."""
    if not num_clients >= 1:
        raise errors.UserInputError(f"num_clients must be >= 1, got {num_clients}")
    return 1.0 / num_clients**DEFAULT_DELTA_EXPONENT


def check_noise_multiplier(noise_multiplier: float | None) -> None:
    """Refuses a noise multiplier that gives no finite epsilon.

    Raises:
      UserInputError: if `noise_multiplier` is None, not a number, not
        finite or not > 0 (no noise: no differential privacy).
    """
    if noise_multiplier is None:
        raise errors.UserInputError("a noise_multiplier (> 0) is required")
    if (
        isinstance(noise_multiplier, bool)
        or not isinstance(noise_multiplier, (int, float, np.integer, np.floating))
        or not (noise_multiplier > 0 and math.isfinite(noise_multiplier))
    ):
        raise errors.UserInputError(
            "noise_multiplier must be > 0 for a finite epsilon (0 adds no noise: "
            f"no differential privacy), got {noise_multiplier}"
        )


@dataclasses.dataclass(frozen=True)
class PrivacySpec:
    """The DP mechanism of one training run, as the accountant sees it.

    Attributes:
      mechanism: Gaussian or Laplace noise (a `Mechanism` or its value).
      noise_multiplier: noise stddev (Gaussian) or scale (Laplace) divided by
        the clip; > 0.
      clients_per_round: clients per round (expected, for Poisson sampling).
      num_clients: the population clients are sampled from.
      delta: target delta in (0, 1). None becomes `default_delta(num_clients)`.
      sampling: how clients are sampled (a `Sampling` or its value).
      accountant: an `AccountantType` (or its value). None becomes the first of
        `supported_accountants(mechanism, sampling)`: RDP for Gaussian, PLD for
        Laplace.

    Raises:
      UserInputError: on out-of-range values, clients_per_round above
        num_clients, or an accountant that cannot handle the combination.
    """

    mechanism: Mechanism
    noise_multiplier: float
    clients_per_round: int
    num_clients: int
    delta: float | None = None
    sampling: Sampling = Sampling.POISSON
    accountant: AccountantType | None = None

    def __post_init__(self):
        mechanism = errors.parse_enum(Mechanism, self.mechanism, "mechanism")
        sampling = errors.parse_enum(Sampling, self.sampling, "sampling")
        check_noise_multiplier(self.noise_multiplier)
        settings.check_at_least("clients_per_round", self.clients_per_round, 1)
        settings.check_at_least("num_clients", self.num_clients, 1)
        settings.check_cohort(self.clients_per_round, self.num_clients)
        delta = default_delta(self.num_clients) if self.delta is None else self.delta
        if not 0 < delta < 1:
            raise errors.UserInputError(f"delta must be in (0, 1), got {delta}")
        accountant = check_accountant(mechanism, sampling, self.accountant)
        for name, value in (
            ("mechanism", mechanism),
            ("sampling", sampling),
            ("noise_multiplier", float(self.noise_multiplier)),
            ("clients_per_round", int(self.clients_per_round)),
            ("num_clients", int(self.num_clients)),
            ("delta", float(delta)),
            ("accountant", accountant),
        ):
            object.__setattr__(self, name, value)

    @property
    def sampling_probability(self) -> float:
        """q = clients_per_round / num_clients."""
        return self.clients_per_round / self.num_clients

    @property
    def neighboring_relation(self) -> dp_accounting.NeighboringRelation:
        """Add/remove-one-client for Poisson sampling, else replace-one."""
        if self.sampling is Sampling.POISSON:
            return dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE
        return dp_accounting.NeighboringRelation.REPLACE_ONE

    def replace(self, **changes: Any) -> PrivacySpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serializable fields (enums as their values)."""
        return {
            f.name: (v.value if isinstance(v, enum.Enum) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> PrivacySpec:
        """Inverse of `as_dict`."""
        try:
            return cls(**fields)
        except TypeError as e:
            raise errors.UserInputError(
                f"invalid privacy spec {fields!r}: {e}"
            ) from None


def round_event(spec: PrivacySpec) -> dp_accounting.DpEvent:
    """The `DpEvent` the accountant composes for one round of `spec`.

    Poisson sampling: ``PoissonSampledDpEvent(q, GaussianDpEvent(z))`` or
    ``PoissonSampledDpEvent(q, LaplaceDpEvent(z))``. Fixed-size sampling:
    ``SampledWithoutReplacementDpEvent(num_clients, clients_per_round,
    GaussianDpEvent(z / 2))`` for Gaussian, and ``LaplaceDpEvent(z / 2)`` (no
    amplification claimed) for Laplace; see the module docstring.
    """
    z = spec.noise_multiplier
    if spec.sampling is Sampling.POISSON:
        if spec.mechanism is Mechanism.GAUSSIAN:
            noise_event = dp_accounting.GaussianDpEvent(z)
        else:
            noise_event = dp_accounting.LaplaceDpEvent(z)
        return dp_accounting.PoissonSampledDpEvent(
            spec.sampling_probability, noise_event
        )
    if spec.mechanism is Mechanism.GAUSSIAN:
        return dp_accounting.SampledWithoutReplacementDpEvent(
            spec.num_clients,
            spec.clients_per_round,
            dp_accounting.GaussianDpEvent(z / 2),
        )
    return dp_accounting.LaplaceDpEvent(z / 2)


def make_accountant(spec: PrivacySpec) -> dp_accounting.PrivacyAccountant:
    """A fresh `dp_accounting` accountant of `spec`'s type and neighbouring."""
    if spec.accountant is AccountantType.RDP:
        return rdp.RdpAccountant(neighboring_relation=spec.neighboring_relation)
    return pld.PLDAccountant(neighboring_relation=spec.neighboring_relation)


@functools.lru_cache(maxsize=256)
def _single_round_rdp(spec: PrivacySpec) -> tuple[np.ndarray, np.ndarray]:
    accountant = make_accountant(spec)
    accountant.compose(round_event(spec))
    return accountant.orders, accountant.rdp


@functools.lru_cache(maxsize=_EPSILON_CACHE_SIZE)
def _epsilon(spec: PrivacySpec, rounds: int) -> float:
    if rounds == 0:
        return 0.0
    if spec.accountant is AccountantType.RDP:
        # RDP composes by addition: `rounds` times one round's RDP is exactly
        # what `RdpAccountant.compose(event, rounds)` computes, and the
        # per-round RDP (the costly part) is computed once per spec.
        orders, rdp_per_round = _single_round_rdp(spec)
        return float(rdp.compute_epsilon(orders, rounds * rdp_per_round, spec.delta)[0])
    accountant = make_accountant(spec)
    accountant.compose(round_event(spec), rounds)
    return float(accountant.get_epsilon(spec.delta))


def epsilon(spec: PrivacySpec, rounds: int) -> float:
    """Epsilon (at `spec.delta`) spent by `rounds` rounds of `spec`.

    Args:
      spec: the mechanism.
      rounds: number of composed rounds (>= 0).

    Returns:
      The epsilon; 0 for no rounds.

    Raises:
      UserInputError: if `rounds` is negative.
    """
    settings.check_at_least("rounds", rounds, 0)
    return _epsilon(spec, int(rounds))


def assumption(spec: PrivacySpec) -> str:
    """One sentence on the sampling and neighbouring that `spec` assumes."""
    if spec.sampling is Sampling.POISSON:
        return (
            f"Poisson sampling: each of the {spec.num_clients} clients joins a "
            f"round independently with probability q={spec.sampling_probability:.4g} "
            "(add/remove-one-client neighbouring); valid only if the trainer "
            "samples clients that way."
        )
    sentence = (
        f"fixed-size uniform sampling without replacement of "
        f"{spec.clients_per_round} of {spec.num_clients} clients per round "
        "(REPLACE_ONE neighbouring, sensitivity 2*clip)"
    )
    if spec.mechanism is Mechanism.LAPLACE:
        sentence += (
            "; no amplification by sampling is claimed, since dp_accounting "
            "cannot account sampled-without-replacement Laplace"
        )
    return sentence + "."


class PrivacyAccountant:
    """Tracks the epsilon a training run has spent, one round at a time.

    The state is the number of composed rounds plus the spec, so it fits in a
    checkpoint as JSON; the epsilon is recomputed from them.
    """

    def __init__(self, spec: PrivacySpec, *, rounds: int = 0):
        """Initializes the accountant.

        Args:
          spec: the mechanism of every round.
          rounds: rounds already composed (>= 0).
        """
        settings.check_at_least("rounds", rounds, 0)
        self._spec = spec
        self._rounds = int(rounds)

    @property
    def spec(self) -> PrivacySpec:
        return self._spec

    @property
    def rounds(self) -> int:
        """Rounds composed so far."""
        return self._rounds

    def step(self) -> None:
        """Composes one more round."""
        self._rounds += 1

    def epsilon(self) -> float:
        """Epsilon spent so far."""
        return epsilon(self._spec, self._rounds)

    def epsilon_if_step(self) -> float:
        """Epsilon after one more round (to stop before exceeding a budget)."""
        return epsilon(self._spec, self._rounds + 1)

    def get_state(self) -> dict[str, Any]:
        """JSON-serializable state: the rounds and the spec."""
        return {"rounds": self._rounds, "spec": self._spec.as_dict()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores `get_state`'s output (e.g. from a checkpoint).

        Raises:
          UserInputError: if the state's spec differs from this accountant's
            (the rounds of another mechanism would be mis-accounted) or its
            rounds are invalid.
        """
        saved = PrivacySpec.from_dict(dict(state["spec"]))
        if saved != self._spec:
            raise errors.UserInputError(
                f"the saved privacy state is for {saved.as_dict()}, but this run "
                f"uses {self._spec.as_dict()}"
            )
        settings.check_at_least("rounds", state["rounds"], 0)
        self._rounds = int(state["rounds"])

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PrivacyAccountant:
        """An accountant restored from `get_state`'s output."""
        return cls(PrivacySpec.from_dict(dict(state["spec"])), rounds=state["rounds"])

    def report(self) -> dict[str, Any]:
        """What was spent and under which assumptions, JSON-serializable."""
        spec = self._spec
        return {
            "epsilon": self.epsilon(),
            "delta": spec.delta,
            "noise_multiplier": spec.noise_multiplier,
            "rounds": self._rounds,
            "mechanism": spec.mechanism.value,
            "clients_per_round": spec.clients_per_round,
            "num_clients": spec.num_clients,
            "sampling": spec.sampling.value,
            "accountant": spec.accountant.value,
            "assumption": assumption(spec),
        }
