"""FedAvg over stores, each training with customer-level DP-SGD.

Every round, every store starts from the server's item tables, takes
`local_steps` DP-SGD steps on its own customers (`tff_rec.privacy.
customer_dp`: Poisson-sampled customers, each customer's contribution
clipped, Gaussian noise added inside the store), and sends the change of its
item tables, already noised. The server adds `server_learning_rate` times
the unweighted mean of the stores' changes (weighting by a store's
examples would release a count that depends on every customer). The
customers' own factors stay in their store.

Biased matrix factorization ``b + b_u + b_i + <p_u, q_i>`` with a fixed,
public global bias ``b`` (the middle of the rating scale: the mean rating
would be one more release).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition as partition_lib
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy import customer_dp

DEFAULT_LEARNING_RATE = 0.5
DEFAULT_USER_LEARNING_RATE = 0.5
DEFAULT_SERVER_LEARNING_RATE = 1.0
DEFAULT_INIT_STDDEV = 0.05


@dataclasses.dataclass(frozen=True)
class StoreTraining:
    """What every store does each round.

    Attributes:
      local_steps: DP-SGD steps per round.
      sampling_rate: probability that a customer joins a step.
      clip: L2 bound of one customer's item-gradient contribution.
      noise_multiplier: noise stddev over the clip (0: no noise, for the
        non-private reference only).
      learning_rate: SGD step on the item tables, applied to the noised sum
        divided by the expected number of sampled customers.
      user_learning_rate: SGD step on a sampled customer's own factors.
      l2, bias_l2: per-example penalties.
    """

    local_steps: int = customer_dp.DEFAULT_LOCAL_STEPS
    sampling_rate: float = customer_dp.DEFAULT_SAMPLING_RATE
    clip: float = customer_dp.DEFAULT_CLIP
    noise_multiplier: float = 1.0
    learning_rate: float = DEFAULT_LEARNING_RATE
    user_learning_rate: float = DEFAULT_USER_LEARNING_RATE
    l2: float = 0.05
    bias_l2: float = 0.0


class _Store:
    """One store's customers and rows, and its customers' private factors."""

    def __init__(self, train, rows, user_embedding, user_bias):
        self.users = np.unique(train.users[rows])
        order = np.argsort(train.users[rows], kind="stable")
        rows = rows[order]
        self.row_users = train.users[rows]
        self.row_items = train.items[rows]
        self.row_ratings = train.ratings[rows].astype(np.float64)
        starts = np.searchsorted(self.row_users, self.users)
        ends = np.searchsorted(self.row_users, self.users, side="right")
        self.starts, self.counts = starts, ends - starts
        self.user_embedding = user_embedding
        self.user_bias = user_bias

    def sampled_rows(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of customers `chosen` (positions in `users`), and each
        row's position in `chosen`."""
        lengths = self.counts[chosen]
        rows = np.concatenate(
            [
                np.arange(s, s + n)
                for s, n in zip(self.starts[chosen], lengths, strict=True)
            ]
            or [np.zeros(0, np.int64)]
        )
        return rows.astype(np.int64), np.repeat(np.arange(len(chosen)), lengths)


