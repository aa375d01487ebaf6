"""The privacy section: its rules with the federated section, and its spec."""

import pytest

from tff_rec import errors
from tff_rec.privacy import accounting
from tff_rec.privacy import config


def _check(privacy, clients_per_round=50, poisson=False, weighted=False):
    privacy.check_with(
        weighted=weighted, clients_per_round=clients_per_round, poisson=poisson
    )


def test_mean_takes_no_dp_options():
    with pytest.raises(errors.UserInputError, match="only for DP aggregators"):
        config.PrivacyConfig(target_epsilon=3.0)
    _check(config.PrivacyConfig())


def test_noise_is_required_and_positive():
    with pytest.raises(errors.UserInputError, match="needs noise_multiplier"):
        _check(config.PrivacyConfig(aggregator="dp_laplace"))
    with pytest.raises(errors.UserInputError, match="noise_multiplier must be > 0"):
        _check(config.PrivacyConfig(aggregator="dp_laplace", noise_multiplier=0.0))
    # A target epsilon calibrates it.
    _check(config.PrivacyConfig(aggregator="dp_laplace", target_epsilon=2.0))


def test_dp_is_unweighted():
    privacy = config.PrivacyConfig(aggregator="dp_gaussian_fixed", noise_multiplier=1.0)
    _check(privacy)
    with pytest.raises(errors.UserInputError, match="unweighted"):
        _check(privacy, weighted=True)


def test_accountant_follows_mechanism_and_sampling():
    privacy = config.PrivacyConfig(
        aggregator="dp_gaussian_fixed", noise_multiplier=1.0, accountant="pld"
    )
    _check(privacy, poisson=True)
    with pytest.raises(errors.UserInputError, match="cannot account"):
        _check(privacy, poisson=False)


def test_spec():
    assert (
        config.PrivacyConfig().spec(
            rounds=5, clients_per_round=10, num_clients=100, poisson=True
        )
        is None
    )
    spec = config.PrivacyConfig(aggregator="dp_laplace", noise_multiplier=2.0).spec(
        rounds=5, clients_per_round=10, num_clients=100, poisson=False
    )
    assert spec.mechanism is accounting.Mechanism.LAPLACE
    assert spec.sampling is accounting.Sampling.FIXED_SIZE
    assert spec.noise_multiplier == 2.0
    calibrated = config.PrivacyConfig(
        aggregator="dp_gaussian_fixed", target_epsilon=5.0
    ).spec(rounds=20, clients_per_round=10, num_clients=100, poisson=True)
    assert accounting.epsilon(calibrated, 20) == pytest.approx(5.0, rel=1e-3)
