"""The rating task: clients that batch their own arrays inside the round run
the same rounds as clients fed `tf.data` datasets (on either runtime), its
server-model evaluation and its results table."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tests import synthetic
from tff_rec import errors
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib
from tff_rec.data import preparation
from tff_rec.data import rating_scale
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import inprocess
from tff_rec.runtime import local_cpp
from tff_rec.tasks import rating
from tff_rec.training import config as config_lib
from tff_rec.training import process as process_lib
from tff_rec.training import rounds
from tff_rec.training import sampling

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


def _options(algorithm: str, epochs: int = 1) -> dict:
    return dict(
        batch_size=3,
        epochs=epochs,
        user_key="local_user" if algorithm == "fedrecon" else "user",
        seed=4,
    )


def _datasets_fn(data, options):
    return rating.datasets_fn(data, **options)


def _tensors_fn(data, options):
    return rating.tensors_fn(data, user_key=options["user_key"], seed=options["seed"])


def _batching(process, options):
    return rating.batching_process(
        process, batch_size=options["batch_size"], epochs=options["epochs"]
    )


def _weights(process, data, options, client_data_fn, context) -> list:
    sampler = sampling.ClientSampler(
        data.num_clients, 5, client_data_fn, seed=options["seed"]
    )
    with tff.framework.get_context_stack().install(context):
        outcome = rounds.run_rounds(process, sampler, rounds=_ROUNDS)
        weights = process.get_model_weights(outcome.state)
    assert len(outcome.history) == _ROUNDS
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
        options = _options(algorithm)
        context = inprocess.create_inprocess_execution_context()
        expected = _weights(
            process, data, options, _datasets_fn(data, options), context
        )
        actual = _weights(
            _batching(process, options),
            data,
            options,
            _tensors_fn(data, options),
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
    options = _options(algorithm, epochs)
    batching = _batching(process, options)
    tensors = _tensors_fn(data, options)
    reference = _weights(batching, data, options, tensors, cpp_context)
    ours = _weights(
        batching,
        data,
        options,
        tensors,
        inprocess.create_inprocess_execution_context(max_slots=2),
    )
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_keeps_the_process_attributes(data):
    process = _build("fedavg", data)
    batching = _batching(process, _options("fedavg"))
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
        _batching(process, _options("fedavg"))


def _prepared(tmp_path, **settings):
    config = config_lib.TrainConfig.make(
        data_dir=str(synthetic.write_ml100k(tmp_path / "ml-100k")), **settings
    )
    prepared = preparation.prepare(config.data, seed=config.seed)
    return config, prepared, rating.RatingTask(config, prepared)


def test_client_epochs_are_the_passes_trained(tmp_path):
    # The task's client inputs and the process together train client_epochs
    # passes over each sampled client's rows. (With reconstruction the process
    # makes those passes itself over a one-pass dataset: `dataset_epochs`.)
    config, prepared, task = _prepared(
        tmp_path,
        algorithm="fedavg",
        client_epochs=2,
        clients_per_round=4,
        batch_size=3,
        rounds=1,
    )
    process, client_data_fn = task.client_inputs(
        process_lib.build_run_process(
            config, task, prepared, spec=None, server_learning_rate=1.0
        ),
        attacked=False,
    )
    clients = np.arange(4)
    with tff.framework.get_context_stack().install(
        inprocess.create_inprocess_execution_context()
    ):
        output = process.next(process.initialize(), client_data_fn(clients, 1))
    trained = int(output.metrics["client_work"]["train"]["num_examples"])
    assert trained == 2 * sum(prepared.federated.client_size(k) for k in clients)


@pytest.mark.parametrize("algorithm", ["fedavg", "fedrecon"])
def test_server_model_is_evaluated_on_the_test_split(tmp_path, algorithm):
    config, prepared, task = _prepared(tmp_path, algorithm=algorithm)
    process = process_lib.build_run_process(
        config, task, prepared, spec=None, server_learning_rate=1.0
    )
    state = process.initialize()
    weights = task.global_weights(process, state)
    # Reconstruction's server holds the item side only.
    assert (weights.user_embedding is None) == (algorithm == "fedrecon")
    assert weights.item_embedding.shape == (prepared.interactions.num_items, 32)
    assert weights.global_bias == pytest.approx(np.mean(prepared.split.train.ratings))
    metrics = task.evaluate(process, state)
    assert set(metrics) == set(rating.METRIC_NAMES)
    trained = task.finish(process, state, {})
    assert trained.results == metrics
    assert set(trained.weights) == set(weights.arrays())


def test_private_runs_start_from_the_middle_of_the_declared_scale():
    ratings = np.array([1.0, 2.0, 2.0, 5.0])
    scale = rating_scale.RatingScale(1.0, 10.0)
    assert rating.initial_global_bias(ratings, private=False, scale=scale) == 2.5
    # Public: the scale's middle, whatever the private ratings are.
    assert rating.initial_global_bias(ratings, private=True, scale=scale) == 5.5
    outlier = np.array([1.0, 2.0, 99.0])
    assert rating.initial_global_bias(outlier, private=True, scale=scale) == 5.5
    with pytest.raises(errors.UserInputError, match="--rating_scale"):
        rating.initial_global_bias(ratings, private=True, scale=None)


def test_results_table():
    table = rating.RatingTask.format_results(
        {
            "algorithm": "fedrecon",
            "test_rmse": 0.93,
            "test_mae": 0.73,
            "rounds": 60,
            "wall_seconds": 40.0,
            "centralized_test_rmse": 0.91,
            "centralized_test_mae": 0.72,
            "local_only_test_rmse": None,
        }
    )
    lines = table.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["fedrecon", "0.9300", "0.7300", "60", "40.0"]
    assert lines[2].split()[:3] == ["centralized", "(baseline)", "0.9100"]
