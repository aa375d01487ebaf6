"""Federated Averaging over a `RecommenderModel`.

McMahan, Moore, Ramage, Hampson and Arcas, "Communication-Efficient Learning
of Deep Networks from Decentralized Data", AISTATS 2017, arXiv:1602.05629.

With FedAvg every layer, the user tables included, is global: each client
trains a copy of the whole model and the server averages the updates. The
weighted variant weights a client's update by its number of examples (the
``alpha_k = n_k / n`` of the paper); the unweighted one weights clients
equally, which is what differentially private aggregators require.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import optimizers
from tff_rec.compression import broadcast
from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import losses

DEFAULT_CLIENT_LEARNING_RATE = 0.05
DEFAULT_SERVER_LEARNING_RATE = 1.0

ModelFn = Callable[[], mf.RecommenderModel]
LossFn = Callable[[], tf.keras.losses.Loss]
MetricsFn = Callable[[], list[tf.keras.metrics.Metric]]
Distributor = (
    tff.learning.templates.DistributionProcess | broadcast.BroadcastFactory | None
)


def tff_model_fn(
    model_fn: ModelFn,
    loss_fn: LossFn | None = None,
    metrics_fn: MetricsFn | None = None,
) -> Callable[[], tff.learning.models.VariableModel]:
    """Wraps a `RecommenderModel` factory as a TFF model factory.

    Args:
      model_fn: no-arg callable returning a fresh `RecommenderModel`.
      loss_fn: no-arg callable returning the task's loss; None means
        `tff_rec.tasks.losses.rating_loss`.
      metrics_fn: no-arg callable returning the task's metrics; None means
        `tff_rec.tasks.losses.rating_metrics`.
    """
    loss_fn = losses.rating_loss if loss_fn is None else loss_fn
    metrics_fn = losses.rating_metrics if metrics_fn is None else metrics_fn

    def build():
        model = model_fn()
        return tff.learning.models.from_keras_model(
            model.keras_model,
            loss=loss_fn(),
            input_spec=model.input_spec,
            metrics=metrics_fn(),
        )

    return build


def resolve_optimizers(client_optimizer, server_optimizer):
    if client_optimizer is None:
        client_optimizer = optimizers.SparseSGD(DEFAULT_CLIENT_LEARNING_RATE)
    if server_optimizer is None:
        server_optimizer = tff.learning.optimizers.build_sgdm(
            learning_rate=DEFAULT_SERVER_LEARNING_RATE
        )
    return client_optimizer, server_optimizer


def resolve_distributor(
    distributor: Distributor, model_weights_type: tff.Type
) -> tff.learning.templates.DistributionProcess | None:
    """A `DistributionProcess` for `model_weights_type` (None keeps TFF's)."""
    if isinstance(distributor, broadcast.BroadcastFactory):
        return distributor.create(model_weights_type)
    return distributor


def build_weighted_fed_avg(
    model_fn: ModelFn,
    *,
    client_optimizer: tff.learning.optimizers.Optimizer | None = None,
    server_optimizer: tff.learning.optimizers.Optimizer | None = None,
    model_aggregator: tff.aggregators.WeightedAggregationFactory | None = None,
    model_distributor: Distributor = None,
    loss_fn: LossFn | None = None,
    metrics_fn: MetricsFn | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds FedAvg with clients weighted by their number of examples.

    Args:
      model_fn: no-arg callable returning a fresh `RecommenderModel`.
      client_optimizer: local optimizer; None means SGD
        (`tff_rec.algorithms.optimizers.SparseSGD`) with
        `DEFAULT_CLIENT_LEARNING_RATE`.
      server_optimizer: server optimizer applied to the averaged update; None
        means SGD with `DEFAULT_SERVER_LEARNING_RATE`.
      model_aggregator: a weighted aggregation factory; None means TFF's
        default weighted mean.
      model_distributor: sends the server's model to the clients: a
        `DistributionProcess`, or a `tff_rec.compression.BroadcastFactory`
        (e.g. quantized broadcast) built for the model's weights; None means
        TFF's plain broadcast. TFF composes it into the process with
        `tff.learning.templates.compose_learning_process`.

    Returns:
      A `tff.learning.templates.LearningProcess`.

    Raises:
      TypeError: if `model_aggregator` is unweighted (DP aggregators are).
    """
    client_optimizer, server_optimizer = resolve_optimizers(
        client_optimizer, server_optimizer
    )
    if model_aggregator is not None and not isinstance(
        model_aggregator, tff.aggregators.WeightedAggregationFactory
    ):
        raise TypeError(
            "weighted FedAvg needs a weighted aggregator, got "
            f"{type(model_aggregator).__name__}, which is unweighted "
            "(differentially private aggregators are); use "
            "build_unweighted_fed_avg with it."
        )
    return tff.learning.algorithms.build_weighted_fed_avg(
        tff_model_fn(model_fn, loss_fn, metrics_fn),
        client_optimizer_fn=client_optimizer,
        server_optimizer_fn=server_optimizer,
        client_weighting=tff.learning.ClientWeighting.NUM_EXAMPLES,
        model_aggregator=model_aggregator,
        model_distributor=_distributor_for(model_distributor, model_fn),
    )


def build_unweighted_fed_avg(
    model_fn: ModelFn,
    *,
    client_optimizer: tff.learning.optimizers.Optimizer | None = None,
    server_optimizer: tff.learning.optimizers.Optimizer | None = None,
    model_aggregator: tff.aggregators.UnweightedAggregationFactory | None = None,
    model_distributor: Distributor = None,
    loss_fn: LossFn | None = None,
    metrics_fn: MetricsFn | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds FedAvg with every client weighted equally.

    Args:
      model_fn: no-arg callable returning a fresh `RecommenderModel`.
      client_optimizer: local optimizer; None means SGD
        (`tff_rec.algorithms.optimizers.SparseSGD`) with
        `DEFAULT_CLIENT_LEARNING_RATE`.
      server_optimizer: None means SGD with `DEFAULT_SERVER_LEARNING_RATE`.
      model_aggregator: an unweighted aggregation factory; None means the
        unweighted mean.
      model_distributor: as for `build_weighted_fed_avg`; None means TFF's
        plain broadcast.
      loss_fn, metrics_fn: as for `build_weighted_fed_avg`.

    Returns:
      A `tff.learning.templates.LearningProcess`.
    """
    client_optimizer, server_optimizer = resolve_optimizers(
        client_optimizer, server_optimizer
    )
    return tff.learning.algorithms.build_unweighted_fed_avg(
        tff_model_fn(model_fn, loss_fn, metrics_fn),
        client_optimizer_fn=client_optimizer,
        server_optimizer_fn=server_optimizer,
        model_aggregator=model_aggregator,
        model_distributor=_distributor_for(model_distributor, model_fn),
    )


def _distributor_for(distributor: Distributor, model_fn: ModelFn):
    if not isinstance(distributor, broadcast.BroadcastFactory):
        return distributor
    weights_type = tff.learning.models.weights_type_from_model(tff_model_fn(model_fn))
    return resolve_distributor(distributor, weights_type)
