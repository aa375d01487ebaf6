"""The learning process a run's configuration asks for.

`build_process` turns the federated, privacy, communication and reliability
sections and a task's model and loss into a TFF learning process:
`configure_aggregator` (mean or DP, secure, compressed, robust), the
broadcast (quantized or not, always counting bytes), the optimizers, and
`build_weighted_fed_avg`, `build_unweighted_fed_avg` or `build_fed_recon`.
"""

from __future__ import annotations

import tensorflow_federated as tff

from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import config as algorithms_config
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.algorithms import optimizers
from tff_rec.compression import broadcast
from tff_rec.compression import config as compression_config
from tff_rec.data import preparation
from tff_rec.privacy import accounting
from tff_rec.privacy import config as privacy_config
from tff_rec.tasks import base

Algorithm = algorithms_config.Algorithm


def build_aggregator(
    privacy: privacy_config.PrivacyConfig,
    communication: compression_config.CommunicationConfig,
    *,
    algorithm: Algorithm,
    clients_per_round: int,
    spec: accounting.PrivacySpec | None,
    robust: bool,
) -> tff.aggregators.AggregationFactory:
    """The model-update aggregator of a run (it counts the bytes sent)."""
    return aggregator_factory.configure_aggregator(
        aggregator=privacy.aggregator,
        weighted=algorithm is not Algorithm.FEDAVG_UNWEIGHTED and not privacy.is_dp,
        noise_multiplier=None if spec is None else spec.noise_multiplier,
        clients_per_round=clients_per_round if privacy.is_dp else None,
        clip=privacy.clip,
        target_quantile=privacy.target_quantile,
        initial_clip=privacy.initial_clip,
        secure=privacy.secure_aggregation,
        quantize_bits=communication.quantize_bits,
        topk_fraction=communication.topk_fraction,
        sparse_rows=communication.sparse_item_updates,
        decoy_rows=communication.decoy_rows,
        count_bytes=True,
        robust=robust,
    )


def build_process(
    task: base.Task,
    federated: algorithms_config.FederatedConfig,
    *,
    aggregator: tff.aggregators.AggregationFactory,
    broadcast_bits: int | None,
    server_learning_rate: float,
    num_users: int,
    private: bool,
) -> tff.learning.templates.LearningProcess:
    """The learning process of `federated.algorithm` over `task`'s model.

    Args:
      task: gives the model, loss and metrics.
      federated: the algorithm, optimizers and reconstruction settings.
      aggregator: the model-update aggregator (`build_aggregator`).
      broadcast_bits: quantize the broadcast to this many bits; None sends
        float32 (the broadcast's bytes are counted either way).
      server_learning_rate: the server step (resolved, never None).
      num_users: rows of the model's user table: all users for FedAvg, one
        client's users for reconstruction (whose user table lives on it).
      private: the aggregator is differentially private (hence unweighted).
    """
    client_optimizer = optimizers.build_optimizer(
        federated.client_optimizer, federated.client_learning_rate
    )
    server_optimizer = optimizers.build_optimizer(
        federated.server_optimizer, server_learning_rate
    )
    options = dict(
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        model_aggregator=aggregator,
        model_distributor=broadcast.BroadcastFactory(bits=broadcast_bits),
        loss_fn=task.loss_fn,
        metrics_fn=task.metrics_fn,
    )
    if federated.algorithm is Algorithm.FEDRECON:
        return fed_recon.build_fed_recon(
            task.model_fn(num_users),
            reconstruction_optimizer=optimizers.build_optimizer(
                optimizers.OptimizerType.SGD, federated.reconstruction_learning_rate
            ),
            reconstruction_epochs=federated.reconstruction_epochs,
            post_reconstruction_epochs=federated.local_epochs,
            split_dataset=federated.reconstruction_split,
            weighted=not private,
            **options,
        )
    builder = {
        Algorithm.FEDAVG: fed_avg.build_weighted_fed_avg,
        Algorithm.FEDAVG_UNWEIGHTED: fed_avg.build_unweighted_fed_avg,
    }[federated.algorithm]
    return builder(task.model_fn(num_users), **options)


def server_learning_rate(config, data: preparation.PreparedData) -> tuple[float, bool]:
    """The run's server step, and whether it is the default derived from the
    data (`algorithms.config.default_server_learning_rate`)."""
    federated = config.federated
    if federated.server_learning_rate is not None:
        return federated.server_learning_rate, False
    step = algorithms_config.default_server_learning_rate(
        federated.algorithm,
        coverage=data.federated.item_coverage(),
        private=config.is_dp,
    )
    return step, not config.is_dp


def build_run_process(
    config,
    task: base.Task,
    data: preparation.PreparedData,
    *,
    spec: accounting.PrivacySpec | None,
    server_learning_rate: float,
) -> tff.learning.templates.LearningProcess:
    """The learning process of a run (`tff_rec.training.config.TrainConfig`).

    Args:
      config: the run.
      task: its task.
      data: its data (the user table sizes).
      spec: the DP mechanism (`PrivacyConfig.spec`), None without DP.
      server_learning_rate: the resolved server step (`server_learning_rate`).
    """
    federated, privacy = config.federated, config.privacy
    reconstruction = federated.algorithm is Algorithm.FEDRECON
    return build_process(
        task,
        federated,
        aggregator=build_aggregator(
            privacy,
            config.communication,
            algorithm=federated.algorithm,
            clients_per_round=federated.clients_per_round,
            spec=spec,
            robust=config.reliability.robust,
        ),
        broadcast_bits=config.communication.broadcast_quantize_bits,
        server_learning_rate=server_learning_rate,
        num_users=data.federated.max_users_per_client
        if reconstruction
        else data.interactions.num_users,
        private=privacy.is_dp,
    )
