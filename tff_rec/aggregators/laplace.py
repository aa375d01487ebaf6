"""Laplace mechanism for federated sums and means, as a TensorFlow Privacy query.

Dwork, McSherry, Nissim and Smith, "Calibrating Noise to Sensitivity in Private
Data Analysis", TCC 2006 (the Laplace mechanism). The federated use (clip each
client's update, sum, add noise, divide by the expected number of clients)
follows McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private
Recurrent Language Models", ICLR 2018, arXiv:1710.06963, with the L1 norm and
Laplace noise in place of the L2 norm and Gaussian noise.

Each client's record (a nested structure of tensors) is clipped to a global L1
norm of at most `l1_norm_clip`, so adding or removing one client changes the sum
by at most `l1_norm_clip` in L1. Adding i.i.d. Laplace noise of scale
``b = l1_norm_clip * noise_multiplier`` to every coordinate is then
``epsilon = 1 / noise_multiplier`` differentially private per release
(add/remove-one-client neighbouring), which `dp_accounting.LaplaceDpEvent`
records.

Noise is drawn like `tensorflow_privacy.GaussianSumQuery` draws it: with
unseeded (stateful) TensorFlow random ops, so every release gets fresh noise.
A Laplace sample is the difference of two unit exponentials, each
``-log(1 - U)`` with ``U`` uniform on [0, 1) in float64, then scaled and cast to
the record's dtype. Like TensorFlow Privacy's own queries this floating-point
sampler is not hardened against the attack of Mironov, "On Significance of the
Least Significant Bits for Differential Privacy", CCS 2012.
"""

from __future__ import annotations

import collections

import dp_accounting
import tensorflow as tf
import tensorflow_federated as tff
import tensorflow_privacy as tfp

from tff_rec import errors


def _check_positive(value: float, name: str) -> None:
    if not value > 0:
        raise errors.UserInputError(f"{name} must be > 0, got {value}")


def _check_nonnegative(value: float, name: str) -> None:
    if not value >= 0:
        raise errors.UserInputError(f"{name} must be >= 0, got {value}")


