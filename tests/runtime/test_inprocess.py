"""The in-process runtime gives the same rounds as TFF's C++ runtime."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.aggregators import factory
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.compression import aggregation
from tff_rec.compression import broadcast
from tff_rec.compression import codec as codec_lib
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import inprocess
from tff_rec.runtime import local_cpp

_NUM_USERS = 12
_NUM_ITEMS = 9
_ROUNDS = 5
_CLIENTS = 7


def _client_datasets(round_num: int, *, per_user: bool, num_clients=_CLIENTS):
    """Clients of different sizes; per-user clients index their user as 0."""
    rng = np.random.default_rng(round_num)
    datasets = []
    for k in range(num_clients):
        n = int(rng.integers(3, 11))
        user = 0 if per_user else (k + round_num) % _NUM_USERS
        batch = collections.OrderedDict(
            x=collections.OrderedDict(
                user=np.full(n, user, np.int32),
                item=rng.integers(0, _NUM_ITEMS, n).astype(np.int32),
            ),
            y=rng.integers(1, 6, (n, 1)).astype(np.float32),
        )
        dataset = tf.data.Dataset.from_tensor_slices(batch)
        datasets.append(dataset.shuffle(16, seed=round_num).batch(3))
    return datasets


def _model_fn(num_users):
    return lambda: mf.build_matrix_factorization(
        num_users, _NUM_ITEMS, embedding_dim=4, global_bias=3.0, seed=1
    )


def _run(process, context, *, per_user, rounds=_ROUNDS, num_clients=_CLIENTS):
    with tff.framework.get_context_stack().install(context):
        state = process.initialize()
        metrics = None
        for round_num in range(rounds):
            output = process.next(
                state,
                _client_datasets(round_num, per_user=per_user, num_clients=num_clients),
            )
            state, metrics = output.state, output.metrics
        weights = process.get_model_weights(state)
    return state, metrics, [np.asarray(w) for w in weights.trainable]


@pytest.fixture(scope="module")
def cpp_context():
    return local_cpp.create_local_cpp_execution_context(
        simulate_secure_aggregation=True
    )


def _quantized_aggregator():
    # Nearest rounding: stochastic rounding draws unseeded random numbers,
    # which no two runs (on any runtime) share.
    return aggregation.compress_updates(
        tff.aggregators.MeanFactory(),
        codec_lib.UpdateCodec(bits=8, stochastic=False),
    )


_PROCESSES = {
    "fedavg_weighted": (
        lambda: fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS)),
        False,
    ),
    "fedavg_unweighted": (
        lambda: fed_avg.build_unweighted_fed_avg(_model_fn(_NUM_USERS)),
        False,
    ),
    "reconstruction": (lambda: fed_recon.build_fed_recon(_model_fn(1)), True),
    "dp_gaussian_adaptive_no_noise": (
        lambda: fed_recon.build_fed_recon(
            _model_fn(1),
            weighted=False,
            # No noise at all: the clipped count is noised too by default.
            model_aggregator=tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
                0.0,
                _CLIENTS,
                initial_l2_norm_clip=0.05,
                target_unclipped_quantile=0.5,
                clipped_count_stddev=0.0,
            ),
        ),
        True,
    ),
    # DP aggregators need noise; this much is far below the comparison's
    # tolerance, so both runtimes must agree as if it were absent.
    "dp_gaussian_fixed_negligible_noise": (
        lambda: fed_avg.build_unweighted_fed_avg(
            _model_fn(_NUM_USERS),
            model_aggregator=factory.configure_aggregator(
                aggregator="dp_gaussian_fixed",
                weighted=False,
                noise_multiplier=1e-9,
                clients_per_round=_CLIENTS,
                clip=0.5,
            ),
        ),
        False,
    ),
    "quantized_aggregation": (
        lambda: fed_avg.build_weighted_fed_avg(
            _model_fn(_NUM_USERS), model_aggregator=_quantized_aggregator()
        ),
        False,
    ),
    "quantized_broadcast": (
        lambda: fed_avg.build_weighted_fed_avg(
            _model_fn(_NUM_USERS),
            model_distributor=broadcast.BroadcastFactory(bits=8),
        ),
        False,
    ),
    "secure_mean": (
        lambda: fed_avg.build_weighted_fed_avg(
            _model_fn(_NUM_USERS),
            model_aggregator=factory.configure_aggregator(secure=True),
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(_PROCESSES))
def test_rounds_match_tff_cpp(name, cpp_context):
    build, per_user = _PROCESSES[name]
    process = build()
    _, cpp_metrics, cpp_weights = _run(process, cpp_context, per_user=per_user)
    context = inprocess.create_inprocess_execution_context(max_slots=2)
    _, metrics, weights = _run(process, context, per_user=per_user)
    assert len(weights) == len(cpp_weights)
    for ours, reference in zip(weights, cpp_weights, strict=True):
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
    # The round metrics match too (same structure, same values).
    tf.nest.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
        metrics,
        cpp_metrics,
    )


def test_dp_noise_is_added():
    """With noise, two in-process runs differ from each other and from none."""

    def build(noise_multiplier):
        return fed_avg.build_unweighted_fed_avg(
            _model_fn(_NUM_USERS),
            model_aggregator=factory.configure_aggregator(
                aggregator="dp_gaussian_fixed",
                weighted=False,
                noise_multiplier=noise_multiplier,
                clients_per_round=_CLIENTS,
                clip=0.5,
            ),
        )

    def weights(process, context):
        _, _, trained = _run(process, context, per_user=False, rounds=2)
        return np.concatenate([w.ravel() for w in trained])

    context = inprocess.create_inprocess_execution_context()
    noiseless = weights(build(1e-9), context)
    noisy_process = build(1.0)
    noisy = weights(noisy_process, context)
    # The same graphs, run again: fresh noise.
    noisy_again = weights(noisy_process, context)
    assert np.max(np.abs(noisy - noiseless)) > 1e-3
    assert np.max(np.abs(noisy - noisy_again)) > 1e-3


def test_the_model_actually_moves():
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    context = inprocess.create_inprocess_execution_context()
    with tff.framework.get_context_stack().install(context):
        initial = process.get_model_weights(process.initialize()).trainable
    _, _, trained = _run(process, context, per_user=False)
    moved = max(
        float(np.max(np.abs(a - np.asarray(b))))
        for a, b in zip(trained, initial, strict=True)
    )
    assert moved > 1e-3


@pytest.mark.parametrize("num_clients", [0, 1, 3, 11])
def test_any_number_of_clients(num_clients, cpp_context):
    """Chunks of 4, 2 and 1 slots cover every count; zero clients too."""
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    _, _, reference = _run(
        process, cpp_context, per_user=False, rounds=2, num_clients=num_clients
    )
    context = inprocess.create_inprocess_execution_context(max_slots=4)
    _, _, weights = _run(
        process, context, per_user=False, rounds=2, num_clients=num_clients
    )
    for ours, theirs in zip(weights, reference, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_other_computations_use_the_fallback():
    calls = []

    class Recording(tff.framework.SyncContext):
        def invoke(self, comp, arg):
            calls.append(comp)
            return local_cpp.create_local_cpp_execution_context().invoke(comp, arg)

    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def client_sum(values):
        return tff.federated_sum(values)

    context = inprocess.create_inprocess_execution_context(fallback_fn=Recording)
    with tff.framework.get_context_stack().install(context):
        assert client_sum([1.0, 2.0, 4.0]) == pytest.approx(7.0)
    assert calls == [client_sum]


def test_wrong_client_value_is_a_type_error():
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    context = inprocess.create_inprocess_execution_context()
    with tff.framework.get_context_stack().install(context):
        state = process.initialize()
        with pytest.raises(TypeError, match="tf.data.Dataset"):
            process.next(state, [np.zeros(3)])


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="needs a GPU")
def test_rounds_run_on_the_gpu(cpp_context):
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    context = inprocess.create_inprocess_execution_context(log_device_placement=True)
    _, _, weights = _run(process, context, per_user=False, rounds=2)
    assert any("GPU" in device for device in context.devices_used())
    _, _, reference = _run(process, cpp_context, per_user=False, rounds=2)
    for ours, theirs in zip(weights, reference, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_devices_used_are_recorded():
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    context = inprocess.create_inprocess_execution_context(log_device_placement=True)
    _run(process, context, per_user=False, rounds=1)
    assert any("CPU" in device for device in context.devices_used())
