"""Customer-level DP inside a store: DP-SGD with one customer as the unit.

In a cross-silo federation the people to protect are a store's customers,
against the server and the other stores. Each store trains with DP-SGD
("Deep Learning with Differential Privacy", Abadi et al., CCS 2016,
arXiv:1607.00133) at the level of users rather than examples ("Learning
Differentially Private Recurrent Language Models", McMahan et al., ICLR
2018, arXiv:1710.06963): at every local step

1. every customer of the store is sampled independently with probability
   ``q`` (Poisson);
2. each sampled customer's contribution to the step, the gradient of the
   mean loss over all of that customer's ratings with respect to the item
   tables (embeddings and biases), is computed from its per-example
   gradients and clipped to L2 norm ``clip`` as one vector;
3. the clipped contributions are summed and Gaussian noise of stddev
   ``noise_multiplier * clip`` is added to every coordinate of the item
   tables, inside the store, before anything leaves it.

Adding or removing one customer changes the pre-noise sum by at most
``clip`` (`clipped_item_gradient_sum`). A customer's own factors (their
user embedding and bias) never leave the store: they are the store's
private state, updated from that customer's data only, and affect the
released sums only through that customer's clipped contribution.

Accounting: every step is one ``PoissonSampledDpEvent(q,
GaussianDpEvent(noise_multiplier))``, composed over the local steps of every
round (RDP, `dp_accounting`). A customer belongs to exactly one store, and
stores touch disjoint customers (parallel composition), so with the same
``q``, noise and number of steps in every store the run's customer-level
(epsilon, delta) is that of ``rounds * local_steps`` compositions.
"""

from __future__ import annotations

import dataclasses

import dp_accounting
import numpy as np
from dp_accounting import rdp

from tff_rec import errors
from tff_rec import settings

DEFAULT_SAMPLING_RATE = 0.3
DEFAULT_LOCAL_STEPS = 5
DEFAULT_CLIP = 0.1


@dataclasses.dataclass(frozen=True)
class CustomerDpSpec:
    """The DP-SGD mechanism of every store, as the accountant sees it.

    Attributes:
      sampling_rate: probability ``q`` that a customer joins a step.
      noise_multiplier: noise stddev over the clip.
      steps_per_round: local DP-SGD steps of a store per round.
      delta: the target delta.
    """

    sampling_rate: float
    noise_multiplier: float
    steps_per_round: int
    delta: float

    def __post_init__(self):
        settings.check_between("sampling_rate", self.sampling_rate, 0.0, 1.0)
        if not self.sampling_rate <= 1.0:
            raise errors.UserInputError("sampling_rate must be <= 1")
        settings.check_positive("noise_multiplier", self.noise_multiplier)
        settings.check_at_least("steps_per_round", self.steps_per_round, 1)
        settings.check_between("delta", self.delta, 0.0, 1.0)

    def replace_noise(self, noise_multiplier: float) -> CustomerDpSpec:
        """The same mechanism with another noise multiplier."""
        return dataclasses.replace(self, noise_multiplier=noise_multiplier)

    def step_event(self) -> dp_accounting.DpEvent:
        """One local step of one store."""
        return dp_accounting.PoissonSampledDpEvent(
            self.sampling_rate, dp_accounting.GaussianDpEvent(self.noise_multiplier)
        )

    def epsilon(self, rounds: int) -> float:
        """Customer-level epsilon (at `delta`) after `rounds` rounds."""
        if rounds == 0:
            return 0.0
        accountant = rdp.RdpAccountant()
        accountant.compose(self.step_event(), rounds * self.steps_per_round)
        return float(accountant.get_epsilon(self.delta))


def calibrate_noise_multiplier(
    target_epsilon: float,
    *,
    rounds: int,
    sampling_rate: float,
    steps_per_round: int,
    delta: float,
    tolerance: float = 1e-3,
) -> float:
    """The smallest noise multiplier whose `rounds` rounds spend at most
    `target_epsilon` (bisection, to a relative `tolerance`)."""
    settings.check_positive("target_epsilon", target_epsilon)

    def spent(z: float) -> float:
        return CustomerDpSpec(sampling_rate, z, steps_per_round, delta).epsilon(rounds)

    low, high = 1e-2, 1.0
    while spent(high) > target_epsilon:
        low, high = high, high * 2
        if high > 1e4:
            raise errors.UserInputError(
                f"target_epsilon={target_epsilon} needs a noise multiplier > 1e4"
            )
    while high - low > tolerance * high:
        mid = (low + high) / 2
        if spent(mid) > target_epsilon:
            low = mid
        else:
            high = mid
    return high


def per_customer_gradients(
    error: np.ndarray,
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    item_bias: np.ndarray,
    counts: np.ndarray,
    *,
    l2: float,
    bias_l2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each example's part of its customer's item-table gradient.

    The customer's loss is the mean over its ratings of ``error^2`` plus the
    per-example L2 penalties; an example's gradients with respect to its
    item's embedding and bias are scaled by ``1 / count`` of its customer.

    Args:
      error: prediction minus rating of each example.
      user_rows, item_rows: the example's user and item embeddings.
      item_bias: the example's item bias.
      counts: the number of ratings of the example's customer.
      l2, bias_l2: the per-example penalties.

    Returns:
      ``(embedding_gradients [n, d], bias_gradients [n])``.
    """
    scale = 2.0 / counts
    embedding = scale[:, None] * (error[:, None] * user_rows + l2 * item_rows)
    return embedding, scale * (error + bias_l2 * item_bias)


def clipped_item_gradient_sum(
    customer: np.ndarray,
    items: np.ndarray,
    embedding_gradients: np.ndarray,
    bias_gradients: np.ndarray,
    *,
    num_items: int,
    clip: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The sum over customers of their item gradients, each clipped to `clip`.

    Args:
      customer: each example's customer (any integer id).
      items: each example's item.
      embedding_gradients, bias_gradients: each example's part of its
        customer's gradient (`per_customer_gradients`).
      num_items: rows of the item tables.
      clip: L2 bound of one customer's whole contribution (embedding and
        bias parts of all of its items together).

    Returns:
      ``(embedding_sum [num_items, d], bias_sum [num_items])``, before noise.
    """
    dim = embedding_gradients.shape[1]
    if not len(customer):
        return np.zeros((num_items, dim)), np.zeros(num_items)
    # One row per (customer, item): a customer's contribution to an item row.
    keys, pair = np.unique(
        customer.astype(np.int64) * num_items + items, return_inverse=True
    )
    pair_embedding = np.zeros((len(keys), dim))
    np.add.at(pair_embedding, pair, embedding_gradients)
    pair_bias = np.bincount(pair, bias_gradients, len(keys))
    _, pair_customer = np.unique(keys // num_items, return_inverse=True)
    squared = np.sum(pair_embedding**2, axis=1) + pair_bias**2
    norms = np.sqrt(np.bincount(pair_customer, squared))
    factor = np.minimum(1.0, clip / np.maximum(norms, 1e-12))[pair_customer]
    pair_items = keys % num_items
    embedding_sum = np.zeros((num_items, dim))
    np.add.at(embedding_sum, pair_items, factor[:, None] * pair_embedding)
    bias_sum = np.bincount(pair_items, factor * pair_bias, num_items)
    return embedding_sum, bias_sum
