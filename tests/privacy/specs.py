"""The privacy spec the accounting and calibration tests vary: 50 of 943."""

from tff_rec.privacy import accounting

NUM_CLIENTS, CLIENTS_PER_ROUND = 943, 50
DELTA = 1e-4


def make_spec(mechanism="gaussian", z=1.0, sampling="poisson", **kwargs):
    """A `PrivacySpec` of 50 of 943 clients per round at delta 1e-4."""
    kwargs.setdefault("delta", DELTA)
    return accounting.PrivacySpec(
        mechanism=mechanism,
        noise_multiplier=z,
        clients_per_round=kwargs.pop("clients_per_round", CLIENTS_PER_ROUND),
        num_clients=kwargs.pop("num_clients", NUM_CLIENTS),
        sampling=sampling,
        **kwargs,
    )
