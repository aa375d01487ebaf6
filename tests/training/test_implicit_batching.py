"""Implicit-feedback clients batching their own examples inside the round run
the same rounds as clients fed `tf.data` datasets."""

import pathlib
import tempfile

import numpy as np
import pytest
import tensorflow_federated as tff

from tests import synthetic
from tff_rec.runtime import inprocess
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import federated
from tff_rec.training import ranking

_ROUNDS = 2


@pytest.fixture(scope="module")
def data_dir():
    return synthetic.write_ml100k(pathlib.Path(tempfile.mkdtemp()) / "ml", num_users=20)


def _weights(process, config, data, client_data_fn):
    context = inprocess.create_inprocess_execution_context()
    with tff.framework.get_context_stack().install(context):
        state, history = federated.run_rounds(
            process,
            data.federated,
            experiment.round_schedule(config),
            client_datasets_fn=client_data_fn,
            show_progress=False,
        )
        weights = process.get_model_weights(state)
    assert len(history) == _ROUNDS
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
    config = config_lib.TrainConfig(
        data_dir=str(data_dir),
        task="implicit",
        split="leave_last_out",
        algorithm=algorithm,
        model=model,
        client_epochs=client_epochs,
        rounds=_ROUNDS,
        clients_per_round=5,
        batch_size=4,
        embedding_dim=4,
        eval_negatives=10,
        baselines=False,
    )
    data = experiment.prepare_data(config)
    process = experiment.build_process(config, data)
    expected = _weights(
        process,
        config,
        data,
        ranking.client_datasets_fn(config, data.federated, data.ranking),
    )
    actual = _weights(
        ranking.batching_process(config, process, data.federated, data.ranking),
        config,
        data,
        ranking.client_tensors_fn(config, data.federated, data.ranking),
    )
    initial = process.get_model_weights(process.initialize()).trainable
    # The rounds moved the model: the comparison is not of two initial models.
    assert any(not np.allclose(a, b) for a, b in zip(expected, initial, strict=True))
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
