"""The federated stage of a run with customer-level DP inside the stores.

`train_customer_dp` runs `tff_rec.algorithms.customer_dp_fedavg` for the
rounds of the run, with the noise calibrated to the privacy section's
``customer_epsilon``; after every round the accountant's customer-level
epsilon goes to ``metrics.csv``, and the results report the final (epsilon,
delta) next to the test metrics.
"""

from __future__ import annotations

import time
from typing import Any

from tff_rec import console
from tff_rec.algorithms import customer_dp_fedavg
from tff_rec.privacy import accounting
from tff_rec.privacy import customer_dp
from tff_rec.tasks import base
from tff_rec.tasks import rating
from tff_rec.training import progress as progress_lib


def privacy_spec(privacy, *, rounds: int, num_customers: int):
    """The stores' DP-SGD mechanism, its noise calibrated to the target."""
    delta = privacy.delta or accounting.default_delta(num_customers)
    z = customer_dp.calibrate_noise_multiplier(
        privacy.customer_epsilon,
        rounds=rounds,
        sampling_rate=privacy.customer_sampling_rate,
        steps_per_round=privacy.customer_steps,
        delta=delta,
    )
    return customer_dp.CustomerDpSpec(
        privacy.customer_sampling_rate, z, privacy.customer_steps, delta
    )


def train_customer_dp(config, task, data, writer) -> tuple[dict[str, Any], Any]:
    """Trains the stores with customer-level DP; returns results and model."""
    privacy, federated = config.privacy, config.federated
    train = data.split.train
    spec = privacy_spec(privacy, rounds=federated.rounds, num_customers=train.num_users)
    console.announce(
        f"Privacy: customer-level epsilon {spec.epsilon(federated.rounds):.3f} "
        f"(delta {spec.delta:.3g}) after {federated.rounds} rounds of "
        f"{spec.steps_per_round} DP-SGD steps per store (customers sampled "
        f"with q={spec.sampling_rate:g}, clip {privacy.customer_clip:g}, noise "
        f"multiplier {spec.noise_multiplier:.3f}), noise added inside the stores"
    )
    state = customer_dp_fedavg.CustomerDpFedAvg.create(
        train,
        data.partition,
        embedding_dim=config.model.embedding_dim,
        options=customer_dp_fedavg.StoreTraining(
            local_steps=spec.steps_per_round,
            sampling_rate=spec.sampling_rate,
            clip=privacy.customer_clip,
            noise_multiplier=spec.noise_multiplier,
            l2=config.model.l2,
            bias_l2=config.model.bias_l2,
        ),
        global_bias=rating.initial_global_bias(
            train.ratings, private=True, scale=data.rating_scale
        ),
        seed=config.seed,
    )
    progress = progress_lib.Progress(federated.rounds)
    every = config.evaluation.eval_every
    row: dict[str, Any] = {}
    for round_num in range(1, federated.rounds + 1):
        start = time.perf_counter()
        state.next()
        row = {
            "clients": len(state.stores),
            "round_seconds": time.perf_counter() - start,
            "epsilon": spec.epsilon(round_num),
            "delta": spec.delta,
            "clip": privacy.customer_clip,
        }
        if round_num % every == 0 or round_num == federated.rounds:
            row.update(rating.test_metrics(task.evaluate_weights(state.weights())))
        writer.write_round(round_num, row)
        shown = f"epsilon={row['epsilon']:.3f}"
        if "test_rmse" in row:
            shown += f" test_rmse={row['test_rmse']:.4f}"
        progress.update(round_num, shown, final=round_num == federated.rounds)
    weights = state.weights()
    metrics = {k: row[k] for k in rating.METRIC_NAMES}
    results = {
        "rounds": federated.rounds,
        "privacy_unit": "customer",
        "epsilon": row["epsilon"],
        "delta": spec.delta,
        "noise_multiplier": spec.noise_multiplier,
        "clip": privacy.customer_clip,
        "customer_sampling_rate": spec.sampling_rate,
        "customer_steps": spec.steps_per_round,
    }
    return results, base.Trained(metrics, weights.arrays())
