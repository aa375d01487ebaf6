"""The privacy section of a run: the aggregator, its DP options, the budget."""

from __future__ import annotations

import dataclasses
import enum

from tff_rec import errors
from tff_rec import settings
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.privacy import accounting
from tff_rec.privacy import calibration
from tff_rec.privacy import customer_dp


class PrivacyUnit(enum.Enum):
    """Whose data a run's DP protects.

    ``client``: a whole client (a user's device, or a whole store), by the
    DP aggregators. ``customer``: one customer inside a store, by DP-SGD in
    every store (`tff_rec.privacy.customer_dp`).
    """

    CLIENT = "client"
    CUSTOMER = "customer"


@dataclasses.dataclass(frozen=True)
class PrivacyConfig(settings.Section):
    """How client updates are aggregated, and what privacy that buys.

    The options of the aggregator itself are checked by
    `tff_rec.aggregators.factory.check_options` (the run's configuration
    calls it with the federated section's algorithm and cohort).

    Attributes:
      aggregator: mean, or a differentially private aggregator.
      noise_multiplier: DP noise relative to the clip (> 0); None with
        `target_epsilon` calibrates it.
      clip: fixed clip (L2 for dp_gaussian_fixed, L1 for dp_laplace).
      target_quantile, initial_clip: the adaptive clip (dp_gaussian_adaptive).
      target_epsilon: the privacy budget: training stops before the round
        that would exceed it (and the noise is calibrated to it when no
        `noise_multiplier` is given).
      delta: DP delta; None means ``1 / N**1.1`` for N clients.
      secure_aggregation: sum client updates with TFF's secure summation.
      accountant: which dp_accounting accountant composes the rounds; None
        means RDP for Gaussian noise, PLD for Laplace.
      privacy_unit: ``customer`` trains every store with customer-level
        DP-SGD (`tff_rec.algorithms.customer_dp_fedavg`), with the
        ``customer_*`` settings; ``client`` is the aggregators' DP.
      customer_epsilon: customer-level target epsilon of the rounds (the
        noise is calibrated to it); delta is `delta`, None meaning
        ``1 / customers**1.1``.
      customer_clip: L2 bound of one customer's contribution to a step.
      customer_sampling_rate: probability that a customer joins a step.
      customer_steps: DP-SGD steps per store per round.
    """

    aggregator: aggregator_factory.AggregatorType = settings.choice(
        aggregator_factory.AggregatorType,
        default=aggregator_factory.AggregatorType.MEAN,
    )
    # Checked with the federated section (`check_with`).
    noise_multiplier: float | None = settings.checked(None, default=None)
    clip: float | None = settings.checked(None, default=None)
    target_quantile: float | None = settings.checked(None, default=None)
    initial_clip: float | None = settings.checked(None, default=None)
    target_epsilon: float | None = settings.positive(default=None)
    delta: float | None = settings.between(0.0, 1.0, default=None)
    secure_aggregation: bool = settings.flag(default=False)
    accountant: accounting.AccountantType | None = settings.choice(
        accounting.AccountantType, default=None
    )
    privacy_unit: PrivacyUnit = settings.choice(PrivacyUnit, default=PrivacyUnit.CLIENT)
    customer_epsilon: float = settings.positive(default=8.0)
    customer_clip: float = settings.positive(default=0.1)
    customer_sampling_rate: float = settings.between(
        0.0, 1.0, default=customer_dp.DEFAULT_SAMPLING_RATE
    )
    customer_steps: int = settings.at_least(1, default=5)

    @property
    def customer_level(self) -> bool:
        return self.privacy_unit is PrivacyUnit.CUSTOMER

    @property
    def is_dp(self) -> bool:
        return self.aggregator.is_dp

    @property
    def mechanism(self) -> accounting.Mechanism:
        if self.aggregator is aggregator_factory.AggregatorType.DP_LAPLACE:
            return accounting.Mechanism.LAPLACE
        return accounting.Mechanism.GAUSSIAN

    def _check(self):
        customer = ("customer_epsilon", "customer_clip", "customer_sampling_rate")
        if not self.customer_level:
            settings.reject_given(
                self, (*customer, "customer_steps"), "only with privacy_unit='customer'"
            )
        elif self.is_dp:
            raise errors.UserInputError(
                "privacy_unit='customer' adds its noise inside the stores: use "
                f"aggregator='mean', not {self.aggregator.value!r}"
            )
        if not self.is_dp:
            settings.reject_given(
                self,
                ("noise_multiplier", "target_epsilon", "accountant")
                + (() if self.customer_level else ("delta",)),
                "only for DP aggregators; got "
                f"aggregator={self.aggregator.value!r} (use dp_gaussian_fixed, "
                "dp_gaussian_adaptive or dp_laplace)",
            )

    def sampling(self, poisson: bool) -> accounting.Sampling:
        return (
            accounting.Sampling.POISSON if poisson else accounting.Sampling.FIXED_SIZE
        )

    def check_with(
        self, *, weighted: bool, clients_per_round: int, poisson: bool
    ) -> None:
        """The aggregator's and accountant's rules, given the federated section.

        Args:
          weighted: whether the algorithm weights clients by their examples.
          clients_per_round: the (expected) clients per round.
          poisson: clients are Poisson-sampled (else a fixed number).

        Raises:
          tff_rec.errors.UserInputError: as `aggregator_factory.check_options`,
            or an accountant that cannot account the mechanism and sampling.
        """
        aggregator_factory.check_options(
            self.aggregator,
            weighted=weighted,
            noise_multiplier=self.noise_multiplier,
            clients_per_round=clients_per_round,
            clip=self.clip,
            target_quantile=self.target_quantile,
            initial_clip=self.initial_clip,
            secure=self.secure_aggregation,
            noise_calibrated=self.target_epsilon is not None,
        )
        if self.is_dp:
            accounting.check_accountant(
                self.mechanism, self.sampling(poisson), self.accountant
            )

    def spec(
        self, *, rounds: int, clients_per_round: int, num_clients: int, poisson: bool
    ) -> accounting.PrivacySpec | None:
        """The DP mechanism as the accountant sees it (None without DP).

        With `target_epsilon` and no `noise_multiplier`, the noise multiplier
        is calibrated so that `rounds` rounds spend the target.
        """
        if not self.is_dp:
            return None
        noise_multiplier = self.noise_multiplier
        if noise_multiplier is None:
            noise_multiplier = calibration.calibrate_noise_multiplier(
                target_epsilon=self.target_epsilon,
                rounds=rounds,
                clients_per_round=clients_per_round,
                num_clients=num_clients,
                delta=self.delta,
                mechanism=self.mechanism,
                sampling=self.sampling(poisson),
                accountant=self.accountant,
            )
        return accounting.PrivacySpec(
            mechanism=self.mechanism,
            noise_multiplier=noise_multiplier,
            clients_per_round=clients_per_round,
            num_clients=num_clients,
            delta=self.delta,
            sampling=self.sampling(poisson),
            accountant=self.accountant,
        )
