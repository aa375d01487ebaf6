"""The audit's training runs: plain, DP, with canary clients, or broken.

A DP run of the audit samples clients with Poisson sampling (what its
accountant assumes, and how the canaries take part) and uses the clip and
server optimizer `DP_SETTINGS`. The noise of a run can be made smaller than
the accountant is told (``noise_factor``): only to check that the audit
catches a broken mechanism, never in an audit of a real configuration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tff_rec.privacy import accounting
from tff_rec.privacy.audit import canaries as canaries_lib
from tff_rec.training import attacks
from tff_rec.training import config as config_lib
from tff_rec.training import hooks as hooks_lib
from tff_rec.training import process as process_lib
from tff_rec.training import rounds as rounds_lib
from tff_rec.training import sampling

# The DP runs' clip and server optimizer: those `benchmarks/privacy_utility.py`
# found best for reconstruction on ML-100K (the default clip of 1 and server
# SGD lose most of the model to the noise).
DP_SETTINGS = {"clip": 0.1, "server_optimizer": "adam", "server_learning_rate": 0.03}


@dataclasses.dataclass
class TrainedRun:
    """A training run of the audit.

    Attributes:
      config: its settings.
      process: its learning process.
      initial, final: the model weights before and after training.
      initial_tables, released: the initial and released models' tables.
      test_rmse: the released model's test RMSE.
      spec: the DP mechanism the accountant was given (None without DP).
      canaries: its canary clients (DP runs).
    """

    config: config_lib.TrainConfig
    process: Any
    initial: Any
    final: Any
    initial_tables: Any
    released: Any
    test_rmse: float
    spec: accounting.PrivacySpec | None = None
    canaries: canaries_lib.CanaryClients | None = None


def dp_config(
    base: config_lib.TrainConfig, epsilon: float, delta: float | None
) -> config_lib.TrainConfig:
    """`base` with Gaussian DP calibrated to `epsilon` over its rounds."""
    return base.replace(
        aggregator="dp_gaussian_fixed",
        target_epsilon=epsilon,
        delta=delta,
        client_sampling="poisson",
        **DP_SETTINGS,
    )


def train(
    audit,
    config: config_lib.TrainConfig,
    *,
    name: str,
    with_canaries: bool = False,
    noise_factor: float = 1.0,
) -> TrainedRun:
    """Trains `config` (with canary clients if asked).

    Args:
      audit: the `runner.Audit` (its data, task, options and progress).
      config: the run.
      name: for the progress lines.
      with_canaries: insert `options.canaries` canary clients.
      noise_factor: the process adds this times the noise the accountant
        is told of (1 in every audit; less only to check that the audit
        catches a broken mechanism).
    """
    data, task, federated = audit.data, audit.task, config.federated
    num_clients = data.partition.num_clients
    spec = config.privacy_spec(num_clients)
    run_spec = spec
    if spec is not None and noise_factor != 1.0:
        run_spec = spec.replace(noise_multiplier=spec.noise_multiplier * noise_factor)
    step, _ = process_lib.server_learning_rate(config, data)

    def build():
        return process_lib.build_run_process(
            config, task, data, spec=run_spec, server_learning_rate=step
        )

    if with_canaries:
        clip = config.privacy.clip
        replacement = canaries_lib.replacement(1.0 if clip is None else clip)
        process = attacks.build_replacing_process(
            build, lambda work: attacks.replace_updates(work, replacement)
        )
    else:
        process = build()
    process, client_data_fn = task.client_inputs(process, attacked=with_canaries)
    hooks: list[hooks_lib.RoundHook] = []
    canaries = None
    if with_canaries:
        # A canary client holds the smallest client's data (trained on, then
        # replaced).
        smallest = int(np.argmin(np.diff(data.federated.offsets)))
        canaries = canaries_lib.CanaryClients(
            audit.options.canaries,
            audit.options.held_out_canaries,
            probability=federated.clients_per_round / num_clients,
            carrier=client_data_fn(np.array([smallest]), 1)[0],
            seed=audit.options.seed,
        )
        hooks.append(canaries)
    initial_state = process.initialize()
    initial = process.get_model_weights(initial_state)
    initial_tables = task.global_weights(process, initial_state)
    sampler = sampling.ClientSampler(
        num_clients,
        federated.clients_per_round,
        client_data_fn,
        sampling=federated.client_sampling,
        seed=config.seed,
    )
    audit.progress(f"Audit: training {audit.algorithm.value} {name}")
    outcome = rounds_lib.run_rounds(
        process,
        sampler,
        rounds=federated.rounds,
        hooks=[*hooks, hooks_lib.ProgressRelease()],
    )
    final = process.get_model_weights(outcome.state)
    released = task.global_weights(process, outcome.state)
    rmse = float(task.evaluate_weights(released).rmse)
    return TrainedRun(
        config,
        process,
        initial,
        final,
        initial_tables,
        released,
        rmse,
        spec,
        canaries,
    )
