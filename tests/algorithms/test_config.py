"""The federated section, and the server step each algorithm defaults to."""

import pytest

from tff_rec.algorithms import config

Algorithm = config.Algorithm


@pytest.mark.parametrize(
    "algorithm, expected",
    [
        (Algorithm.FEDRECON, 25.0),
        (Algorithm.FEDAVG_UNWEIGHTED, 25.0),
        (Algorithm.FEDAVG, 10.0),
    ],
)
def test_tuned_steps_at_the_tuned_coverage(algorithm, expected):
    step = config.default_server_learning_rate(
        algorithm, coverage=config.TUNED_COVERAGE
    )
    assert step == expected


def test_denser_data_gets_a_smaller_step():
    sparse = config.default_server_learning_rate(Algorithm.FEDRECON, coverage=0.05)
    dense = config.default_server_learning_rate(Algorithm.FEDRECON, coverage=0.5)
    assert dense == pytest.approx(sparse / 10, rel=0.05)
    assert config.default_server_learning_rate(Algorithm.FEDAVG, coverage=1.0) == 0.52


def test_private_runs_do_not_read_the_data():
    for coverage in (0.05, 0.9):
        step = config.default_server_learning_rate(
            Algorithm.FEDRECON, coverage=coverage, private=True
        )
        assert step == 25.0


def test_algorithm_properties():
    assert [a.value for a in Algorithm if a.is_federated] == [
        "fedavg",
        "fedavg_unweighted",
        "fedrecon",
        "dp_als",
    ]
    federated = config.FederatedConfig(algorithm="centralized", server_learning_rate=2)
    assert federated.server_learning_rate == 2.0
    assert federated.user_key == "user"


def test_cross_silo_runs_every_store_with_more_local_epochs():
    federated = config.FederatedConfig(algorithm="fedavg")
    assert config.cross_silo_settings(federated, num_clients=11, cross_silo=True) == {
        "clients_per_round": 11,
        "client_epochs": 3,
    }
    assert (
        config.cross_silo_settings(federated, num_clients=943, cross_silo=False) == {}
    )


def test_cross_silo_keeps_the_settings_given():
    federated = config.FederatedConfig(
        algorithm="fedavg", clients_per_round=5, client_epochs=1
    )
    assert config.cross_silo_settings(federated, num_clients=11, cross_silo=True) == {}
    assert federated.local_epochs == 1
    assert config.FederatedConfig().local_epochs == 1
