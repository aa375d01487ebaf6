"""Partitioning of (training) interactions into federated clients.

Every strategy assigns whole users to clients, so a user's interactions are
never split across clients. Federated Reconstruction keeps user embeddings on
the client ("Federated Reconstruction: Partially Local Federated Learning",
Singhal et al., NeurIPS 2021, arXiv:2102.03448), which requires this.

* `USER`: one client per user, the cross-device setting.
* `ATTRIBUTE`: one client per value of a user attribute, e.g. the first digit
  of the zip code as a regional store (cross-silo).
* `IID`: users shuffled and dealt evenly into clients.
* `DIRICHLET`: label-skewed clients. Each user gets a label (e.g. the user's
  dominant genre) and the users of each label are spread over the clients
  with proportions drawn from Dirichlet(alpha): "Measuring the Effects of
  Non-Identical Data Distribution for Federated Visual Classification" (Hsu,
  Qi and Brown, 2019, arXiv:1909.06335), applied at user granularity. Small
  alpha gives very skewed clients, large alpha approaches IID.
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
from collections.abc import Sequence

import numpy as np
from absl import logging

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import user_groups

DEFAULT_ATTRIBUTE = "zip_prefix"
DEFAULT_ALPHA = 0.5
DEFAULT_LABEL = "genre"
DEFAULT_SEED = 0
# Dirichlet draws tried before empty clients are filled deterministically.
DEFAULT_MAX_DRAWS = 10
# A partition into at most this many clients (other than one per user) is a
# cross-silo federation: a few organisations (stores, regions), each holding
# many users, all of which can take part in every round.
CROSS_SILO_MAX_CLIENTS = 50


class PartitionType(enum.Enum):
    """How users are grouped into clients."""

    USER = "user"
    ATTRIBUTE = "attribute"
    IID = "iid"
    DIRICHLET = "dirichlet"


@dataclasses.dataclass(frozen=True, eq=False)
class Partition:
    """An assignment of interaction rows to clients.

    Attributes:
      client_ids: the name of each client.
      client_indices: for client k, the sorted row indices (int64) of its
        interactions. Every row is in exactly one client.
      partition_type: the strategy that produced the partition.
      description: the strategy and its options, for logs.
    """

    client_ids: tuple[str, ...]
    client_indices: tuple[np.ndarray, ...]
    partition_type: PartitionType
    description: str

    def __post_init__(self):
        if len(self.client_ids) != len(self.client_indices):
            raise ValueError(
                f"Partition has {len(self.client_ids)} client ids but "
                f"{len(self.client_indices)} index arrays."
            )

    @property
    def num_clients(self) -> int:
        return len(self.client_ids)

    @property
    def is_cross_silo(self) -> bool:
        """A few large clients (`CROSS_SILO_MAX_CLIENTS` at most), each
        holding several users: stores rather than devices."""
        return (
            self.partition_type is not PartitionType.USER
            and self.num_clients <= CROSS_SILO_MAX_CLIENTS
        )

    def sizes(self) -> np.ndarray:
        """Returns the number of interactions of each client."""
        return np.array([len(i) for i in self.client_indices], np.int64)

    def stats(self) -> dict[str, float]:
        """Returns the number of clients and the spread of their sizes."""
        sizes = self.sizes()
        if not len(sizes):
            sizes = np.zeros(1, np.int64)
        return {
            "num_clients": self.num_clients,
            "min_examples": int(sizes.min()),
            "median_examples": float(np.median(sizes)),
            "max_examples": int(sizes.max()),
            "total_examples": int(sizes.sum()),
        }

    def summary(self) -> str:
        """Returns a one-line description, e.g. for logs."""
        s = self.stats()
        return (
            f"{self.description}: {s['num_clients']} clients, examples per "
            f"client min {s['min_examples']} / median {s['median_examples']:.10g} / "
            f"max {s['max_examples']}, {s['total_examples']} in total"
        )

    def users_of(
        self, k: int, interactions: interactions_lib.Interactions
    ) -> np.ndarray:
        """Returns the sorted unique user ids of client `k`."""
        return np.unique(interactions.users[self.client_indices[k]])


def partition_by_user(interactions: interactions_lib.Interactions) -> Partition:
    """Makes one client per user with at least one interaction.

    Args:
      interactions: the (training) interactions.

    Returns:
      A `Partition` whose client ids are the raw user ids, in order of the
      remapped user id.
    """
    active = np.unique(interactions.users)
    client_of_user = np.full(interactions.num_users, -1, np.int64)
    client_of_user[active] = np.arange(len(active))
    return _from_user_assignment(
        interactions,
        client_of_user,
        [str(interactions.user_vocab[u]) for u in active],
        PartitionType.USER,
        "user partition",
    )


def partition_by_attribute(
    interactions: interactions_lib.Interactions,
    *,
    attribute: str = DEFAULT_ATTRIBUTE,
    num_clients: int | None = None,
) -> Partition:
    """Groups users into clients by the value of a user attribute.

    When `num_clients` is smaller than the number of groups, the two groups
    with the fewest interactions (ties by name) are merged, repeatedly, until
    `num_clients` remain; a merged client's id joins the sorted group names
    with '+'.

    Args:
      interactions: the (training) interactions.
      attribute: a user feature name (e.g. 'occupation', 'gender', 'age',
        'zip_code'), or 'zip_prefix': the first character of 'zip_code', with
        missing or non-digit zip codes in group 'other'. Users with a missing
        value of another feature are in group 'unknown'.
      num_clients: the number of clients, at most the number of groups. None
        means one client per group.

    Returns:
      A `Partition` with clients sorted by id.

    Raises:
      UserInputError: on an unknown attribute or an invalid `num_clients`.
    """
    values = user_groups.user_attribute(interactions, attribute, "attribute")
    active = np.unique(interactions.users)
    names, codes = np.unique([values[u] for u in active], return_inverse=True)
    rows_per_user = np.bincount(interactions.users, minlength=interactions.num_users)
    group_sizes = np.bincount(
        codes, weights=rows_per_user[active], minlength=len(names)
    )
    if num_clients is not None:
        _check_num_clients(num_clients)
        if num_clients > len(names):
            raise errors.UserInputError(
                f"num_clients={num_clients} exceeds the {len(names)} groups of "
                f"attribute '{attribute}' in the data."
            )
    groups = _merge_smallest(
        [[str(n)] for n in names],
        group_sizes,
        len(names) if num_clients is None else num_clients,
    )
    group_ids = sorted(("+".join(g), g) for g in groups)
    client_of_name = {name: k for k, (_, g) in enumerate(group_ids) for name in g}
    client_of_user = np.full(interactions.num_users, -1, np.int64)
    client_of_user[active] = [client_of_name[str(n)] for n in names[codes]]
    return _from_user_assignment(
        interactions,
        client_of_user,
        [client_id for client_id, _ in group_ids],
        PartitionType.ATTRIBUTE,
        f"attribute partition (attribute={attribute})",
    )


def partition_iid(
    interactions: interactions_lib.Interactions,
    *,
    num_clients: int,
    seed: int = DEFAULT_SEED,
) -> Partition:
    """Shuffles users and deals them into `num_clients` clients.

    Users, not rows, are dealt out, so each user's interactions stay in one
    client (reconstruction keeps user embeddings on the client). Clients get
    equal numbers of users (differing by at most one); their numbers of
    interactions vary with the users' activity.

    Args:
      interactions: the (training) interactions.
      num_clients: the number of clients, at most the number of users.
      seed: seed of the shuffle.

    Returns:
      A `Partition` with client ids 'client_0', 'client_1', ... (zero-padded).

    Raises:
      UserInputError: if `num_clients` is < 1 or exceeds the number of users.
    """
    active = _active_users_for(interactions, num_clients)
    rng = _rng(seed)
    shuffled = rng.permutation(active)
    client_of_user = np.full(interactions.num_users, -1, np.int64)
    for k, users in enumerate(np.array_split(shuffled, num_clients)):
        client_of_user[users] = k
    return _from_user_assignment(
        interactions,
        client_of_user,
        _numbered_ids(num_clients),
        PartitionType.IID,
        f"iid partition (seed={seed})",
    )


def partition_dirichlet(
    interactions: interactions_lib.Interactions,
    *,
    num_clients: int,
    alpha: float = DEFAULT_ALPHA,
    label: str = DEFAULT_LABEL,
    seed: int = DEFAULT_SEED,
) -> Partition:
    """Spreads the users of each label over clients by Dirichlet proportions.

    Each user with interactions gets a label. For each label value, its users
    are shuffled and cut into `num_clients` consecutive shares with
    proportions drawn from Dirichlet(alpha, ..., alpha). If a client ends up
    empty, everything is drawn again, up to `DEFAULT_MAX_DRAWS` times; then
    each empty client takes one user (the last dealt) from the client with the
    most users, so no client is empty.

    Args:
      interactions: the (training) interactions.
      num_clients: the number of clients, at most the number of users.
      alpha: Dirichlet concentration, > 0. Smaller is more skewed.
      label: 'genre', the most frequent first genre among the items a user
        rated (ties to the alphabetically first; items without genres count as
        'unknown'), or a user feature name such as 'occupation' or 'gender'.
      seed: seed of the draws.

    Returns:
      A `Partition` with client ids 'client_0', 'client_1', ... (zero-padded).

    Raises:
      UserInputError: on an invalid `num_clients`, `alpha` or `label`.
    """
    active = _active_users_for(interactions, num_clients)
    if isinstance(alpha, bool) or not (
        isinstance(alpha, (int, float, np.integer, np.floating)) and alpha > 0
    ):
        raise errors.UserInputError(f"alpha must be a number > 0, got {alpha!r}.")
    labels = user_groups.user_labels(interactions, label)[active]
    rng = _rng(seed)
    for _ in range(DEFAULT_MAX_DRAWS):
        client_of_active = _dirichlet_draw(labels, num_clients, alpha, rng)
        if len(np.unique(client_of_active)) == num_clients:
            break
    else:
        client_of_active = _fill_empty_clients(client_of_active, num_clients)
    client_of_user = np.full(interactions.num_users, -1, np.int64)
    client_of_user[active] = client_of_active
    return _from_user_assignment(
        interactions,
        client_of_user,
        _numbered_ids(num_clients),
        PartitionType.DIRICHLET,
        f"dirichlet partition (alpha={alpha:g}, label={label}, seed={seed})",
    )


def make_partition(
    interactions: interactions_lib.Interactions,
    partition_type: PartitionType | str,
    *,
    num_clients: int | None = None,
    attribute: str = DEFAULT_ATTRIBUTE,
    alpha: float = DEFAULT_ALPHA,
    label: str = DEFAULT_LABEL,
    seed: int = DEFAULT_SEED,
) -> Partition:
    """Partitions `interactions` with the strategy named by `partition_type`.

    Args:
      interactions: the (training) interactions.
      partition_type: a `PartitionType` or its string value, e.g. 'iid'.
      num_clients: required for 'iid' and 'dirichlet'; optional for
        'attribute' (None: one client per group); must be None for 'user'.
      attribute: for 'attribute'.
      alpha: for 'dirichlet'.
      label: for 'dirichlet'.
      seed: for 'iid' and 'dirichlet'.

    Returns:
      The `Partition`; its summary is logged.

    Raises:
      UserInputError: on an unknown strategy or an invalid option.
    """
    partition_type = check_num_clients(partition_type, num_clients)
    if partition_type is PartitionType.USER:
        partition = partition_by_user(interactions)
    elif partition_type is PartitionType.ATTRIBUTE:
        partition = partition_by_attribute(
            interactions, attribute=attribute, num_clients=num_clients
        )
    else:
        if partition_type is PartitionType.IID:
            partition = partition_iid(interactions, num_clients=num_clients, seed=seed)
        else:
            partition = partition_dirichlet(
                interactions,
                num_clients=num_clients,
                alpha=alpha,
                label=label,
                seed=seed,
            )
    logging.info("%s", partition.summary())
    return partition


def _parse_partition_type(value: PartitionType | str) -> PartitionType:
    return errors.parse_enum(PartitionType, value, "partition type")


def check_num_clients(
    partition_type: PartitionType | str, num_clients: int | None
) -> PartitionType:
    """Checks `num_clients` for a partition: unset for 'user' (one client per
    user), required for 'iid' and 'dirichlet', optional for 'attribute'.

    Returns:
      The `PartitionType`.

    Raises:
      UserInputError: on an unknown partition or a misplaced or invalid
        `num_clients`.
    """
    partition_type = _parse_partition_type(partition_type)
    if num_clients is not None:
        _check_num_clients(num_clients)
    if partition_type is PartitionType.USER and num_clients is not None:
        raise errors.UserInputError(
            f"The 'user' partition makes one client per user; got "
            f"num_clients={num_clients}, leave it unset."
        )
    if num_clients is None and partition_type in (
        PartitionType.IID,
        PartitionType.DIRICHLET,
    ):
        raise errors.UserInputError(
            f"The '{partition_type.value}' partition needs num_clients."
        )
    return partition_type


def _check_num_clients(num_clients: int) -> None:
    if isinstance(num_clients, bool) or not isinstance(num_clients, (int, np.integer)):
        raise errors.UserInputError(
            f"num_clients must be an integer, got {num_clients!r}."
        )
    if num_clients < 1:
        raise errors.UserInputError(
            f"num_clients must be at least 1, got {num_clients}."
        )


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise errors.UserInputError(f"seed must be an integer, got {seed!r}.")
    return np.random.default_rng(int(seed) % 2**64)


def _active_users_for(
    interactions: interactions_lib.Interactions, num_clients: int
) -> np.ndarray:
    """Returns the users with interactions, checking there are enough."""
    _check_num_clients(num_clients)
    active = np.unique(interactions.users)
    if num_clients > len(active):
        raise errors.UserInputError(
            f"num_clients={num_clients} exceeds the {len(active)} users with "
            f"interactions in '{interactions.name}'; every client needs a user."
        )
    return active


def _numbered_ids(num_clients: int) -> list[str]:
    width = len(str(num_clients - 1))
    return [f"client_{k:0{width}d}" for k in range(num_clients)]


def _dirichlet_draw(
    labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """Returns a client per user: each label's users cut by Dirichlet shares."""
    client = np.empty(len(labels), np.int64)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        shares = rng.dirichlet(np.full(num_clients, float(alpha)))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        for k, part in enumerate(np.split(members, cuts)):
            client[part] = k
    return client


