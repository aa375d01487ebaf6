"""A run's configuration: typed sections, each checked once, before any work.

`TrainConfig` composes one section per concern, each defined (and checked)
by the package that uses it:

* ``data``: dataset, split, partition into clients (`tff_rec.data.config`);
* ``model``: task, Keras model, loss (`tff_rec.tasks.config`);
* ``federated``: algorithm, rounds, sampling, optimizers
  (`tff_rec.algorithms.config`);
* ``privacy``: aggregator, DP options, budget (`tff_rec.privacy.config`);
* ``communication``: update and broadcast encoding
  (`tff_rec.compression.config`);
* ``reliability``: checkpoints, failures, robustness, attacks (this module);
* ``evaluation``: test metrics, personalization, baselines
  (`tff_rec.evaluation.config`).

A section checks its own fields when it is made; `TrainConfig` checks the
rules that tie sections together, each once. Every setting has a unique
name, which is also its flag's name (``--clients_per_round``), so
`TrainConfig.make(clients_per_round=20, ...)` and ``hparams.json`` (the
nested `TrainConfig.as_dict`) name settings the way the command line does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from tff_rec import errors
from tff_rec import settings
from tff_rec.algorithms import config as algorithms_config
from tff_rec.compression import aggregation as compression_aggregation
from tff_rec.compression import config as compression_config
from tff_rec.data import config as data_config
from tff_rec.data import splits
from tff_rec.evaluation import config as evaluation_config
from tff_rec.privacy import config as privacy_config
from tff_rec.tasks import config as tasks_config
from tff_rec.training import attacks

Algorithm = algorithms_config.Algorithm
Task = tasks_config.Task
ModelType = tasks_config.ModelType


@dataclasses.dataclass(frozen=True)
class ReliabilityConfig(settings.Section):
    """What a run does about interruptions, failing and malicious clients.

    Attributes:
      checkpoint_every: save a checkpoint every this many rounds (and after
        the last); a rerun resumes from the latest.
      keep_checkpoints: how many of the newest checkpoints are kept.
      dropout_rate: probability that a sampled client fails mid-round.
      min_clients_per_round: a round in which fewer clients report is
        aborted (the model unchanged); None means 1.
      robust: drop non-finite updates (with the mean aggregator also zero
        outliers and clip).
      malicious_fraction: simulation: this fraction of the clients is
        malicious for the whole run.
      attack: simulation: what malicious clients send.
    """

    checkpoint_every: int = settings.at_least(1, default=1, resumable=True)
    keep_checkpoints: int = settings.at_least(1, default=2, resumable=True)
    dropout_rate: float = settings.between(0.0, 1.0, default=0.0, closed_low=True)
    min_clients_per_round: int | None = settings.at_least(1, default=None)
    robust: bool = settings.flag(default=False)
    malicious_fraction: float = settings.between(0.0, 1.0, default=0.0, closed_low=True)
    attack: attacks.AttackType | None = settings.choice(
        attacks.AttackType, default=None
    )

    def _check(self):
        if self.malicious_fraction > 0 and self.attack is None:
            raise errors.UserInputError(
                f"malicious_fraction={self.malicious_fraction} needs an attack: "
                + ", ".join(repr(a.value) for a in attacks.AttackType)
            )
        if self.attack is not None and self.malicious_fraction == 0:
            raise errors.UserInputError(
                f"attack={self.attack.value!r} needs malicious_fraction > 0"
            )


SECTIONS: dict[str, type[settings.Section]] = {
    "data": data_config.DataConfig,
    "model": tasks_config.ModelConfig,
    "federated": algorithms_config.FederatedConfig,
    "privacy": privacy_config.PrivacyConfig,
    "communication": compression_config.CommunicationConfig,
    "reliability": ReliabilityConfig,
    "evaluation": evaluation_config.EvaluationConfig,
}
# Settings outside the sections; the output folder may be moved or renamed
# between a run and its resumption.
# Seeds are combined with round numbers and passed to TensorFlow's int64 ops.
MAX_SEED = 2**31 - 1
RUN_SETTINGS = ("seed", "root_output_dir", "experiment_name", "scenario")
_RESUMABLE_RUN_SETTINGS = frozenset({"root_output_dir", "experiment_name"})
_SECTION_OF = {
    name: section for section, cls in SECTIONS.items() for name in cls.field_names()
}


def section_of(name: str) -> str | None:
    """The section holding setting `name` (None for the run's own settings).

    Raises:
      tff_rec.errors.UserInputError: for a name that is no setting.
    """
    if name in RUN_SETTINGS:
        return None
    if name not in _SECTION_OF:
        raise errors.UserInputError(f"unknown setting {name!r}")
    return _SECTION_OF[name]


def _section_field(cls):
    return dataclasses.field(default_factory=cls)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; defaults are the documented defaults.

    Make one from sections (``TrainConfig(federated=FederatedConfig(...))``)
    or from setting names (`TrainConfig.make`). It is checked when made:
    each section by itself, then the rules across sections here.
    """

    data: data_config.DataConfig = _section_field(data_config.DataConfig)
    model: tasks_config.ModelConfig = _section_field(tasks_config.ModelConfig)
    federated: algorithms_config.FederatedConfig = _section_field(
        algorithms_config.FederatedConfig
    )
    privacy: privacy_config.PrivacyConfig = _section_field(privacy_config.PrivacyConfig)
    communication: compression_config.CommunicationConfig = _section_field(
        compression_config.CommunicationConfig
    )
    reliability: ReliabilityConfig = _section_field(ReliabilityConfig)
    evaluation: evaluation_config.EvaluationConfig = _section_field(
        evaluation_config.EvaluationConfig
    )
    seed: int = 0
    root_output_dir: str = "runs"
    experiment_name: str = "ml100k_fedrecon"
    scenario: str | None = None

    def __post_init__(self):
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}")
        settings.check_at_least("seed", self.seed, 0)
        if self.seed > MAX_SEED:
            raise errors.UserInputError(
                f"seed must be <= {MAX_SEED} (2**31 - 1), got {self.seed}"
            )
        if isinstance(self.root_output_dir, os.PathLike):
            object.__setattr__(self, "root_output_dir", os.fspath(self.root_output_dir))
        if not isinstance(self.root_output_dir, str) or not self.root_output_dir:
            raise errors.UserInputError("root_output_dir must be a non-empty path")
        if (
            not isinstance(self.experiment_name, str)
            or not self.experiment_name
            or "/" in self.experiment_name
        ):
            raise errors.UserInputError(
                "experiment_name must be a non-empty name without '/', "
                f"got {self.experiment_name!r}"
            )
        self._check_federated_only()
        self._check_customer_level()
        self._check_privacy()
        self._check_task()
        reliability = self.reliability
        if (
            reliability.min_clients_per_round is not None
            and reliability.min_clients_per_round > self.federated.clients_per_round
        ):
            raise errors.UserInputError(
                f"min_clients_per_round={reliability.min_clients_per_round} exceeds "
                f"clients_per_round={self.federated.clients_per_round}: most "
                "rounds would be aborted"
            )

    @property
    def algorithm(self) -> Algorithm:
        return self.federated.algorithm

    @property
    def task(self) -> Task:
        return self.model.task

    @property
    def is_dp(self) -> bool:
        return self.privacy.is_dp

    def privacy_spec(self, num_clients: int):
        """The run's DP mechanism over `num_clients` clients, as its accountant
        sees it (`PrivacyConfig.spec`); None without DP."""
        federated = self.federated
        return self.privacy.spec(
            rounds=federated.rounds,
            clients_per_round=federated.clients_per_round,
            num_clients=num_clients,
            poisson=federated.client_sampling
            is algorithms_config.ClientSampling.POISSON,
        )

    def _check_customer_level(self):
        if not self.privacy.customer_level:
            return
        if self.task is not Task.RATING or self.algorithm not in (
            Algorithm.FEDAVG,
            Algorithm.FEDAVG_UNWEIGHTED,
        ):
            raise errors.UserInputError(
                "privacy_unit='customer' trains star ratings with FedAvg over "
                f"stores: needs task='rating' and algorithm='fedavg', got "
                f"task={self.task.value!r}, algorithm={self.algorithm.value!r}"
            )

    def _check_federated_only(self):
        if self.algorithm.is_federated:
            return
        reason = f"only for federated algorithms, not {self.algorithm.value!r}"
        settings.reject_given(self.privacy, self.privacy.field_names(), reason)
        settings.reject_given(
            self.communication, self.communication.field_names(), reason
        )
        settings.reject_given(
            self.reliability,
            ("dropout_rate", "min_clients_per_round", "robust", "malicious_fraction"),
            reason,
        )
        settings.reject_given(self.evaluation, ("personalize_steps",), reason)

    def _check_privacy(self):
        federated = self.federated
        self.privacy.check_with(
            weighted=federated.algorithm is Algorithm.FEDAVG,
            clients_per_round=federated.clients_per_round,
            poisson=federated.client_sampling
            is algorithms_config.ClientSampling.POISSON,
        )
        compression_aggregation.check_decoys(
            self.communication.decoy_rows, self.privacy.secure_aggregation
        )

    def _check_task(self):
        if not self.evaluation.personalize_steps:
            return
        if self.task is not Task.IMPLICIT:
            raise errors.UserInputError(
                "personalize_steps only applies to task='implicit'"
            )
        if self.data.split is splits.SplitType.HELD_OUT_USERS:
            raise errors.UserInputError(
                "personalize_steps fine-tunes on each participant's own data; "
                "with split='held_out_users' the test users are not participants"
            )

    @classmethod
    def make(cls, **values: Any) -> TrainConfig:
        """The config of the settings `values` (by name), defaults elsewhere.

        Raises:
          tff_rec.errors.UserInputError: unknown names or invalid settings.
        """
        return cls().replace(**values)

    def replace(self, **values: Any) -> TrainConfig:
        """A copy with the settings `values` (by name) changed, checked again.

        Raises:
          tff_rec.errors.UserInputError: unknown names or invalid settings.
        """
        changes: dict[str, Any] = {}
        by_section: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            section = section_of(name)
            if section is None:
                changes[name] = value
            else:
                by_section.setdefault(section, {})[name] = value
        for section, fields in by_section.items():
            changes[section] = dataclasses.replace(getattr(self, section), **fields)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The nested form written to ``hparams.json`` (enums as values)."""
        nested: dict[str, Any] = {
            name: getattr(self, name).as_dict() for name in SECTIONS
        }
        nested.update({name: getattr(self, name) for name in RUN_SETTINGS})
        return nested

    def flat(self) -> dict[str, Any]:
        """Every setting by name (enums as values)."""
        flat = {name: getattr(self, name) for name in RUN_SETTINGS}
        for name in SECTIONS:
            flat.update(getattr(self, name).as_dict())
        return flat

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """The config of `as_dict` output, or of a flat dict of settings.

        Raises:
          tff_rec.errors.UserInputError: unknown names or invalid settings.
        """
        if not isinstance(values.get("data"), Mapping):
            # Flat, as written by versions before the sections.
            return cls.make(**values)
        flat = {k: v for k, v in values.items() if k not in SECTIONS}
        for name in SECTIONS:
            section = values.get(name, {})
            if not isinstance(section, Mapping):
                raise errors.UserInputError(f"{name} must be a mapping of settings")
            for key in section:
                if section_of(key) != name:
                    raise errors.UserInputError(
                        f"unknown setting {key!r} in section {name!r}"
                    )
            flat.update(section)
        return cls.make(**flat)

    @staticmethod
    def resumable_names() -> frozenset[str]:
        """Settings that may change between a run and its resumption: they
        do not change the federated rounds."""
        names = set(_RESUMABLE_RUN_SETTINGS)
        for cls in SECTIONS.values():
            names |= cls.resumable_names()
        return frozenset(names)

    def changes_from(self, other: TrainConfig) -> list[tuple[str, Any, Any]]:
        """``(name, other's value, this one's)`` for every setting that
        differs and would change the federated rounds (not resumable)."""
        mine, theirs = self.flat(), other.flat()
        resumable = self.resumable_names()
        return [
            (name, theirs[name], mine[name])
            for name in sorted(mine)
            if name not in resumable and mine[name] != theirs[name]
        ]
