"""Canary clients: the measurement behind the one-shot empirical epsilon.

Andrew, Kairouz, Oh, Oprea, McMahan and Suriyakumar, "One-shot Empirical
Privacy Estimation for Federated Learning", ICLR 2024, arXiv:2302.03098.

A canary client takes part in rounds like any client (each round with the
run's sampling probability) but sends, instead of its trained update, a
fixed random unit direction scaled to the clip: exactly what one client may
contribute under the DP guarantee. Other canaries are drawn the same way
and never inserted. After training, the cosine between the model's total
update (initial minus final weights, the direction the aggregated updates
point) and each canary's direction is near zero for the held-out canaries
and shifted for inserted ones; how separable the two sets are is an
estimate of the epsilon of the released model
(`tff_rec.privacy.audit.canary_epsilon`).

The canary's update replaces the trained one inside the learning process,
on the client, before aggregation (`tff_rec.training.attacks.
replace_updates`), so it goes through the run's own clipping, noise and
server optimizer.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tff_rec.training import hooks
from tff_rec.training import sampling

_CANARY_STREAM = 0x63616E
_PARTICIPATION_STREAM = 0x706172


def direction(shapes: Sequence, seed: tf.Tensor) -> list[tf.Tensor]:
    """A random unit direction over tensors of `shapes` (global L2 norm 1),
    the same for the same seed in a graph and eagerly."""
    parts = [
        tf.random.stateless_normal(
            shape, seed=tf.random.experimental.stateless_fold_in(seed, i)
        )
        for i, shape in enumerate(shapes)
    ]
    norm = tf.linalg.global_norm(parts)
    return [p / norm for p in parts]


def replacement(norm: float):
    """The update a canary sends: its direction times `norm` (the clip)."""

    def replace(tensors, seed):
        unit = direction([tf.shape(t) for t in tensors], seed)
        return [tf.cast(norm * u, t.dtype) for u, t in zip(unit, tensors, strict=True)]

    return replace


def _marker(flag: bool, seed: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensors(
        collections.OrderedDict(malicious=np.bool_(flag), seed=seed.astype(np.int64))
    )


class CanaryClients(hooks.RoundHook):
    """Inserts canary clients into each round of a process built with
    `replacement` (`tff_rec.training.attacks.build_replacing_process`).

    Args:
      num_inserted: canaries that take part in rounds.
      num_held_out: canaries drawn the same way, never inserted.
      probability: each inserted canary takes part in a round with this
        probability (the run's client sampling probability).
      carrier: the data a canary client holds (it trains on it like any
        client; the result is replaced).
      seed: seeds the canaries' directions and participation.
    """

    def __init__(
        self,
        num_inserted: int,
        num_held_out: int,
        probability: float,
        carrier: tf.data.Dataset,
        seed: int,
    ):
        self.num_inserted = num_inserted
        self.num_held_out = num_held_out
        self.probability = probability
        self._carrier = carrier
        self._seed = seed
        self.participation = np.zeros(num_inserted, np.int64)
        self._last: np.ndarray = np.zeros(0, np.int64)

    def seed_of(self, canary: int) -> np.ndarray:
        """The int64[2] seed of canary `canary` (inserted ones come first)."""
        return np.random.default_rng([self._seed, _CANARY_STREAM, canary]).integers(
            0, 2**62, size=2, dtype=np.int64
        )

    def client_data(self, round_: sampling.Round, data: list) -> list:
        rng = np.random.default_rng([self._seed, _PARTICIPATION_STREAM, round_.number])
        self._last = np.flatnonzero(rng.random(self.num_inserted) < self.probability)
        self.participation[self._last] += 1
        no_seed = np.zeros(2, np.int64)
        honest = [
            collections.OrderedDict(data=d, attack=_marker(False, no_seed))
            for d in data
        ]
        return honest + [
            collections.OrderedDict(
                data=self._carrier, attack=_marker(True, self.seed_of(int(j)))
            )
            for j in self._last
        ]

    def after_round(self, result: hooks.RoundResult) -> None:
        result.row["canaries"] = len(self._last)

    def directions(
        self, shapes: Sequence, canaries: Sequence[int]
    ) -> Iterator[np.ndarray]:
        """Each of `canaries`' direction, flat."""
        for j in canaries:
            unit = direction(shapes, tf.constant(self.seed_of(int(j))))
            yield np.concatenate([np.asarray(u).reshape(-1) for u in unit])

    def cosines(self, update: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Cosines of the total `update` with the (inserted, held-out) canaries.

        Args:
          update: the model's total update, initial minus final weights, flat
            tensors in the order of the client updates.
        """
        shapes = [np.shape(t) for t in update]
        flat = np.concatenate([np.asarray(t, np.float64).reshape(-1) for t in update])
        norm = float(np.linalg.norm(flat))
        scale = 0.0 if norm == 0 else 1.0 / norm

        def of(canaries):
            return np.array(
                [float(d @ flat) * scale for d in self.directions(shapes, canaries)]
            )

        total = self.num_inserted + self.num_held_out
        return of(range(self.num_inserted)), of(range(self.num_inserted, total))
