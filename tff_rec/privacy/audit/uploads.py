"""What clients upload in one round, taken from a real learning process.

The server of a round receives each sampled client's model update (unless
secure aggregation hides it in a sum). `collect_uploads` runs the run's own
learning process (FedAvg or reconstruction, the task's model, loss and
client optimizer) one client at a time from a given server model: with the
plain unweighted mean and a server step of 1, the model moves by exactly
the client's update, ``update = weights_before - weights_after``. Each
client's upload is one round of its real client work.

What a configuration's server actually sees of an upload (its encoding, its
DP clip, a secure sum) is `tff_rec.privacy.audit.views`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import config as algorithms_config
from tff_rec.algorithms import optimizers
from tff_rec.data import preparation
from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import base as tasks_base
from tff_rec.training import process as process_lib

Algorithm = algorithms_config.Algorithm
ITEM_TABLES = (mf.ITEM_EMBEDDING, mf.ITEM_BIAS)


@dataclasses.dataclass(frozen=True)
class Uploads:
    """Clients' updates against one broadcast model.

    Attributes:
      clients: the clients' indices in the partition.
      updates: per client, its update as flat float32 arrays (in the order of
        the model's trainable global weights).
      broadcast: the model the clients trained from, flat in the same order.
      names: the weights' variable names, in the same order.
    """

    clients: np.ndarray
    updates: list[list[np.ndarray]]
    broadcast: list[np.ndarray]
    names: tuple[str, ...]

    def position(self, table: str) -> int:
        """Index of the weight named `table` (e.g. ``mf.ITEM_EMBEDDING``)."""
        for i, name in enumerate(self.names):
            if name.split("/")[0].startswith(table):
                return i
        raise KeyError(f"no weight named {table!r} among {self.names}")

    @property
    def specs(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec(t.shape, tf.float32) for t in self.broadcast]


def trainable_names(task: tasks_base.Task, algorithm: Algorithm, num_users: int):
    """Names of the weights a client update covers, in the update's order."""
    model = task.model_fn(num_users)()
    if algorithm is Algorithm.FEDRECON:
        variables = [
            w for layer in model.global_layers for w in layer.trainable_weights
        ]
    else:
        variables = list(model.keras_model.trainable_weights)
    return tuple(v.name for v in variables)


def model_user_rows(data: preparation.PreparedData, algorithm: Algorithm) -> int:
    """Rows of the user table of a process: one client's users for
    reconstruction (its table lives on the client), every user for FedAvg."""
    if algorithm is Algorithm.FEDRECON:
        return data.federated.max_users_per_client
    return data.interactions.num_users


def build_observation_process(config, task, data):
    """The run's process with the plain unweighted mean and a server step of 1.

    Its round with one client moves the model by that client's update.
    """
    federated = config.federated
    if federated.algorithm is Algorithm.FEDAVG:
        federated = dataclasses.replace(
            federated, algorithm=Algorithm.FEDAVG_UNWEIGHTED
        )
    federated = dataclasses.replace(
        federated, server_optimizer=optimizers.OptimizerType.SGD
    )
    return process_lib.build_process(
        task,
        federated,
        aggregator=aggregator_factory.configure_aggregator(weighted=False),
        broadcast_bits=None,
        server_learning_rate=1.0,
        num_users=model_user_rows(data, federated.algorithm),
        private=True,
    )


def flat_weights(process, state) -> list[np.ndarray]:
    """The trainable (global) model weights of `state`, flat, float32."""
    weights = process.get_model_weights(state)
    return [np.asarray(w, np.float32) for w in weights.trainable]


def collect_uploads(
    config,
    task: tasks_base.Task,
    data: preparation.PreparedData,
    model_weights,
    clients: np.ndarray,
    *,
    round_num: int = 1,
) -> Uploads:
    """Each of `clients`' update in a round that starts from `model_weights`.

    Args:
      config: the run (`tff_rec.training.config.TrainConfig`); its algorithm,
        model and client settings are used, its aggregator is not.
      task: the run's task.
      data: the run's data.
      model_weights: the broadcast model (`tff.learning.models.ModelWeights`
        of the run's process).
      clients: partition indices of the clients to collect.
      round_num: seeds the clients' local shuffles, as in that round.

    Returns:
      The `Uploads`.
    """
    process = build_observation_process(config, task, data)
    process, client_data_fn = task.client_inputs(process, attacked=False)
    state = process.set_model_weights(process.initialize(), model_weights)
    broadcast = flat_weights(process, state)
    updates = []
    for client in clients:
        output = process.next(state, client_data_fn(np.array([client]), round_num))
        after = flat_weights(process, output.state)
        updates.append([b - a for b, a in zip(broadcast, after, strict=True)])
    return Uploads(
        clients=np.asarray(clients),
        updates=updates,
        broadcast=broadcast,
        names=trainable_names(
            task, config.algorithm, model_user_rows(data, config.algorithm)
        ),
    )
