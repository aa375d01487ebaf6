"""The federated section of a run: the algorithm, its rounds and optimizers."""

from __future__ import annotations

import dataclasses
import enum

from tff_rec import settings
from tff_rec.algorithms import optimizers


class Algorithm(enum.Enum):
    """What trains the model: a federated algorithm or a baseline."""

    FEDAVG = "fedavg"
    FEDAVG_UNWEIGHTED = "fedavg_unweighted"
    FEDRECON = "fedrecon"
    DP_ALS = "dp_als"
    CENTRALIZED = "centralized"
    LOCAL_ONLY = "local_only"

    @property
    def is_federated(self) -> bool:
        return self in (
            Algorithm.FEDAVG,
            Algorithm.FEDAVG_UNWEIGHTED,
            Algorithm.FEDRECON,
            Algorithm.DP_ALS,
        )

    @property
    def is_weighted(self) -> bool:
        """Whether clients' updates are weighted by their examples."""
        return self in (Algorithm.FEDAVG, Algorithm.FEDRECON)


class ClientSampling(enum.Enum):
    """How a round's clients are drawn from the population."""

    UNIFORM = "uniform"
    POISSON = "poisson"


# The server step when `FederatedConfig.server_learning_rate` is None.
#
# A client's SGD changes only the embedding rows of the items (and, with
# FedAvg, the user) its examples touch, and the server's mean divides each
# row's change by all of the round's clients, most of which left it alone.
# The step that undoes this dilution is inversely proportional to the item
# coverage of the training data (`FederatedData.item_coverage`: the average
# fraction of clients that hold an item). The defaults are the steps tuned on
# ML-100K with one client per user (`TUNED_SERVER_LEARNING_RATE`, at its
# coverage `TUNED_COVERAGE`), scaled by `TUNED_COVERAGE / coverage`: 25 for
# reconstruction and unweighted FedAvg there, and 10 for weighted FedAvg,
# whose heaviest clients' user rows carry up to 0.14 of a round's weight and
# diverge at 25. On dense data (every client holding most items) the step
# falls towards 1, where 25 diverges.
TUNED_COVERAGE = 0.0515
TUNED_SERVER_LEARNING_RATE = {
    Algorithm.FEDRECON: 25.0,
    Algorithm.FEDAVG_UNWEIGHTED: 25.0,
    Algorithm.FEDAVG: 10.0,
}


# Clients per round when `FederatedConfig.clients_per_round` is left at its
# default: 50, or every client of a cross-silo partition that holds fewer
# (`cross_silo_settings`).
DEFAULT_CLIENTS_PER_ROUND = 50
# Local epochs per round when `FederatedConfig.client_epochs` is None: 1, or
# 3 with a cross-silo partition. A store holds thousands of
# examples, and more local work per round is what cross-silo FedAvg is for:
# on ML-100K by zip prefix (11 stores, 50 rounds) 3 epochs reached test
# RMSE 0.921, 1 epoch 0.945 (centralized 0.908, local-only 0.984).
DEFAULT_CLIENT_EPOCHS = 1
CROSS_SILO_CLIENT_EPOCHS = 3


def cross_silo_settings(
    federated: FederatedConfig, *, num_clients: int, cross_silo: bool
) -> dict[str, int]:
    """The settings a run over few, large clients changes from the defaults.

    A store is a client that is always available, so with a cross-silo
    partition (`tff_rec.data.partition.Partition.is_cross_silo`) every store
    takes part in every round unless `clients_per_round` was set away from
    its default, and makes `CROSS_SILO_CLIENT_EPOCHS` local passes unless
    `client_epochs` was given (None: `DEFAULT_CLIENT_EPOCHS` elsewhere).
    The other cross-silo needs are met by the general defaults:
    FedAvg weights each store by its examples, and the server step scales
    with the data's item coverage (`default_server_learning_rate`: about
    0.75 on ML-100K by zip prefix, where every store holds most items).

    Args:
      federated: the run's federated section.
      num_clients: clients in the data.
      cross_silo: the partition is cross-silo.

    Returns:
      The settings to replace, by name (empty when none change).
    """
    if not cross_silo:
        return {}
    changes = {}
    if federated.client_epochs is None:
        changes["client_epochs"] = CROSS_SILO_CLIENT_EPOCHS
    if (
        federated.clients_per_round == DEFAULT_CLIENTS_PER_ROUND
        and num_clients < DEFAULT_CLIENTS_PER_ROUND
    ):
        changes["clients_per_round"] = num_clients
    return changes


