"""The privacy audit end to end: train, observe what each party sees, attack.

`run_audit(options)` audits every configuration of
`tff_rec.privacy.audit.threat_model` on one dataset, for each algorithm:

1. a non-DP run trains the model (users split into members, who train, and
   held-out non-members);
2. from its final model, the server's round: the uploads of audited and
   shadow clients (`tff_rec.privacy.audit.uploads`), seen as each
   configuration's server sees them (`tff_rec.privacy.audit.views`), attacked
   for which items each audited client rated (`interaction`, with secure
   sums of growing cohorts) and for the ratings' values (`rating_value`);
3. membership inference on the released model of the non-DP run and of DP
   runs at each target epsilon (`membership`);
4. the DP runs carry canary clients, whose cosines with the final model give
   the one-shot empirical epsilon next to the accountant's
   (`canaries`, `canary_epsilon`).

Every result is a row (a flat dict; `report.ROW_KEYS` are always present); rows
with a score carry its bootstrap 95% confidence interval.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from collections.abc import Sequence

from tff_rec import errors
from tff_rec import settings
from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import loaders
from tff_rec.data import preparation
from tff_rec.privacy.audit import released_model
from tff_rec.privacy.audit import runs
from tff_rec.privacy.audit import server_round
from tff_rec.privacy.audit import statistics
from tff_rec.privacy.audit import threat_model
from tff_rec.training import config as config_lib
from tff_rec.training import experiment

Algorithm = algorithms_config.Algorithm

DEFAULT_ALGORITHMS = ("fedrecon", "fedavg_unweighted")
DEFAULT_EPSILONS = (1.0, 5.0, 8.0)


@dataclasses.dataclass(frozen=True)
class AuditOptions:
    """What to audit, and how hard.

    Attributes:
      dataset, data_dir, cache_dir, rating_scale: the data (as the train
        pipeline reads it; a CSV file's DP runs need its rating scale).
      algorithms: the algorithms audited.
      rounds: rounds of each training run.
      clients_per_round: clients per round (expected, for the DP runs, which
        sample clients with Poisson sampling).
      non_member_fraction: fraction of users held out of training (the
        non-members of membership inference).
      audited_clients: clients whose uploads are attacked.
      shadow_clients: clients whose uploads (and ratings) calibrate the
        rating-value estimator; they also fill the secure sums' cohorts.
      epsilons: target epsilons of the DP runs.
      delta: DP delta; None means ``1 / N**1.1`` for N clients.
      canaries: canary clients inserted into each DP run.
      held_out_canaries: canaries never inserted.
      configurations: names of `threat_model.CONFIGURATIONS` to audit the
        server's view of; None means all.
      cohorts: the secure sums' cohort sizes.
      seed: seeds the runs, the clients chosen and the canaries.
      bootstrap: bootstrap resamples of each confidence interval.
    """

    dataset: str = loaders.DEFAULT_DATASET
    data_dir: str | None = None
    cache_dir: str | None = None
    rating_scale: str | None = None
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    rounds: int = 50
    clients_per_round: int = 50
    non_member_fraction: float = 0.5
    audited_clients: int = 100
    shadow_clients: int = 100
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS
    delta: float | None = None
    canaries: int = 500
    held_out_canaries: int = 2000
    configurations: tuple[str, ...] | None = None
    cohorts: tuple[int, ...] = threat_model.SECURE_COHORTS
    seed: int = 0
    bootstrap: int = statistics.DEFAULT_RESAMPLES

    def __post_init__(self):
        if self.dataset not in loaders.DATASETS:
            raise errors.UserInputError(
                f"unknown dataset {self.dataset!r}; allowed: "
                + ", ".join(sorted(loaders.DATASETS))
            )
        for algorithm in self.algorithms:
            parsed = errors.parse_enum(Algorithm, algorithm, "algorithms")
            if not parsed.is_federated:
                raise errors.UserInputError(
                    f"algorithms: {parsed.value} is not federated; audit fedrecon, "
                    "fedavg or fedavg_unweighted"
                )
        if not self.algorithms:
            raise errors.UserInputError("algorithms: give at least one")
        settings.check_at_least("rounds", self.rounds, 1)
        settings.check_at_least("clients_per_round", self.clients_per_round, 1)
        settings.check_between(
            "non_member_fraction", self.non_member_fraction, 0.0, 1.0
        )
        settings.check_at_least("audited_clients", self.audited_clients, 2)
        settings.check_at_least("shadow_clients", self.shadow_clients, 2)
        for epsilon in self.epsilons:
            settings.check_positive("epsilons", epsilon)
        if self.delta is not None:
            settings.check_between("delta", self.delta, 0.0, 1.0)
        settings.check_at_least("canaries", self.canaries, 2)
        settings.check_at_least("held_out_canaries", self.held_out_canaries, 2)
        for cohort in self.cohorts:
            settings.check_at_least("cohorts", cohort, 1)
        settings.check_at_least("bootstrap", self.bootstrap, 10)
        for name in self.configurations or ():
            try:
                threat_model.configuration(name)
            except KeyError as e:
                raise errors.UserInputError(str(e.args[0])) from None

    @property
    def audited_configurations(self) -> tuple[threat_model.Configuration, ...]:
        if self.configurations is None:
            return threat_model.CONFIGURATIONS
        return tuple(threat_model.configuration(n) for n in self.configurations)


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Audit:
    """The audit of one algorithm on prepared data (`run_audit` runs it).

    Args:
      options: the audit's options.
      algorithm: the algorithm audited.
      progress: receives one line per stage.
    """

    def __init__(
        self,
        options: AuditOptions,
        algorithm: str,
        *,
        progress: Callable[[str], None] = _announce,
    ):
        self.options = options
        self.progress = progress
        self.base = config_lib.TrainConfig.make(
            algorithm=algorithm,
            dataset=options.dataset,
            data_dir=options.data_dir,
            cache_dir=options.cache_dir,
            rating_scale=options.rating_scale,
            split="held_out_users",
            clients_per_round=options.clients_per_round,
            rounds=options.rounds,
            seed=options.seed,
            baselines=False,
        )
        self.algorithm = self.base.algorithm
        self.data = preparation.prepare(
            self.base.data,
            seed=options.seed,
            held_out_user_fraction=options.non_member_fraction,
        )
        settings.check_cohort(
            options.clients_per_round, self.data.partition.num_clients
        )
        wanted = options.audited_clients + options.shadow_clients
        if wanted > self.data.partition.num_clients:
            raise errors.UserInputError(
                f"audited_clients + shadow_clients = {wanted} exceeds the "
                f"{self.data.partition.num_clients} training clients"
            )
        sums = [
            c.name == "secure_aggregation"
            and options.cohorts
            or c.secure
            and (options.clients_per_round,)
            or ()
            for c in options.audited_configurations
        ]
        largest = max((size for sizes in sums for size in sizes), default=1)
        if largest > wanted:
            raise errors.UserInputError(
                f"a secure sum of {largest} clients (cohorts, clients_per_round) "
                f"needs audited_clients + shadow_clients >= {largest}, got {wanted}"
            )
        self.task = experiment.make_task(self.base, self.data)
        self.reconstruct = self.algorithm is Algorithm.FEDRECON

    def train(self, config, **options) -> runs.TrainedRun:
        """`runs.train` of `config` in this audit."""
        return runs.train(self, config, **options)

    def dp_config(self, epsilon: float):
        return runs.dp_config(self.base, epsilon, self.options.delta)

    def dp_rows(self, epsilon: float, *, noise_factor: float = 1.0) -> list[dict]:
        """Membership and canary rows of a DP run at `epsilon`."""
        broken = noise_factor != 1.0
        name = f"dp_gaussian_fixed_eps{epsilon:g}" + ("_broken" if broken else "")
        run = self.train(
            self.dp_config(epsilon),
            name=name,
            with_canaries=True,
            noise_factor=noise_factor,
        )
        rows = [released_model.canary_row(self, run, name, epsilon, broken)]
        if not broken:
            rows.insert(0, released_model.membership_row(self, run, name, epsilon))
        for row in rows:
            row["broken_dp"] = broken
        return rows


def run_audit(
    options: AuditOptions,
    *,
    progress: Callable[[str], None] = _announce,
    extra: Callable[[Audit], Sequence[dict]] | None = None,
    on_rows: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Audits `options`; returns the rows (see the module docstring).

    Args:
      options: what to audit.
      progress: receives a line per stage.
      extra: called with each algorithm's `Audit` after its rows; returns
        more rows (the benchmark's deliberately broken run).
      on_rows: called with the rows so far after each stage (to save them:
        an interrupted audit keeps what it measured).
    """
    rows: list[dict] = []

    def add(new_rows) -> None:
        rows.extend(new_rows)
        if on_rows is not None:
            on_rows(rows)

    for algorithm in options.algorithms:
        audit = Audit(options, algorithm, progress=progress)
        run = audit.train(audit.base, name="without DP")
        add(server_round.attack_round(audit, run))
        add([released_model.membership_row(audit, run, "mean", None)])
        for epsilon in options.epsilons:
            add(audit.dp_rows(epsilon))
        if extra is not None:
            add(extra(audit))
    return rows