def sample_laplace(shape: tf.Tensor, scale: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Draws i.i.d. Laplace(0, `scale`) noise of the given shape.

    Args:
      shape: shape of the sample (a 1-D int tensor or a list).
      scale: the Laplace scale b (a scalar); the variance is 2 b^2.
      dtype: dtype of the returned tensor.

    Returns:
      A tensor of `dtype` and `shape`.
    """
    # 1 - U lies in (0, 1], so the logarithms are finite.
    exp_1 = -tf.math.log1p(-tf.random.uniform(shape, dtype=tf.float64))
    exp_2 = -tf.math.log1p(-tf.random.uniform(shape, dtype=tf.float64))
    noise = tf.cast(scale, tf.float64) * (exp_1 - exp_2)
    return tf.cast(noise, dtype)


def clip_by_global_l1_norm(
    record_as_list: list[tf.Tensor], l1_norm_clip: tf.Tensor
) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Scales tensors so that their global L1 norm is at most `l1_norm_clip`.

    Args:
      record_as_list: a flat list of float tensors.
      l1_norm_clip: the bound on the sum of absolute values of all entries.

    Returns:
      The scaled tensors and the global L1 norm before clipping.
    """
    l1_norm = tf.add_n(
        [tf.reduce_sum(tf.abs(tf.cast(t, tf.float32))) for t in record_as_list]
        or [tf.constant(0.0)]
    )
    l1_norm_clip = tf.cast(l1_norm_clip, tf.float32)
    # min(1, clip / norm), written so that a zero record gives factor 1.
    factor = l1_norm_clip / tf.maximum(l1_norm, l1_norm_clip)
    clipped = [t * tf.cast(factor, t.dtype) for t in record_as_list]
    return clipped, l1_norm


class LaplaceSumQuery(tfp.SumAggregationDPQuery):
    """Clips records to an L1 norm, sums them and adds Laplace noise.

    The noise on every coordinate has scale ``l1_norm_clip * noise_multiplier``;
    one release is ``1 / noise_multiplier``-DP for adding or removing a record.
    """

    _GlobalState = collections.namedtuple(
        "_GlobalState", ["l1_norm_clip", "noise_multiplier"]
    )

    def __init__(self, l1_norm_clip: float, noise_multiplier: float):
        """Initializes the query.

        Args:
          l1_norm_clip: bound on the global L1 norm of each record (> 0).
          noise_multiplier: Laplace scale divided by `l1_norm_clip` (>= 0; 0
            adds no noise and gives no privacy).

        Raises:
          UserInputError: if `l1_norm_clip` <= 0 or `noise_multiplier` < 0.
        """
        _check_positive(l1_norm_clip, "l1_norm_clip")
        _check_nonnegative(noise_multiplier, "noise_multiplier")
        self._l1_norm_clip = l1_norm_clip
        self._noise_multiplier = noise_multiplier

    def make_global_state(self, l1_norm_clip, noise_multiplier):
        """Creates a global state from the given parameters."""
        return self._GlobalState(
            tf.cast(l1_norm_clip, tf.float32), tf.cast(noise_multiplier, tf.float32)
        )

    def initial_global_state(self):
        """Implements `tensorflow_privacy.DPQuery.initial_global_state`."""
        return self.make_global_state(self._l1_norm_clip, self._noise_multiplier)

    def derive_sample_params(self, global_state):
        """Implements `tensorflow_privacy.DPQuery.derive_sample_params`."""
        return global_state.l1_norm_clip

    def preprocess_record_impl(self, params, record):
        """Clips the record's global L1 norm to `params`.

        Args:
          params: the L1 clipping norm.
          record: a nested structure of tensors.

        Returns:
          A tuple (clipped record, L1 norm before clipping).
        """
        record_as_list = tf.nest.flatten(record)
        clipped_as_list, norm = clip_by_global_l1_norm(record_as_list, params)
        return tf.nest.pack_sequence_as(record, clipped_as_list), norm

    def preprocess_record(self, params, record):
        """Implements `tensorflow_privacy.DPQuery.preprocess_record`."""
        clipped, _ = self.preprocess_record_impl(params, record)
        return clipped

    def get_noised_result(self, sample_state, global_state):
        """Implements `tensorflow_privacy.DPQuery.get_noised_result`."""
        scale = global_state.l1_norm_clip * global_state.noise_multiplier

        def add_noise(v):
            return v + sample_laplace(tf.shape(v), scale, v.dtype)

        result = tf.nest.map_structure(add_noise, sample_state)
        event = dp_accounting.LaplaceDpEvent(global_state.noise_multiplier)
        return result, global_state, event


def laplace_query(
    *, noise_multiplier: float, clients_per_round: float, l1_clip: float
) -> tfp.NormalizedQuery:
    """Returns the mean query: a `LaplaceSumQuery` over `clients_per_round`.

    Args:
      noise_multiplier: Laplace scale divided by `l1_clip` (>= 0).
      clients_per_round: the (expected) number of clients per round, the
        public denominator of the mean (> 0).
      l1_clip: bound on the L1 norm of each client's update (> 0).

    Raises:
      UserInputError: for out-of-range arguments.
    """
    _check_positive(clients_per_round, "clients_per_round")
    return tfp.NormalizedQuery(
        LaplaceSumQuery(l1_norm_clip=float(l1_clip), noise_multiplier=noise_multiplier),
        denominator=float(clients_per_round),
    )


def laplace_aggregator(
    *,
    noise_multiplier: float,
    clients_per_round: float,
    l1_clip: float,
    record_aggregation_factory: tff.aggregators.UnweightedAggregationFactory
    | None = None,
) -> tff.aggregators.UnweightedAggregationFactory:
    """Mean of client updates with L1 clipping and Laplace noise.

    Built like `tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed`:
    the noised sum is divided by the fixed `clients_per_round`, so the noise on
    the mean has scale ``l1_clip * noise_multiplier / clients_per_round``.

    Args:
      noise_multiplier: Laplace scale divided by `l1_clip`; each round is
        ``1 / noise_multiplier``-DP before sampling amplification.
      clients_per_round: the (expected) number of clients per round.
      l1_clip: bound on the L1 norm of each client's update.
      record_aggregation_factory: how clipped records are summed; None means
        `tff.aggregators.SumFactory` (e.g. pass a `SecureSumFactory`).

    Returns:
      A `tff.aggregators.DifferentiallyPrivateFactory` (unweighted).

    Raises:
      UserInputError: for out-of-range arguments.
    """
    query = laplace_query(
        noise_multiplier=noise_multiplier,
        clients_per_round=clients_per_round,
        l1_clip=l1_clip,
    )
    return tff.aggregators.DifferentiallyPrivateFactory(
        query, record_aggregation_factory=record_aggregation_factory
    )
