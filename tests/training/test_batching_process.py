"""A process whose clients batch their own arrays runs the same rounds as the
process fed `tf.data` datasets, on either runtime."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tests import synthetic
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import inprocess
from tff_rec.runtime import local_cpp
from tff_rec.training import federated

_ROUNDS = 3


@pytest.fixture(scope="module")
def data():
    train = synthetic.make_interactions(num_users=16, num_items=10, per_user=7)
    partition = partition_lib.make_partition(train, partition_lib.PartitionType.USER)
    return client_data.build_federated_data(train, partition)


def _build(algorithm: str, data):
    def model_fn(num_users):
        return lambda: mf.build_matrix_factorization(
            num_users, 10, embedding_dim=3, global_bias=3.0, seed=2
        )

    if algorithm == "fedrecon":
        return fed_recon.build_fed_recon(model_fn(data.max_users_per_client))
    return fed_avg.build_weighted_fed_avg(model_fn(16))


def _schedule(algorithm: str, epochs: int = 1) -> federated.RoundSchedule:
    return federated.RoundSchedule(
        rounds=_ROUNDS,
        clients_per_round=5,
        batch_size=3,
        client_epochs=epochs,
        user_key="local_user" if algorithm == "fedrecon" else "user",
        seed=4,
    )


def _weights(process, data, schedule, client_data_fn, context) -> list:
    with tff.framework.get_context_stack().install(context):
        state, history = federated.run_rounds(
            process,
            data,
            schedule,
            client_datasets_fn=client_data_fn,
            show_progress=False,
        )
        weights = process.get_model_weights(state)
    assert len(history) == _ROUNDS
    return [np.asarray(w) for w in weights.trainable]


@pytest.fixture(scope="module")
def cpp_context():
    return local_cpp.create_local_cpp_execution_context()


@pytest.mark.parametrize("algorithm", ["fedavg", "fedrecon"])
@pytest.mark.parametrize("global_seed", [None, 3])
def test_same_rounds_as_datasets(data, algorithm, global_seed):
    tf.random.set_seed(global_seed)
    try:
        process = _build(algorithm, data)
        schedule = _schedule(algorithm)
        batching = federated.batching_process(process, schedule)
        context = inprocess.create_inprocess_execution_context()
        expected = _weights(
            process,
            data,
            schedule,
            federated.rating_datasets_fn(data, schedule),
            context,
        )
        actual = _weights(
            batching,
            data,
            schedule,
            federated.rating_tensors_fn(data, schedule),
            context,
        )
    finally:
        tf.random.set_seed(None)
    with tff.framework.get_context_stack().install(context):
        initial = process.get_model_weights(process.initialize()).trainable
    # The rounds moved the model: the comparison is not of two initial models.
    assert any(not np.allclose(a, b) for a, b in zip(expected, initial, strict=True))
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "algorithm, epochs", [("fedavg", 1), ("fedavg", 2), ("fedrecon", 1)]
)
def test_runtimes_agree(data, cpp_context, algorithm, epochs):
    process = _build(algorithm, data)
    schedule = _schedule(algorithm, epochs)
    batching = federated.batching_process(process, schedule)
    tensors = federated.rating_tensors_fn(data, schedule)
    reference = _weights(batching, data, schedule, tensors, cpp_context)
    ours = _weights(
        batching,
        data,
        schedule,
        tensors,
        inprocess.create_inprocess_execution_context(max_slots=2),
    )
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_keeps_the_process_attributes(data):
    process = _build("fedavg", data)
    batching = federated.batching_process(process, _schedule("fedavg"))
    assert batching.initialize is process.initialize
    assert batching.get_model_weights is process.get_model_weights
    assert batching.set_model_weights is process.set_model_weights
    clients = batching.next.type_signature.parameter[1]
    assert clients.placement is tff.CLIENTS
    assert clients.member == client_data.CLIENT_TENSORS_TYPE


def test_rejects_a_process_taking_other_batches():
    def model_fn():
        keras_model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
        return tff.learning.models.from_keras_model(
            keras_model,
            loss=tf.keras.losses.MeanSquaredError(),
            input_spec=collections.OrderedDict(
                x=tf.TensorSpec([None, 2], tf.float32),
                y=tf.TensorSpec([None, 1], tf.float32),
            ),
        )

    process = tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
    )
    with pytest.raises(TypeError):
        federated.batching_process(process, _schedule("fedavg"))


def test_client_epochs_are_the_passes_trained(tmp_path):
    # The trainer's schedule and process together train client_epochs passes
    # over each sampled client's rows. (With reconstruction the process makes
    # those passes itself over a one-pass dataset: `dataset_epochs`.)
    from tff_rec.training import config as config_lib
    from tff_rec.training import experiment

    config = config_lib.TrainConfig(
        algorithm="fedavg",
        data_dir=str(synthetic.write_ml100k(tmp_path / "ml-100k")),
        client_epochs=2,
        clients_per_round=4,
        batch_size=3,
        rounds=1,
    )
    prepared = experiment.prepare_data(config)
    schedule = experiment.round_schedule(config)
    process = federated.batching_process(
        experiment.build_process(config, prepared), schedule
    )
    clients = np.arange(4)
    with tff.framework.get_context_stack().install(
        inprocess.create_inprocess_execution_context()
    ):
        output = process.next(
            process.initialize(),
            federated.rating_tensors_fn(prepared.federated, schedule)(clients, 1),
        )
    trained = int(output.metrics["client_work"]["train"]["num_examples"])
    assert trained == 2 * sum(prepared.federated.client_size(k) for k in clients)
