"""The implicit-feedback task: clients batching their own examples inside the
round, users' layers reconstructed for a server (or centralized) model, and
its results table."""

import pathlib

import numpy as np
import pytest
import tensorflow_federated as tff

from tests import synthetic
from tff_rec.data import preparation
from tff_rec.runtime import inprocess
from tff_rec.tasks import implicit
from tff_rec.training import config as config_lib
from tff_rec.training import process as process_lib
from tff_rec.training import rounds
from tff_rec.training import sampling

_ROUNDS = 2


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return synthetic.write_ml100k(tmp_path_factory.mktemp("ml") / "ml", num_users=20)


def _task(data_dir: pathlib.Path, **settings):
    config = config_lib.TrainConfig.make(
        data_dir=str(data_dir),
        task="implicit",
        split="leave_last_out",
        embedding_dim=4,
        eval_negatives=10,
        **settings,
    )
    return config, implicit.ImplicitTask(
        config, preparation.prepare(config.data, seed=config.seed)
    )


def _weights(process, client_data_fn, task):
    sampler = sampling.ClientSampler(
        task.data.federated.num_clients, 5, client_data_fn, seed=task.config.seed
    )
    context = inprocess.create_inprocess_execution_context()
    with tff.framework.get_context_stack().install(context):
        outcome = rounds.run_rounds(process, sampler, rounds=_ROUNDS)
        weights = process.get_model_weights(outcome.state)
    assert len(outcome.history) == _ROUNDS
    return [np.asarray(w) for w in weights.trainable]


@pytest.mark.parametrize(
    "algorithm, model, client_epochs",
    [
        ("fedavg", "gmf", 1),
        ("fedavg", "neumf", 2),
        ("fedrecon", "gmf", 1),
        ("fedrecon", "features", 2),
    ],
)
def test_same_rounds_as_datasets(data_dir, algorithm, model, client_epochs):
    config, task = _task(
        data_dir,
        algorithm=algorithm,
        model=model,
        client_epochs=client_epochs,
        clients_per_round=5,
        batch_size=4,
    )
    process = process_lib.build_run_process(
        config, task, task.data, spec=None, server_learning_rate=1.0
    )
    # `attacked=True` feeds the clients `tf.data` datasets.
    expected = _weights(*task.client_inputs(process, attacked=True), task)
    actual = _weights(*task.client_inputs(process, attacked=False), task)
    initial = process.get_model_weights(process.initialize()).trainable
    # The rounds moved the model: the comparison is not of two initial models.
    assert any(not np.allclose(a, b) for a, b in zip(expected, initial, strict=True))
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_reconstruction_fits_user_layers_and_keeps_global_layers(data_dir):
    _, task = _task(
        data_dir,
        model="gmf",
        algorithm="centralized",
        centralized_epochs=3,
        centralized_learning_rate=0.05,
        user_init_stddev=0.0,
        reconstruction_learning_rate=1.0,
        reconstruction_epochs=20,
    )
    train = task.data.split.train

    def loss(model):
        x, y = task._examples(train.users, train.items, np.random.default_rng(1))
        y_pred = model.keras_model({k: np.asarray(v, np.int32) for k, v in x.items()})
        return float(task.loss_fn()(y[:, None], y_pred))

    central, _ = task.centralized_model()
    model = task.reconstructed_model(central)

    for target, source in zip(model.global_layers, central.global_layers, strict=True):
        for got, value in zip(target.get_weights(), source.get_weights(), strict=True):
            np.testing.assert_array_equal(got, value)
    (user_table,) = model.local_layers[0].get_weights()
    trained_users = np.unique(train.users)
    assert np.all(np.abs(user_table[trained_users]).sum(axis=1) > 0)
    reconstructed = loss(model)
    # The same global layers with the users at their initializer (zeros).
    model.local_layers[0].set_weights([np.zeros_like(user_table)])
    assert reconstructed < loss(model)


def test_round_fields_and_metric_names(data_dir):
    _, task = _task(data_dir, model="gmf", top_k=5)
    assert task.metric_names == (
        "hr@5",
        "ndcg@5",
        "recall@5",
        "sampled_hr@5",
        "sampled_ndcg@5",
    )
    assert task.round_fields[:3] == ("train_loss", "train_auc", "train_accuracy")
    assert set(task.metric_names) <= set(task.round_fields)
    assert "test_rmse" not in task.round_fields


def test_results_table():
    table = implicit.ImplicitTask.format_results(
        {
            "algorithm": "fedavg",
            "hr@10": 0.1,
            "sampled_hr@10": 0.5,
            "global_hr@10": 0.1,
            "global_sampled_hr@10": 0.5,
            "personalized_hr@10": 0.2,
            "personalized_sampled_hr@10": 0.6,
        }
    )
    lines = table.splitlines()
    assert lines[0].split() == ["model", "hr@10", "sampled_hr@10"]
    assert lines[3].split()[-2:] == ["0.2000", "0.6000"]
    assert len(lines) == 4
