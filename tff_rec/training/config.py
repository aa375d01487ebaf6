"""Typed configuration of one training experiment, validated up front."""

from __future__ import annotations

import dataclasses
import enum

from tff_rec import errors
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import optimizers
from tff_rec.compression import aggregation as compression_aggregation
from tff_rec.compression import codec as compression_codec
from tff_rec.compression import quantization
from tff_rec.data import loaders
from tff_rec.data import negatives as negatives_lib
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.tasks import losses
from tff_rec.training import attacks


class Algorithm(enum.Enum):
    FEDAVG = "fedavg"
    FEDAVG_UNWEIGHTED = "fedavg_unweighted"
    FEDRECON = "fedrecon"
    CENTRALIZED = "centralized"
    LOCAL_ONLY = "local_only"

    @property
    def is_federated(self) -> bool:
        return self in (
            Algorithm.FEDAVG,
            Algorithm.FEDAVG_UNWEIGHTED,
            Algorithm.FEDRECON,
        )


class Task(enum.Enum):
    """What is learnt: star ratings, or which items a user interacts with."""

    RATING = "rating"
    IMPLICIT = "implicit"


class ModelType(enum.Enum):
    """The Keras recommender (see `tff_rec.models`)."""

    MF = "mf"
    GMF = "gmf"
    MLP = "mlp"
    NEUMF = "neumf"
    FEATURES = "features"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Defaults are the documented defaults.

    The federated defaults (reconstruction, 50 single-user clients per round,
    server SGD with a step of 25 so that sparse item-row updates are not
    diluted by the mean) were tuned on ML-100K with a per-user 20% holdout;
    see the README's results table.
    """

    # Data.
    dataset: str = loaders.DEFAULT_DATASET
    data_dir: str | None = None
    cache_dir: str | None = None
    split: splits.SplitType = splits.SplitType.HOLDOUT
    test_fraction: float = 0.2
    partition: partition_lib.PartitionType = partition_lib.PartitionType.USER
    num_clients: int | None = None
    partition_attribute: str = "zip_prefix"
    dirichlet_alpha: float = 0.5
    # Task and model.
    task: Task = Task.RATING
    model: ModelType = ModelType.MF
    loss: losses.LossType = losses.LossType.BCE
    negatives: int = negatives_lib.DEFAULT_NEGATIVES
    top_k: int = 10
    eval_negatives: int = 99
    personalize_steps: int = 0
    embedding_dim: int = 32
    init_stddev: float | None = None
    user_init_stddev: float | None = None
    l2: float = 0.05
    bias_l2: float = 0.001
    # Federated algorithm.
    algorithm: Algorithm = Algorithm.FEDRECON
    rounds: int = 60
    clients_per_round: int = 50
    client_epochs: int = 1
    batch_size: int = 16
    client_optimizer: optimizers.OptimizerType = optimizers.OptimizerType.SGD
    client_learning_rate: float = 0.1
    server_optimizer: optimizers.OptimizerType = optimizers.OptimizerType.SGD
    server_learning_rate: float = 25.0
    reconstruction_learning_rate: float = 0.5
    reconstruction_epochs: int = 2
    reconstruction_split: bool = False
    eval_every: int = 10
    # Aggregation and privacy.
    aggregator: aggregator_factory.AggregatorType = (
        aggregator_factory.AggregatorType.MEAN
    )
    noise_multiplier: float | None = None
    clip: float | None = None
    target_quantile: float | None = None
    initial_clip: float | None = None
    target_epsilon: float | None = None
    delta: float | None = None
    secure_aggregation: bool = False
    client_sampling: str = "uniform"
    accountant: str | None = None
    # Reliability: checkpoints, client failures, robustness, simulated attacks.
    checkpoint_every: int = 1
    dropout_rate: float = 0.0
    min_clients_per_round: int | None = None
    robust: bool = False
    malicious_fraction: float = 0.0
    attack: attacks.AttackType | None = None
    # Communication: see tff_rec.compression.
    quantize_bits: int | None = None
    broadcast_quantize_bits: int | None = None
    topk_fraction: float | None = None
    sparse_item_updates: bool = False
    decoy_rows: int = 0
    # Baselines.
    baselines: bool = True
    centralized_epochs: int = 15
    centralized_l2: float = 0.1
    centralized_batch_size: int = 512
    centralized_learning_rate: float = 0.002
    # Bookkeeping.
    scenario: str | None = None
    seed: int = 0
    root_output_dir: str = "runs"
    experiment_name: str = "ml100k_fedrecon"

    def __post_init__(self):
        _coerce_enum(self, "task", Task)
        _coerce_enum(self, "model", ModelType)
        _coerce_enum(self, "loss", losses.LossType)
        _coerce_enum(self, "split", splits.SplitType)
        _coerce_enum(self, "partition", partition_lib.PartitionType)
        _coerce_enum(self, "algorithm", Algorithm)
        _coerce_enum(self, "client_optimizer", optimizers.OptimizerType)
        _coerce_enum(self, "server_optimizer", optimizers.OptimizerType)
        _coerce_enum(self, "aggregator", aggregator_factory.AggregatorType)
        if self.attack is not None:
            _coerce_enum(self, "attack", attacks.AttackType)
        if self.dataset not in loaders.DATASETS:
            raise errors.UserInputError(
                f"unknown dataset {self.dataset!r}; allowed: "
                + ", ".join(sorted(loaders.DATASETS))
            )
        positive_ints = (
            "embedding_dim",
            "rounds",
            "clients_per_round",
            "client_epochs",
            "batch_size",
            "reconstruction_epochs",
            "eval_every",
            "centralized_epochs",
            "centralized_batch_size",
            "checkpoint_every",
            "negatives",
            "top_k",
            "eval_negatives",
        )
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise errors.UserInputError(
                    f"{name} must be >= 1, got {getattr(self, name)}"
                )
        positive_rates = (
            "client_learning_rate",
            "server_learning_rate",
            "reconstruction_learning_rate",
            "centralized_learning_rate",
        )
        for name in positive_rates:
            if not getattr(self, name) > 0:
                raise errors.UserInputError(
                    f"{name} must be > 0, got {getattr(self, name)}"
                )
        if self.init_stddev is not None and not self.init_stddev > 0:
            raise errors.UserInputError(
                f"init_stddev must be > 0, got {self.init_stddev}"
            )
        if self.user_init_stddev is not None and self.user_init_stddev < 0:
            raise errors.UserInputError(
                f"user_init_stddev must be >= 0, got {self.user_init_stddev}"
            )
        for name in ("l2", "bias_l2", "centralized_l2"):
            if getattr(self, name) < 0:
                raise errors.UserInputError(
                    f"{name} must be >= 0, got {getattr(self, name)}"
                )
        if not 0 < self.test_fraction < 1:
            raise errors.UserInputError(
                f"test_fraction must be in (0, 1), got {self.test_fraction}"
            )
        if self.num_clients is not None and self.num_clients < 1:
            raise errors.UserInputError(
                f"num_clients must be >= 1, got {self.num_clients}"
            )
        if not self.dirichlet_alpha > 0:
            raise errors.UserInputError(
                f"dirichlet_alpha must be > 0, got {self.dirichlet_alpha}"
            )
        self._check_task()
        self._check_privacy()
        self._check_communication()
        self._check_reliability()
        if not self.experiment_name or "/" in self.experiment_name:
            raise errors.UserInputError(
                f"experiment_name must be a non-empty name without '/', "
                f"got {self.experiment_name!r}"
            )

    @property
    def is_dp(self) -> bool:
        return self.aggregator.is_dp

    @property
    def dataset_epochs(self) -> int:
        """Passes over a client's data that its round dataset holds:
        `client_epochs`, except with reconstruction, whose process makes its
        `client_epochs` post-reconstruction passes itself (and
        `reconstruction_epochs` reconstruction passes) over one pass."""
        if self.algorithm is Algorithm.FEDRECON:
            return 1
        return self.client_epochs

    @property
    def user_key(self) -> str:
        """The client-data column that feeds the model's ``user`` input:
        ``local_user`` (the user's position in its client's table) with
        reconstruction, whose user tables are sized for one client, else the
        global ``user`` id."""
        if self.algorithm is Algorithm.FEDRECON:
            return "local_user"
        return "user"

    def _check_privacy(self):
        if self.client_sampling not in ("uniform", "poisson"):
            raise errors.UserInputError(
                f"unknown client_sampling {self.client_sampling!r}; "
                "allowed: 'uniform', 'poisson'"
            )
        if self.accountant not in (None, "rdp", "pld"):
            raise errors.UserInputError(
                f"unknown accountant {self.accountant!r}; allowed: 'rdp', 'pld'"
            )
        if self.target_epsilon is not None and not self.target_epsilon > 0:
            raise errors.UserInputError(
                f"target_epsilon must be > 0, got {self.target_epsilon}"
            )
        if not self.is_dp:
            dp_only = ("noise_multiplier", "target_epsilon", "delta")
            given = [name for name in dp_only if getattr(self, name) is not None]
            if given:
                raise errors.UserInputError(
                    f"{', '.join(given)} only apply to DP aggregators; got "
                    f"aggregator={self.aggregator.value!r} (use dp_gaussian_fixed, "
                    "dp_gaussian_adaptive or dp_laplace)"
                )
            return
        if self.algorithm is Algorithm.FEDAVG:
            raise errors.UserInputError(
                f"aggregator={self.aggregator.value!r} is differentially private "
                "and DP aggregators are unweighted (every client's clipped update "
                "counts the same, which is what bounds its influence); use "
                "algorithm=fedavg_unweighted or fedrecon"
            )
        if not self.algorithm.is_federated:
            raise errors.UserInputError(
                f"DP aggregators apply to federated algorithms, not "
                f"{self.algorithm.value!r}"
            )
        if self.noise_multiplier is None and self.target_epsilon is None:
            raise errors.UserInputError(
                f"aggregator={self.aggregator.value!r} needs noise_multiplier, or "
                "target_epsilon to calibrate it from rounds and clients_per_round"
            )
        if self.noise_multiplier is not None and self.noise_multiplier < 0:
            raise errors.UserInputError(
                f"noise_multiplier must be >= 0, got {self.noise_multiplier}"
            )

    def _check_task(self):
        if self.task is Task.RATING:
            if self.model is not ModelType.MF:
                raise errors.UserInputError(
                    f"model={self.model.value!r} predicts interactions (a click "
                    "logit), not ratings: use it with task='implicit', or "
                    "model='mf' for task='rating'"
                )
            given = [
                name
                for name, unset in (
                    ("loss", losses.LossType.BCE),
                    ("personalize_steps", 0),
                )
                if getattr(self, name) != unset
            ]
            if given:
                raise errors.UserInputError(
                    f"{', '.join(given)} only apply to task='implicit'"
                )
        if self.personalize_steps < 0:
            raise errors.UserInputError(
                f"personalize_steps must be >= 0, got {self.personalize_steps}"
            )
        if self.personalize_steps and self.split is splits.SplitType.HELD_OUT_USERS:
            raise errors.UserInputError(
                "personalize_steps fine-tunes on each participant's own data; "
                "with split='held_out_users' the test users are not participants"
            )
        if self.personalize_steps and not self.algorithm.is_federated:
            raise errors.UserInputError(
                "personalize_steps fine-tunes a federated model on each client; "
                f"algorithm={self.algorithm.value!r} is not federated"
            )

    def _check_reliability(self):
        if not 0 <= self.dropout_rate < 1:
            raise errors.UserInputError(
                f"dropout_rate must be in [0, 1), got {self.dropout_rate}"
            )
        if self.min_clients_per_round is not None:
            if self.min_clients_per_round < 1:
                raise errors.UserInputError(
                    f"min_clients_per_round must be >= 1, got "
                    f"{self.min_clients_per_round}"
                )
            if self.min_clients_per_round > self.clients_per_round:
                raise errors.UserInputError(
                    f"min_clients_per_round={self.min_clients_per_round} exceeds "
                    f"clients_per_round={self.clients_per_round}: most rounds "
                    "would be aborted"
                )
        if not 0 <= self.malicious_fraction < 1:
            raise errors.UserInputError(
                f"malicious_fraction must be in [0, 1), got {self.malicious_fraction}"
            )
        if self.malicious_fraction > 0 and self.attack is None:
            raise errors.UserInputError(
                f"malicious_fraction={self.malicious_fraction} needs an attack: "
                + ", ".join(repr(a.value) for a in attacks.AttackType)
            )
        if self.attack is not None and self.malicious_fraction == 0:
            raise errors.UserInputError(
                f"attack={self.attack.value!r} needs malicious_fraction > 0"
            )
        if not self.algorithm.is_federated:
            given = [
                name
                for name, unset in (
                    ("dropout_rate", 0.0),
                    ("min_clients_per_round", None),
                    ("robust", False),
                    ("malicious_fraction", 0.0),
                )
                if getattr(self, name) != unset
            ]
            if given:
                raise errors.UserInputError(
                    f"{', '.join(given)} only apply to federated algorithms, not "
                    f"{self.algorithm.value!r}"
                )

    def _check_communication(self):
        compression_codec.UpdateCodec(
            bits=self.quantize_bits,
            topk_fraction=self.topk_fraction,
            sparse_rows=self.sparse_item_updates,
            decoy_rows=self.decoy_rows,
        )
        if self.broadcast_quantize_bits is not None:
            quantization.check_bits(
                self.broadcast_quantize_bits, "broadcast_quantize_bits"
            )
        compression_aggregation.check_decoys(self.decoy_rows, self.secure_aggregation)
        given = [
            name
            for name, unset in (
                ("quantize_bits", None),
                ("broadcast_quantize_bits", None),
                ("topk_fraction", None),
                ("sparse_item_updates", False),
            )
            if getattr(self, name) != unset
        ]
        if given and not self.algorithm.is_federated:
            raise errors.UserInputError(
                f"{', '.join(given)} only apply to federated algorithms, not "
                f"{self.algorithm.value!r}"
            )

    def as_dict(self) -> dict[str, object]:
        return {
            f.name: (v.value if isinstance(v, enum.Enum) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }


def _coerce_enum(config, name, enum_type):
    value = errors.parse_enum(enum_type, getattr(config, name), name)
    object.__setattr__(config, name, value)
