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

Every result is a row (a flat dict; `ROW_KEYS` are always present); rows
with a score carry its bootstrap 95% confidence interval.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np

from tff_rec import errors
from tff_rec import settings
from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import loaders
from tff_rec.data import preparation
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy import accounting
from tff_rec.privacy.audit import canaries as canaries_lib
from tff_rec.privacy.audit import canary_epsilon
from tff_rec.privacy.audit import interaction
from tff_rec.privacy.audit import membership
from tff_rec.privacy.audit import observations as observations_lib
from tff_rec.privacy.audit import rating_value
from tff_rec.privacy.audit import statistics
from tff_rec.privacy.audit import threat_model
from tff_rec.privacy.audit import uploads as uploads_lib
from tff_rec.privacy.audit import views as views_lib
from tff_rec.tasks import rating
from tff_rec.training import attacks
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import hooks as hooks_lib
from tff_rec.training import process as process_lib
from tff_rec.training import rounds as rounds_lib
from tff_rec.training import sampling

Algorithm = algorithms_config.Algorithm
Observation = threat_model.Observation
Party = threat_model.Party

DEFAULT_ALGORITHMS = ("fedrecon", "fedavg_unweighted")
DEFAULT_EPSILONS = (1.0, 5.0, 8.0)
# The DP runs' clip and server optimizer: those `benchmarks/privacy_utility.py`
# found best for reconstruction on ML-100K (the default clip of 1 and server
# SGD lose most of the model to the noise).
DP_SETTINGS = {"clip": 0.1, "server_optimizer": "adam", "server_learning_rate": 0.03}
LOW_FPRS = (0.01, 0.001)
ROW_KEYS = (
    "algorithm",
    "config",
    "attack",
    "party",
    "tensors_read",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "epsilon_accountant",
    "epsilon_empirical",
    "epsilon_empirical_ci_low",
    "epsilon_empirical_ci_high",
    "broken_dp",
)


