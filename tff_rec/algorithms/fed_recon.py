"""Federated Reconstruction: user factors never leave the client.

Singhal, Sidahmed, Garrett, Wu, Rush and Prakash, "Federated Reconstruction:
Partially Local Federated Learning", NeurIPS 2021, arXiv:2102.03448.

Each round a client first reconstructs its local (user) variables from part
of its data with the global (item) variables frozen, then trains the global
variables with the local ones frozen. Only the global update is sent to the
server; local variables are never aggregated nor stored by the server.
"""

from __future__ import annotations

import tensorflow_federated as tff

from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import optimizers
from tff_rec.tasks import losses

DEFAULT_RECONSTRUCTION_LEARNING_RATE = 0.5
DEFAULT_RECONSTRUCTION_EPOCHS = 1
DEFAULT_POST_RECONSTRUCTION_EPOCHS = 1


def reconstruction_model_fn(model_fn: fed_avg.ModelFn):
    """Wraps a `RecommenderModel` factory as a TFF `ReconstructionModel` one."""

    def build():
        model = model_fn()
        return tff.learning.models.ReconstructionModel.from_keras_model_and_layers(
            keras_model=model.keras_model,
            global_layers=list(model.global_layers),
            local_layers=list(model.local_layers),
            input_spec=model.input_spec,
        )

    return build


def build_fed_recon(
    model_fn: fed_avg.ModelFn,
    *,
    client_optimizer: tff.learning.optimizers.Optimizer | None = None,
    server_optimizer: tff.learning.optimizers.Optimizer | None = None,
    reconstruction_optimizer: tff.learning.optimizers.Optimizer | None = None,
    reconstruction_epochs: int | None = None,
    post_reconstruction_epochs: int | None = None,
    split_dataset: bool = True,
    weighted: bool = True,
    model_aggregator: tff.aggregators.AggregationFactory | None = None,
    model_distributor: fed_avg.Distributor = None,
    loss_fn: fed_avg.LossFn | None = None,
    metrics_fn: fed_avg.MetricsFn | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds Federated Reconstruction over a `RecommenderModel`.

    Args:
      model_fn: no-arg callable returning a fresh `RecommenderModel` whose user
        tables are sized for one client (see `FederatedData.
        max_users_per_client`).
      client_optimizer: trains the global variables on the client; None means
        SGD with `fed_avg.DEFAULT_CLIENT_LEARNING_RATE`.
      server_optimizer: None means SGD with
        `fed_avg.DEFAULT_SERVER_LEARNING_RATE`.
      reconstruction_optimizer: reconstructs the local variables; None means
        SGD with `DEFAULT_RECONSTRUCTION_LEARNING_RATE`.
      reconstruction_epochs: passes over the reconstruction data; None means
        `DEFAULT_RECONSTRUCTION_EPOCHS`.
      post_reconstruction_epochs: passes over the training data after
        reconstruction; None means `DEFAULT_POST_RECONSTRUCTION_EPOCHS`.
      split_dataset: if True, even batches reconstruct and odd batches train
        (disjoint data, as in the paper); if False both use all batches.
      weighted: weight clients by their number of examples (False for DP
        aggregators, which are unweighted).
      model_aggregator: aggregation factory for the global update; None means
        the (weighted or unweighted) mean.
      model_distributor: sends the global (item-side) weights to the clients:
        a `DistributionProcess` or a `tff_rec.compression.BroadcastFactory`
        built for the global weights; None means TFF's plain broadcast.
      loss_fn: no-arg callable returning the task's loss (also used to
        reconstruct the local variables); None means rating prediction
        (`tff_rec.tasks.losses.rating_loss`).
      metrics_fn: no-arg callable returning the task's metrics; None means
        `tff_rec.tasks.losses.rating_metrics`.

    Returns:
      A `tff.learning.templates.LearningProcess`.

    Raises:
      TypeError: if a weighted process is paired with an unweighted
        aggregator, such as a differentially private one.
    """
    client_optimizer, server_optimizer = fed_avg.resolve_optimizers(
        client_optimizer, server_optimizer
    )
    if reconstruction_optimizer is None:
        reconstruction_optimizer = optimizers.SparseSGD(
            DEFAULT_RECONSTRUCTION_LEARNING_RATE
        )
    if reconstruction_epochs is None:
        reconstruction_epochs = DEFAULT_RECONSTRUCTION_EPOCHS
    if post_reconstruction_epochs is None:
        post_reconstruction_epochs = DEFAULT_POST_RECONSTRUCTION_EPOCHS
    if (
        weighted
        and model_aggregator is not None
        and not isinstance(model_aggregator, tff.aggregators.WeightedAggregationFactory)
    ):
        raise TypeError(
            "weighted reconstruction needs a weighted aggregator, got "
            f"{type(model_aggregator).__name__}, which is unweighted "
            "(differentially private aggregators are); pass weighted=False."
        )
    split_fn = tff.learning.models.ReconstructionModel.build_dataset_split_fn(
        recon_epochs=reconstruction_epochs,
        post_recon_epochs=post_reconstruction_epochs,
        split_dataset=split_dataset,
    )
    weighting = (
        tff.learning.ClientWeighting.NUM_EXAMPLES
        if weighted
        else tff.learning.ClientWeighting.UNIFORM
    )
    if model_distributor is not None:
        model_distributor = fed_avg.resolve_distributor(
            model_distributor, global_weights_type(model_fn)
        )
    return tff.learning.algorithms.build_fed_recon(
        reconstruction_model_fn(model_fn),
        loss_fn=losses.rating_loss if loss_fn is None else loss_fn,
        metrics_fn=losses.rating_metrics if metrics_fn is None else metrics_fn,
        client_optimizer_fn=client_optimizer,
        server_optimizer_fn=server_optimizer,
        reconstruction_optimizer_fn=reconstruction_optimizer,
        dataset_split_fn=split_fn,
        client_weighting=weighting,
        model_aggregator_factory=model_aggregator,
        model_distributor=model_distributor,
    )


def global_weights_type(model_fn: fed_avg.ModelFn) -> tff.Type:
    """The type of the global (server-held) weights of a reconstruction model."""
    build_model = reconstruction_model_fn(model_fn)

    @tff.tensorflow.computation
    def initial_global_weights():
        return tff.learning.models.ReconstructionModel.get_global_variables(
            build_model()
        )

    return initial_global_weights.type_signature.result