def local_step(
    store: _Store,
    item_embedding: np.ndarray,
    item_bias: np.ndarray,
    *,
    global_bias: float,
    options: StoreTraining,
    rng: np.random.Generator,
) -> None:
    """One DP-SGD step of `store`: updates the tables in place."""
    chosen = np.flatnonzero(rng.random(len(store.users)) < options.sampling_rate)
    rows, position = store.sampled_rows(chosen)
    users, items = store.row_users[rows], store.row_items[rows]
    p, q = store.user_embedding[users], item_embedding[items]
    error = (
        global_bias
        + store.user_bias[users]
        + item_bias[items]
        + np.sum(p * q, axis=1)
        - store.row_ratings[rows]
    )
    counts = store.counts[chosen][position].astype(np.float64)
    g_q, g_b = customer_dp.per_customer_gradients(
        error,
        p,
        q,
        item_bias[items],
        counts,
        l2=options.l2,
        bias_l2=options.bias_l2,
    )
    sum_q, sum_b = customer_dp.clipped_item_gradient_sum(
        position, items, g_q, g_b, num_items=len(item_bias), clip=options.clip
    )
    std = options.noise_multiplier * options.clip
    if std > 0:
        sum_q += rng.normal(0.0, std, sum_q.shape)
        sum_b += rng.normal(0.0, std, sum_b.shape)
    expected = max(options.sampling_rate * len(store.users), 1.0)
    # The customers' own factors: their own (mean-loss) gradient, kept here.
    scale = 2.0 / counts
    g_p = scale[:, None] * (error[:, None] * q + options.l2 * p)
    g_bu = scale * (error + options.bias_l2 * store.user_bias[users])
    np.add.at(store.user_embedding, users, -options.user_learning_rate * g_p)
    np.add.at(store.user_bias, users, -options.user_learning_rate * g_bu)
    item_embedding -= options.learning_rate * sum_q / expected
    item_bias -= options.learning_rate * sum_b / expected


@dataclasses.dataclass
class CustomerDpFedAvg:
    """The server's item tables, the stores, and the rounds run so far."""

    item_embedding: np.ndarray
    item_bias: np.ndarray
    global_bias: float
    stores: list
    options: StoreTraining
    server_learning_rate: float
    rng: np.random.Generator
    user_embedding: np.ndarray
    user_bias: np.ndarray
    round_num: int = 0

    @classmethod
    def create(
        cls,
        train: interactions_lib.Interactions,
        partition: partition_lib.Partition,
        *,
        embedding_dim: int,
        options: StoreTraining,
        global_bias: float,
        server_learning_rate: float = DEFAULT_SERVER_LEARNING_RATE,
        init_stddev: float = DEFAULT_INIT_STDDEV,
        seed: int = 0,
    ) -> CustomerDpFedAvg:
        rng = np.random.default_rng(seed)
        user_embedding = rng.normal(0, init_stddev, (train.num_users, embedding_dim))
        user_bias = np.zeros(train.num_users)
        stores = [
            _Store(train, rows, user_embedding, user_bias)
            for rows in partition.client_indices
        ]
        return cls(
            item_embedding=rng.normal(0, init_stddev, (train.num_items, embedding_dim)),
            item_bias=np.zeros(train.num_items),
            global_bias=global_bias,
            stores=stores,
            options=options,
            server_learning_rate=server_learning_rate,
            rng=rng,
            user_embedding=user_embedding,
            user_bias=user_bias,
        )

    def store_update(self, store: _Store) -> tuple[np.ndarray, np.ndarray]:
        """The noised change of the item tables one store sends."""
        q, b = self.item_embedding.copy(), self.item_bias.copy()
        for _ in range(self.options.local_steps):
            local_step(
                store,
                q,
                b,
                global_bias=self.global_bias,
                options=self.options,
                rng=self.rng,
            )
        return q - self.item_embedding, b - self.item_bias

    def next(self) -> None:
        """One round: every store's update, then the server's step."""
        updates = [self.store_update(store) for store in self.stores]
        step = self.server_learning_rate / len(updates)
        self.item_embedding += step * sum(u[0] for u in updates)
        self.item_bias += step * sum(u[1] for u in updates)
        self.round_num += 1

    def weights(self) -> rating_metrics.MatrixFactorizationWeights:
        """The server's item tables with every store's customer factors (a
        store serves its own customers with them)."""
        return rating_metrics.MatrixFactorizationWeights(
            item_embedding=self.item_embedding.copy(),
            item_bias=self.item_bias.copy(),
            global_bias=self.global_bias,
            user_embedding=self.user_embedding.copy(),
            user_bias=self.user_bias.copy(),
        )


def train(
    state: CustomerDpFedAvg,
    rounds: int,
    *,
    on_round: Callable[[int], bool] | None = None,
) -> CustomerDpFedAvg:
    """Runs `rounds` rounds; `on_round(round_num)` after each returns False
    to stop (e.g. a privacy budget)."""
    for _ in range(rounds):
        state.next()
        if on_round is not None and not on_round(state.round_num):
            break
    return state
