"""Robust aggregation: drop non-finite updates, zero outliers, clip the rest.

`robust_aggregator(inner, ...)` wraps an aggregation factory so that each
client update goes, in this order, through

1. a non-finite check: an update with a NaN or infinite coordinate is replaced
   by zeros, and its weight (for weighted factories) by 0, so it neither moves
   nor dilutes the mean. TFF's `zeroing_factory` alone does not catch it: it
   zeroes when ``norm > threshold``, which is false for a NaN norm;
2. adaptive zeroing (``adaptive_norms=True``): an update whose L-infinity
   norm exceeds a threshold is replaced by zeros
   (`tff.aggregators.zeroing_factory`); the threshold tracks twice the 98th
   percentile of the norms plus one;
3. adaptive clipping (``adaptive_norms=True``): the update is scaled down to an
   L2 norm that tracks the 80th percentile of the norms
   (`tff.aggregators.clipping_factory`).

Steps 2 and 3 use the settings of `tff.learning.robust_aggregator`; their
norms are estimated without noise by the geometric quantile method of Andrew,
Thakkar, McMahan and Ramaswamy, "Differentially Private Learning with Adaptive
Clipping", NeurIPS 2021, arXiv:1905.03871.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

# `tff.learning.robust_aggregator`'s zeroing: adapts quickly to somewhat above
# the largest norms seen.
ZEROING_INITIAL_NORM = 10.0
ZEROING_TARGET_QUANTILE = 0.98
ZEROING_LEARNING_RATE = math.log(10.0)
ZEROING_MULTIPLIER = 2.0
ZEROING_INCREMENT = 1.0
# `tff.learning.robust_aggregator`'s clipping: adapts to a moderately high norm.
CLIPPING_INITIAL_NORM = 1.0
CLIPPING_TARGET_QUANTILE = 0.8
CLIPPING_LEARNING_RATE = 0.2

_COUNT_TYPE = tff.TensorType(np.int32)


def _all_finite(tensors):
    return tf.reduce_all(
        tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])
    )


def _zero_unless(keep, value):
    return tf.nest.map_structure(lambda t: tf.where(keep, t, tf.zeros_like(t)), value)


def _count_sum_factory(secure: bool) -> tff.aggregators.UnweightedAggregationFactory:
    if secure:
        return tff.aggregators.SecureSumFactory(
            upper_bound_threshold=1, lower_bound_threshold=0
        )
    return tff.aggregators.SumFactory()


def _state_fn(inner_process, count_process):
    @tff.federated_computation()
    def init_fn():
        return tff.federated_zip(
            collections.OrderedDict(
                inner_agg=inner_process.initialize(),
                non_finite_count_agg=count_process.initialize(),
            )
        )

    return init_fn


def _output(inner_output, count_output):
    return tff.templates.MeasuredProcessOutput(
        state=tff.federated_zip(
            collections.OrderedDict(
                inner_agg=inner_output.state,
                non_finite_count_agg=count_output.state,
            )
        ),
        result=inner_output.result,
        measurements=tff.federated_zip(
            collections.OrderedDict(
                non_finite=inner_output.measurements,
                non_finite_count=count_output.result,
            )
        ),
    )


class UnweightedNonFiniteZeroingFactory(tff.aggregators.UnweightedAggregationFactory):
    """Replaces non-finite client values by zeros before an unweighted factory.

    The zeroed client still counts in an unweighted mean (as one client that
    sent no change). Measurements: ``non_finite_count`` (clients zeroed this
    round) and ``non_finite`` (the inner factory's measurements).

    Args:
      inner: the unweighted factory that aggregates the checked values.
      secure: sum the zeroed-client count with TFF's secure summation.
    """

    def __init__(
        self, inner: tff.aggregators.UnweightedAggregationFactory, *, secure=False
    ):
        if not isinstance(inner, tff.aggregators.UnweightedAggregationFactory):
            raise TypeError(
                f"expected an unweighted aggregation factory, got {type(inner)}"
            )
        self._inner = inner
        self._count = _count_sum_factory(secure)

    def create(self, value_type) -> tff.templates.AggregationProcess:
        inner_process = self._inner.create(value_type)
        count_process = self._count.create(_COUNT_TYPE)

        @tff.tensorflow.computation(value_type)
        def check(value):
            finite = _all_finite(tf.nest.flatten(value))
            return _zero_unless(finite, value), tf.cast(
                tf.logical_not(finite), tf.int32
            )

        init_fn = _state_fn(inner_process, count_process)

        @tff.federated_computation(
            init_fn.type_signature.result, tff.FederatedType(value_type, tff.CLIENTS)
        )
        def next_fn(state, value):
            checked = tff.federated_map(check, value)
            inner_output = inner_process.next(state.inner_agg, checked[0])
            count_output = count_process.next(state.non_finite_count_agg, checked[1])
            return _output(inner_output, count_output)

        return tff.templates.AggregationProcess(init_fn, next_fn)


class WeightedNonFiniteZeroingFactory(tff.aggregators.WeightedAggregationFactory):
    """Replaces non-finite client values by zeros, and their weights by 0.

    A zeroed client drops out of a weighted mean entirely. Measurements as for
    `UnweightedNonFiniteZeroingFactory`.

    Args:
      inner: the weighted factory that aggregates the checked values.
      secure: sum the zeroed-client count with TFF's secure summation.
    """

    def __init__(
        self, inner: tff.aggregators.WeightedAggregationFactory, *, secure=False
    ):
        if not isinstance(inner, tff.aggregators.WeightedAggregationFactory):
            raise TypeError(
                f"expected a weighted aggregation factory, got {type(inner)}"
            )
        self._inner = inner
        self._count = _count_sum_factory(secure)

    def create(self, value_type, weight_type) -> tff.templates.AggregationProcess:
        inner_process = self._inner.create(value_type, weight_type)
        count_process = self._count.create(_COUNT_TYPE)

        @tff.tensorflow.computation(value_type, weight_type)
        def check(value, weight):
            finite = _all_finite([*tf.nest.flatten(value), weight])
            return (
                _zero_unless(finite, value),
                tf.where(finite, weight, tf.zeros_like(weight)),
                tf.cast(tf.logical_not(finite), tf.int32),
            )

        init_fn = _state_fn(inner_process, count_process)

        @tff.federated_computation(
            init_fn.type_signature.result,
            tff.FederatedType(value_type, tff.CLIENTS),
            tff.FederatedType(weight_type, tff.CLIENTS),
        )
        def next_fn(state, value, weight):
            checked = tff.federated_map(check, (value, weight))
            inner_output = inner_process.next(state.inner_agg, checked[0], checked[1])
            count_output = count_process.next(state.non_finite_count_agg, checked[2])
            return _output(inner_output, count_output)

        return tff.templates.AggregationProcess(init_fn, next_fn)


def zeroing_non_finite(
    inner: tff.aggregators.AggregationFactory, *, secure: bool = False
) -> tff.aggregators.AggregationFactory:
    """Wraps `inner` (weighted or not) with the non-finite check."""
    if isinstance(inner, tff.aggregators.WeightedAggregationFactory):
        return WeightedNonFiniteZeroingFactory(inner, secure=secure)
    return UnweightedNonFiniteZeroingFactory(inner, secure=secure)


def adaptive_zeroing_norm() -> tff.templates.EstimationProcess:
    """The zeroing threshold of `tff.learning.robust_aggregator`."""
    return tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=ZEROING_INITIAL_NORM,
        target_quantile=ZEROING_TARGET_QUANTILE,
        learning_rate=ZEROING_LEARNING_RATE,
        multiplier=ZEROING_MULTIPLIER,
        increment=ZEROING_INCREMENT,
    )


def adaptive_clipping_norm() -> tff.templates.EstimationProcess:
    """The clipping norm of `tff.learning.robust_aggregator`."""
    return tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=CLIPPING_INITIAL_NORM,
        target_quantile=CLIPPING_TARGET_QUANTILE,
        learning_rate=CLIPPING_LEARNING_RATE,
    )


def robust_aggregator(
    inner: tff.aggregators.AggregationFactory,
    *,
    adaptive_norms: bool = True,
    secure: bool = False,
) -> tff.aggregators.AggregationFactory:
    """Wraps `inner` with the defences of the module docstring.

    Args:
      inner: the aggregation factory of the checked updates (weighted or not).
      adaptive_norms: also zero outliers and clip with adaptive norms (steps 2
        and 3). Differentially private and secure factories should pass False:
        DP factories clip already, TFF's secure mean zeroes and clips with
        securely estimated norms, and a norm estimated here without noise
        from individual updates is a release that neither accounts for.
      secure: sum the count of non-finite updates with secure summation.

    Returns:
      A factory of the same kind (weighted or unweighted) as `inner`.
    """
    if adaptive_norms:
        inner = tff.aggregators.clipping_factory(adaptive_clipping_norm(), inner)
        inner = tff.aggregators.zeroing_factory(adaptive_zeroing_norm(), inner)
    return zeroing_non_finite(inner, secure=secure)
