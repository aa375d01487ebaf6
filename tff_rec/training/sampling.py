"""Which clients take part in each round, and which of them fail.

`ClientSampler` draws every round's clients from a seeded generator (whose
state a checkpoint keeps), drops the clients that fail during the round,
decides whether the round is aborted, and builds the reporting clients'
data one round ahead on a background thread while the current round runs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from tff_rec import settings
from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import client_data

ClientSampling = algorithms_config.ClientSampling
# Stream of numpy SeedSequence([seed, stream, round]), apart from sampling.
_DROPOUT_STREAM = 0x64726F70


def sample_clients(
    rng: np.random.Generator,
    num_clients: int,
    k: int,
    sampling: ClientSampling | str = ClientSampling.UNIFORM,
) -> np.ndarray:
    """Client indices for one round.

    Args:
      rng: the sampling generator (its state is part of a run's state).
      num_clients: population size.
      k: clients per round (uniform) or expected clients per round (poisson).
      sampling: `ClientSampling` or its value.

    Returns:
      Sorted client indices; with Poisson sampling the count varies and may
      be zero.
    """
    if ClientSampling(sampling) is ClientSampling.UNIFORM:
        return np.sort(rng.choice(num_clients, size=k, replace=False))
    return np.flatnonzero(rng.random(num_clients) < k / num_clients)


def drop_out(
    clients: np.ndarray, rate: float, *, seed: int, round_num: int
) -> np.ndarray:
    """Which sampled clients fail during a round (their update never arrives).

    Each client fails independently with probability `rate`. The draw is
    seeded by the run seed and the round number alone, so a resumed run
    drops the same clients as an uninterrupted one.

    Args:
      clients: the round's sampled client indices.
      rate: failure probability in [0, 1).
      seed: the run seed.
      round_num: the round (1-based).

    Returns:
      A boolean mask over `clients`: True where the client failed.
    """
    if rate <= 0:
        return np.zeros(len(clients), dtype=bool)
    rng = np.random.default_rng([seed, _DROPOUT_STREAM, round_num])
    return rng.random(len(clients)) < rate


@dataclasses.dataclass(frozen=True)
class Round:
    """One round's clients, drawn before the round runs.

    Attributes:
      number: the round (1-based).
      sampled: the sampled client indices.
      failed: mask over `sampled`: the clients that failed.
      aborted: fewer clients reported than the minimum: the round is skipped.
      rng_state: the sampler's generator state after this round's draw (what
        a checkpoint after this round saves).
    """

    number: int
    sampled: np.ndarray
    failed: np.ndarray
    aborted: bool
    rng_state: dict
    _data: concurrent.futures.Future | None = None

    @property
    def clients(self) -> np.ndarray:
        """The clients that report."""
        return self.sampled[~self.failed]

    def client_data(self) -> list:
        """The reporting clients' data (built on the sampler's thread)."""
        return self._data.result()

    def abort_notice(self, min_clients: int) -> str:
        return (
            f"Round {self.number} aborted: {len(self.clients)} of "
            f"{len(self.sampled)} sampled clients reported "
            f"({int(self.failed.sum())} failed), fewer than "
            f"min_clients_per_round={min_clients}; the model is unchanged"
        )

    def row(self) -> dict[str, int]:
        """The round's ``clients``, ``clients_dropped`` and ``aborted`` cells."""
        return {
            "clients": len(self.clients),
            "clients_dropped": int(self.failed.sum()),
            "aborted": int(self.aborted),
        }


class ClientSampler:
    """Draws each round's clients and prepares their data.

    Args:
      num_clients: the population.
      clients_per_round: clients per round (expected, with Poisson sampling).
      client_data_fn: builds the reporting clients' data of a round.
      sampling: uniform (exactly `clients_per_round`) or Poisson.
      seed: seeds the sampling generator and the failures.
      dropout_rate: probability that a sampled client fails mid-round.
      min_clients: a round in which fewer clients report is aborted; None
        means 1 (a round without any report is always aborted).
    """

    def __init__(
        self,
        num_clients: int,
        clients_per_round: int,
        client_data_fn: client_data.ClientDataFn,
        *,
        sampling: ClientSampling | str = ClientSampling.UNIFORM,
        seed: int = 0,
        dropout_rate: float = 0.0,
        min_clients: int | None = None,
    ):
        settings.check_cohort(clients_per_round, num_clients)
        self._num_clients = num_clients
        self._clients_per_round = clients_per_round
        self._client_data_fn = client_data_fn
        self._sampling = ClientSampling(sampling)
        self._seed = seed
        self._dropout_rate = dropout_rate
        self._min_clients = max(1, min_clients or 1)
        self._rng = np.random.default_rng(seed)

    @property
    def min_clients(self) -> int:
        return self._min_clients

    def get_state(self) -> dict[str, Any]:
        """The generator's state (JSON-serializable)."""
        return self._rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state

    def _draw(self, number: int, pool) -> Round:
        sampled = sample_clients(
            self._rng, self._num_clients, self._clients_per_round, self._sampling
        )
        failed = drop_out(
            sampled, self._dropout_rate, seed=self._seed, round_num=number
        )
        aborted = int((~failed).sum()) < self._min_clients
        data = None
        if not aborted:
            data = pool.submit(self._client_data_fn, sampled[~failed], number)
        return Round(
            number, sampled, failed, aborted, self._rng.bit_generator.state, data
        )

    def rounds(self, first: int, last: int) -> Iterator[Round]:
        """Rounds `first` to `last`, each drawn while the one before runs.

        The order of draws, hence every round's clients, is that of drawing
        them one by one; `Round.rng_state` is the state as of its own draw.
        """
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            upcoming = self._draw(first, pool) if first <= last else None
            for number in range(first, last + 1):
                current = upcoming
                upcoming = self._draw(number + 1, pool) if number < last else None
                yield current
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