@dataclasses.dataclass(frozen=True)
class AuditOptions:
    """What to audit, and how hard.

    Attributes:
      dataset, data_dir, cache_dir: the data (as the train pipeline reads it).
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
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    rounds: int = 50
    clients_per_round: int = 50
    non_member_fraction: float = 0.5
    audited_clients: int = 100
    shadow_clients: int = 100
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS
    delta: float | None = None
    canaries: int = 100
    held_out_canaries: int = 1000
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


def blank_row(algorithm: str, config: str, attack: str, party: Party) -> dict:
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row.update(algorithm=algorithm, config=config, attack=attack, party=party.value)
    row["broken_dp"] = False
    return row


@dataclasses.dataclass
class TrainedRun:
    """A training run of the audit.

    Attributes:
      config: its settings.
      process: its learning process.
      initial, final: the model weights before and after training.
      initial_tables, released: the initial and released models' tables.
      test_rmse: the released model's test RMSE.
      spec: the DP mechanism the accountant was given (None without DP).
      canaries: its canary clients (DP runs).
    """

    config: config_lib.TrainConfig
    process: Any
    initial: Any
    final: Any
    initial_tables: Any
    released: Any
    test_rmse: float
    spec: accounting.PrivacySpec | None = None
    canaries: canaries_lib.CanaryClients | None = None


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
        largest = max((*options.cohorts, options.clients_per_round))
        if largest > wanted:
            raise errors.UserInputError(
                f"a secure sum of {largest} clients (cohorts, clients_per_round) "
                f"needs audited_clients + shadow_clients >= {largest}, got {wanted}"
            )
        self.task = experiment.make_task(self.base, self.data)
        self.reconstruct = self.algorithm is Algorithm.FEDRECON

    # Training.
    def dp_config(self, epsilon: float) -> config_lib.TrainConfig:
        return self.base.replace(
            aggregator="dp_gaussian_fixed",
            target_epsilon=epsilon,
            delta=self.options.delta,
            client_sampling="poisson",
            **DP_SETTINGS,
        )

    def train(
        self,
        config: config_lib.TrainConfig,
        *,
        name: str,
        with_canaries: bool = False,
        noise_factor: float = 1.0,
    ) -> TrainedRun:
        """Trains `config` (with canary clients if asked).

        Args:
          config: the run.
          name: for the progress lines.
          with_canaries: insert `options.canaries` canary clients.
          noise_factor: the process adds this times the noise the accountant
            is told of (1 in every audit; less only to check that the audit
            catches a broken mechanism).
        """
        data, task, federated = self.data, self.task, config.federated
        num_clients = data.partition.num_clients
        spec = config.privacy.spec(
            rounds=federated.rounds,
            clients_per_round=federated.clients_per_round,
            num_clients=num_clients,
            poisson=federated.client_sampling
            is algorithms_config.ClientSampling.POISSON,
        )
        run_spec = spec
        if spec is not None and noise_factor != 1.0:
            run_spec = spec.replace(
                noise_multiplier=spec.noise_multiplier * noise_factor
            )
        step, _ = process_lib.server_learning_rate(config, data)

        def build():
            return process_lib.build_run_process(
                config, task, data, spec=run_spec, server_learning_rate=step
            )

        hooks: list[hooks_lib.RoundHook] = []
        canaries = None
        if with_canaries:
            clip = config.privacy.clip
            canaries = canaries_lib.CanaryClients(
                self.options.canaries,
                self.options.held_out_canaries,
                probability=federated.clients_per_round / num_clients,
                carrier=self._carrier(),
                seed=self.options.seed,
            )
            process = attacks.build_replacing_process(
                build,
                lambda work: attacks.replace_updates(
                    work, canaries_lib.replacement(1.0 if clip is None else clip)
                ),
            )
            hooks.append(canaries)
        else:
            process = build()
        process, client_data_fn = task.client_inputs(process, attacked=with_canaries)
        initial_state = process.initialize()
        initial = process.get_model_weights(initial_state)
        initial_tables = task.global_weights(process, initial_state)
        sampler = sampling.ClientSampler(
            num_clients,
            federated.clients_per_round,
            client_data_fn,
            sampling=federated.client_sampling,
            seed=config.seed,
        )
        self.progress(f"Audit: training {self.algorithm.value} {name}")
        outcome = rounds_lib.run_rounds(
            process,
            sampler,
            rounds=federated.rounds,
            hooks=[*hooks, hooks_lib.ProgressRelease()],
        )
        final = process.get_model_weights(outcome.state)
        released = task.global_weights(process, outcome.state)
        rmse = float(task.evaluate_weights(released).rmse)
        return TrainedRun(
            config,
            process,
            initial,
            final,
            initial_tables,
            released,
            rmse,
            spec,
            canaries,
        )

    def _carrier(self):
        """The data a canary client holds: the smallest client's."""
        smallest = int(np.argmin(np.diff(self.data.federated.offsets)))
        federated = self.base.federated
        return rating.datasets_fn(
            self.data.federated,
            batch_size=federated.batch_size,
            epochs=federated.dataset_epochs,
            user_key=federated.user_key,
            seed=self.base.seed,
        )(np.array([smallest]), 1)[0]

    # The server's round.
    def server_round(self, run: TrainedRun) -> list[dict]:
        """Rows of the attacks on one round's uploads, per configuration."""
        options = self.options
        rng = np.random.default_rng([options.seed, 0x617564])
        chosen = rng.choice(
            self.data.partition.num_clients,
            options.audited_clients + options.shadow_clients,
            replace=False,
        )
        self.progress(
            f"Audit: collecting {len(chosen)} clients' uploads ({self.algorithm.value})"
        )
        uploads = uploads_lib.collect_uploads(
            self.base,
            self.task,
            self.data,
            run.final,
            chosen,
            round_num=options.rounds + 1,
        )
        targets = np.arange(options.audited_clients)
        shadows = np.arange(options.audited_clients, len(chosen))
        rated = [self._rated(int(k)) for k in chosen]
        rows = []
        for config in options.audited_configurations:
            view = views_lib.server_view(uploads, config, seed=options.seed)
            rows += self._interaction_rows(config, uploads, view, targets, rated)
            rows += self._rating_value_rows(
                config, uploads, view, targets, shadows, rated
            )
        return rows

    def _rated(self, client: int) -> tuple[np.ndarray, np.ndarray]:
        """A client's rated items (unique) and their mean rating per item."""
        federated = self.data.federated
        rows = federated.client_rows(client)
        items, inverse = np.unique(federated.items[rows], return_inverse=True)
        ratings = np.bincount(inverse, federated.ratings[rows]) / np.bincount(inverse)
        return items, ratings

    def _tensors(self, uploads, view, target, cohort, rng) -> dict:
        tensors = {
            Observation.BROADCAST: uploads.broadcast,
            Observation.CLIENT_UPLOAD: view.messages[target],
            Observation.MESSAGE_BYTES: view.message_bytes[target],
        }
        if view.item_rows is not None:
            tensors[Observation.CLIENT_ROW_INDICES] = view.item_rows[target]
        if cohort is not None:
            others = np.delete(np.arange(len(view.messages)), target)
            members = np.concatenate(
                [[target], rng.choice(others, cohort - 1, replace=False)]
            )
            tensors[Observation.SECURE_SUM] = view.cohort_sum(members)
        return tensors

    def _interaction_rows(self, config, uploads, view, targets, rated) -> list[dict]:
        positions = [uploads.position(t) for t in uploads_lib.ITEM_TABLES]
        if config.name == "secure_aggregation":
            cohorts = self.options.cohorts
        elif config.secure:
            cohorts = (self.options.clients_per_round,)
        else:
            cohorts = (None,)
        rows = []
        for cohort in cohorts:
            rng = np.random.default_rng([self.options.seed, 0x636F68, cohort or 0])
            results, read = [], set()
            for target in targets:
                observed = observations_lib.Observations(
                    Party.SERVER,
                    config,
                    self._tensors(uploads, view, target, cohort, rng),
                )
                scores = interaction.item_scores(observed, positions)
                results.append(interaction.evaluate(scores, rated[target][0]))
                read.update(observed.read)
            aucs = np.array([r[0] for r in results])
            precisions = np.array([r[1] for r in results])
            row = blank_row(
                self.algorithm.value, config.name, "interaction", Party.SERVER
            )
            row.update(
                tensors_read=sorted(read),
                cohort=1 if cohort is None else cohort,
                decoy_rows=int(config.settings.get("decoy_rows", 0)),
                num_targets=len(targets),
                **self._mean_with_ci("auc", aucs),
                **self._mean_with_ci("precision", precisions),
            )
            rows.append(row)
        return rows

    def _mean_with_ci(self, name: str, values: np.ndarray) -> dict[str, float]:
        low, high = statistics.grouped_bootstrap_ci(
            lambda groups: float(np.mean(groups)),
            list(values),
            num_resamples=self.options.bootstrap,
            seed=self.options.seed,
        )
        return {
            name: float(np.mean(values)),
            f"{name}_ci_low": low,
            f"{name}_ci_high": high,
        }

    def _rating_value_rows(
        self, config, uploads, view, targets, shadows, rated
    ) -> list[dict]:
        row = blank_row(self.algorithm.value, config.name, "rating_value", Party.SERVER)
        if Observation.CLIENT_UPLOAD not in threat_model.visible(Party.SERVER, config):
            row["note"] = "no single client's upload reaches the server"
            return [row]
        tables = rating_value.ItemTables(
            embedding=uploads.position(mf.ITEM_EMBEDDING),
            bias=uploads.position(mf.ITEM_BIAS),
        )
        read = set()

        def dataset(positions):
            xs, ys = [], []
            for p in positions:
                observed = observations_lib.Observations(
                    Party.SERVER, config, self._tensors(uploads, view, p, None, None)
                )
                items, ratings = rated[p]
                xs.append(rating_value.rated_features(observed, tables, items))
                ys.append(ratings)
                read.update(observed.read)
            return xs, ys

        shadow_x, shadow_y = dataset(shadows)
        target_x, target_y = dataset(targets)
        x, y = np.concatenate(shadow_x), np.concatenate(shadow_y)
        full = rating_value.fit(x, y)
        bias_only = rating_value.fit(x[:, rating_value.BIAS_ONLY], y)
        per_user = [
            (
                np.sum(np.square(tx @ full - ty)),
                np.sum(np.square(tx[:, rating_value.BIAS_ONLY] @ bias_only - ty)),
                np.sum(np.square(np.mean(ty) - ty)),
                len(ty),
            )
            for tx, ty in zip(target_x, target_y, strict=True)
        ]

        def rmse(column):
            def statistic(groups):
                return float(
                    math.sqrt(
                        sum(g[column] for g in groups) / sum(g[3] for g in groups)
                    )
                )

            return statistic

        stats = {}
        for name, column in (
            ("rmse", 0),
            ("rmse_without_upload", 1),
            ("rmse_user_mean", 2),
        ):
            low, high = statistics.grouped_bootstrap_ci(
                rmse(column),
                per_user,
                num_resamples=self.options.bootstrap,
                seed=self.options.seed,
            )
            stats.update(
                {
                    name: rmse(column)(per_user),
                    f"{name}_ci_low": low,
                    f"{name}_ci_high": high,
                }
            )
        row.update(tensors_read=sorted(read), num_targets=len(targets), **stats)
        return [row]

    # The released model.
    def membership_row(self, run: TrainedRun, name: str, epsilon: float | None) -> dict:
        """Membership inference against `run`'s released model."""
        split = self.data.split
        train, history, test = split.train, split.test_history, split.test
        candidates = dataclasses.replace(
            train,
            users=np.concatenate([train.users, history.users, test.users]),
            items=np.concatenate([train.items, history.items, test.items]),
            ratings=np.concatenate([train.ratings, history.ratings, test.ratings]),
            timestamps=None,
        )
        members = np.unique(train.users)
        non_members = np.unique(test.users)
        config = threat_model.Configuration(
            name, name, dict(run.config.privacy.given())
        )
        observed = observations_lib.Observations(
            Party.MODEL_HOLDER,
            config,
            {
                Observation.INITIAL_MODEL: run.initial_tables,
                Observation.RELEASED_MODEL: run.released,
            },
        )
        model = run.config.model
        options = dict(reconstruct=self.reconstruct, l2=model.l2, bias_l2=model.bias_l2)
        inside = membership.user_scores(observed, candidates, members, **options)
        outside = membership.user_scores(observed, candidates, non_members, **options)
        row = blank_row(self.algorithm.value, name, "membership", Party.MODEL_HOLDER)
        auc = statistics.roc_auc(inside, outside)
        low, high = statistics.bootstrap_ci(
            statistics.roc_auc,
            (inside, outside),
            num_resamples=self.options.bootstrap,
            seed=self.options.seed,
        )
        row.update(
            tensors_read=list(observed.read),
            auc=auc,
            auc_ci_low=low,
            auc_ci_high=high,
            members=len(members),
            non_members=len(non_members),
            resolvable_fpr=statistics.resolvable_fpr(len(non_members)),
            test_rmse=run.test_rmse,
            scoring="error drop from the initial model, "
            + (
                "reconstructed user factors"
                if self.reconstruct
                else "released user rows"
            ),
        )
        delta = None if run.spec is None else run.spec.delta
        row["epsilon_accountant"] = epsilon
        for fpr in LOW_FPRS:
            key = f"tpr_at_{fpr:g}_fpr"
            row[key] = statistics.tpr_at_fpr(inside, outside, fpr)
            _, high = statistics.bootstrap_ci(
                lambda a, b, fpr=fpr: statistics.tpr_at_fpr(a, b, fpr),
                (inside, outside),
                num_resamples=self.options.bootstrap,
                seed=self.options.seed,
            )
            row[f"{key}_ci_high"] = high
            if epsilon is not None:
                bound = statistics.dp_tpr_bound(fpr, epsilon, delta)
                row[f"{key}_dp_bound"] = bound
                row[f"{key}_within_bound"] = bool(row[key] <= bound)
        return row

    def canary_row(
        self, run: TrainedRun, name: str, epsilon: float, broken: bool
    ) -> dict:
        """The one-shot empirical epsilon of `run` (a DP run with canaries)."""
        update = [
            np.asarray(a, np.float64) - np.asarray(b, np.float64)
            for a, b in zip(run.initial.trainable, run.final.trainable, strict=True)
        ]
        inserted, held_out = run.canaries.cosines(update)
        estimate = canary_epsilon.estimate_epsilon(
            inserted,
            held_out,
            run.spec.delta,
            num_resamples=self.options.bootstrap,
            seed=self.options.seed,
            equal_variance=True,
        )
        row = blank_row(
            self.algorithm.value, name, "canary_epsilon", Party.MODEL_HOLDER
        )
        row.update(
            tensors_read=[
                Observation.INITIAL_MODEL.value,
                Observation.RELEASED_MODEL.value,
            ],
            epsilon_accountant=accounting.epsilon(
                run.spec, run.config.federated.rounds
            ),
            epsilon_empirical=estimate.epsilon,
            epsilon_empirical_ci_low=estimate.ci_low,
            epsilon_empirical_ci_high=estimate.ci_high,
            broken_dp=broken,
            noise_multiplier_accountant=run.spec.noise_multiplier,
            noise_multiplier_applied=run.spec.noise_multiplier
            * (0.1 if broken else 1.0),
            delta=run.spec.delta,
            canaries_inserted=len(inserted),
            canaries_held_out=len(held_out),
            canary_participations=int(run.canaries.participation.sum()),
            cosine_inserted_mean=float(np.mean(inserted)),
            cosine_held_out_mean=float(np.mean(held_out)),
            cosine_held_out_std=float(np.std(held_out, ddof=1)),
            test_rmse=run.test_rmse,
        )
        # An auc for the canary test itself: inserted vs held-out cosines.
        row["auc"] = statistics.roc_auc(inserted, held_out)
        row["auc_ci_low"], row["auc_ci_high"] = statistics.bootstrap_ci(
            statistics.roc_auc,
            (inserted, held_out),
            num_resamples=self.options.bootstrap,
            seed=self.options.seed,
        )
        return row

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
        rows = [self.canary_row(run, name, epsilon, broken)]
        if not broken:
            rows.insert(0, self.membership_row(run, name, epsilon))
        for row in rows:
            row["broken_dp"] = broken
        return rows


def run_audit(
    options: AuditOptions,
    *,
    progress: Callable[[str], None] = _announce,
    extra: Callable[[Audit], Sequence[dict]] | None = None,
) -> list[dict]:
    """Audits `options`; returns the rows (see the module docstring).

    Args:
      options: what to audit.
      progress: receives a line per stage.
      extra: called with each algorithm's `Audit` after its rows; returns
        more rows (the benchmark's deliberately broken run).
    """
    rows: list[dict] = []
    for algorithm in options.algorithms:
        audit = Audit(options, algorithm, progress=progress)
        run = audit.train(audit.base, name="without DP")
        rows += audit.server_round(run)
        rows.append(audit.membership_row(run, "mean", None))
        for epsilon in options.epsilons:
            rows += audit.dp_rows(epsilon)
        if extra is not None:
            rows += list(extra(audit))
    return rows