def default_server_learning_rate(
    algorithm: Algorithm, *, coverage: float, private: bool = False
) -> float:
    """The server step of `algorithm` on data of item `coverage` (see above).

    Args:
      algorithm: a federated algorithm.
      coverage: the average fraction of clients that hold an item, in (0, 1].
      private: the run is differentially private: the step is not derived
        from the data (its coverage would be one more statistic released
        without noise): the tuned step applies.

    Returns:
      The step, rounded to two significant digits.
    """
    step = TUNED_SERVER_LEARNING_RATE[algorithm]
    if not private:
        step *= TUNED_COVERAGE / coverage
    return float(f"{step:.2g}")


@dataclasses.dataclass(frozen=True)
class FederatedConfig(settings.Section):
    """The algorithm, its rounds, client sampling and optimizers.

    Attributes:
      algorithm: a federated algorithm, or a baseline trained on its own
        (``centralized``, ``local_only``).
      rounds: federated rounds.
      clients_per_round: clients sampled per round (expected, with Poisson
        sampling); left at the default with a cross-silo partition of fewer
        clients, every client (`cross_silo_settings`).
      client_sampling: ``uniform`` (exactly `clients_per_round`) or
        ``poisson`` (each client independently with probability
        ``clients_per_round / N``, what DP accounting assumes).
      client_epochs: local passes over a client's data per round (with
        reconstruction: the passes after reconstructing); None means
        `DEFAULT_CLIENT_EPOCHS`, or `CROSS_SILO_CLIENT_EPOCHS` with a
        cross-silo partition (`cross_silo_settings`).
      batch_size: local batch size.
      client_optimizer, client_learning_rate: the clients' optimizer.
      server_optimizer, server_learning_rate: the server's optimizer; a
        None step means `default_server_learning_rate` of the algorithm and
        the training data.
      reconstruction_learning_rate, reconstruction_epochs: reconstruction's
        SGD on the user (local) variables, each round.
      reconstruction_split: reconstruct on half of a client's batches and
        train the global variables on the other half (the paper's split).
      als_dim, als_user_l2, als_item_l2: ``dp_als``'s latent dimension and
        the ridge weights of its user and item solves
        (`tff_rec.algorithms.dp_als`).
      als_gram_weight, als_factor_weight: ``dp_als``'s weights of the Gram
        statistics and of the latent coordinates of the rating-weighted
        statistics before the clip (divided back out on the server).
    """

    algorithm: Algorithm = settings.choice(Algorithm, default=Algorithm.FEDRECON)
    rounds: int = settings.at_least(1, default=60)
    clients_per_round: int = settings.at_least(1, default=DEFAULT_CLIENTS_PER_ROUND)
    client_sampling: ClientSampling = settings.choice(
        ClientSampling, default=ClientSampling.UNIFORM
    )
    client_epochs: int | None = settings.at_least(1, default=None)
    batch_size: int = settings.at_least(1, default=16)
    client_optimizer: optimizers.OptimizerType = settings.choice(
        optimizers.OptimizerType, default=optimizers.OptimizerType.SGD
    )
    client_learning_rate: float = settings.positive(default=0.1)
    server_optimizer: optimizers.OptimizerType = settings.choice(
        optimizers.OptimizerType, default=optimizers.OptimizerType.SGD
    )
    server_learning_rate: float | None = settings.positive(default=None)
    reconstruction_learning_rate: float = settings.positive(default=0.5)
    reconstruction_epochs: int = settings.at_least(1, default=2)
    reconstruction_split: bool = settings.flag(default=False)
    als_dim: int = settings.at_least(0, default=4)
    als_user_l2: float = settings.positive(default=5.0)
    als_item_l2: float = settings.positive(default=5.0)
    als_gram_weight: float = settings.positive(default=0.5)
    als_factor_weight: float = settings.positive(default=2.0)

    @property
    def local_epochs(self) -> int:
        """`client_epochs`, None resolved to `DEFAULT_CLIENT_EPOCHS`."""
        if self.client_epochs is None:
            return DEFAULT_CLIENT_EPOCHS
        return self.client_epochs

    @property
    def dataset_epochs(self) -> int:
        """Passes over a client's data that its round data holds:
        `client_epochs`, except with reconstruction, whose process makes its
        `client_epochs` post-reconstruction passes itself (and
        `reconstruction_epochs` reconstruction passes) over one pass."""
        if self.algorithm is Algorithm.FEDRECON:
            return 1
        return self.local_epochs

    @property
    def user_key(self) -> str:
        """The client-data column that feeds the model's ``user`` input:
        ``local_user`` (the user's position in its client's table) with
        reconstruction, whose user tables are sized for one client, else the
        global ``user`` id."""
        if self.algorithm is Algorithm.FEDRECON:
            return "local_user"
        return "user"