def _fill_empty_clients(client: np.ndarray, num_clients: int) -> np.ndarray:
    """Moves one user into each empty client from the client with most users.

    Needs at least `num_clients` users, so a donor with two or more users
    exists while a client is empty.
    """
    client = client.copy()
    for k in range(num_clients):
        counts = np.bincount(client, minlength=num_clients)
        if counts[k]:
            continue
        donor = int(np.argmax(counts))
        client[np.flatnonzero(client == donor)[-1]] = k
    return client


def _merge_smallest(
    groups: list[list[str]], sizes: Sequence[float], num_groups: int
) -> list[list[str]]:
    """Merges the two smallest groups (ties by name) until `num_groups` remain."""
    heap = [(float(s), "+".join(g), g) for g, s in zip(groups, sizes, strict=False)]
    heapq.heapify(heap)
    while len(heap) > num_groups:
        size_a, _, a = heapq.heappop(heap)
        size_b, _, b = heapq.heappop(heap)
        merged = sorted(a + b)
        heapq.heappush(heap, (size_a + size_b, "+".join(merged), merged))
    return [g for _, _, g in heap]


def _from_user_assignment(
    interactions: interactions_lib.Interactions,
    client_of_user: np.ndarray,
    client_ids: Sequence[str],
    partition_type: PartitionType,
    description: str,
) -> Partition:
    """Builds a `Partition` putting each row in the client of its user."""
    client_of_row = client_of_user[interactions.users]
    order = np.argsort(client_of_row, kind="stable")
    counts = np.bincount(client_of_row, minlength=len(client_ids))
    indices = np.split(order.astype(np.int64), np.cumsum(counts)[:-1])
    if not len(client_ids):
        indices = []
    return Partition(
        client_ids=tuple(client_ids),
        client_indices=tuple(indices),
        partition_type=partition_type,
        description=description,
    )
