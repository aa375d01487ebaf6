"""The federated stage of a private ALS run (``--algorithm=dp_als``).

Builds `tff_rec.algorithms.dp_als` with the run's aggregator (the plain sum,
or ``dp_gaussian_fixed`` with the accountant's noise multiplier), runs its
rounds over the sampled clients (one client per user), composes every round's
release with `tff_rec.privacy.accounting`, then evaluates: each test user
solves its own factor and bias on its training ratings against the final
item rows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tff_rec import console
from tff_rec import errors
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import dp_als
from tff_rec.data import partition as partition_lib
from tff_rec.data import preparation
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy import accounting
from tff_rec.privacy import statements
from tff_rec.tasks import base as tasks_base
from tff_rec.tasks import rating
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import progress as progress_lib
from tff_rec.training import sampling


def shape_of(config, data: preparation.PreparedData) -> dp_als.DpAlsShape:
    """The model of a run: its sizes, regularizers, clip and public mean."""
    train = data.split.train
    clip = config.privacy.clip
    if clip is None:
        clip = aggregator_factory.DEFAULT_CLIP if config.is_dp else float("inf")
    return dp_als.DpAlsShape(
        num_items=data.interactions.num_items,
        dim=config.federated.als_dim,
        mean=rating.initial_global_bias(
            train.ratings, private=config.is_dp, scale=data.rating_scale
        ),
        user_l2=config.federated.als_user_l2,
        item_l2=config.federated.als_item_l2,
        clip=clip,
        gram_weight=config.federated.als_gram_weight,
        factor_weight=config.federated.als_factor_weight,
    )


def _check(config, data) -> None:
    if data.partition.partition_type is not partition_lib.PartitionType.USER:
        raise errors.UserInputError(
            "--algorithm=dp_als needs one client per user (--partition=user), "
            f"got --partition={data.partition.partition_type.value}"
        )
    aggregator = aggregator_factory.AggregatorType(config.privacy.aggregator)
    if aggregator not in (
        aggregator_factory.AggregatorType.MEAN,
        aggregator_factory.AggregatorType.DP_GAUSSIAN_FIXED,
    ):
        raise errors.UserInputError(
            "--algorithm=dp_als releases its sums with --aggregator=mean (no DP) "
            f"or dp_gaussian_fixed, not {aggregator.value}"
        )


def evaluate(shape, model, split) -> dict[str, float]:
    """Test RMSE and MAE: every test user's factor solved on its training
    ratings (locally, as its client would)."""
    train, test = split.train, split.test
    user_rows = dp_als.fit_users(
        shape, model, train.users, train.items, train.ratings, train.num_users
    )
    low, high = float(np.min(train.ratings)), float(np.max(train.ratings))
    predictions = dp_als.predict(
        shape, model, user_rows, test.users, test.items, low, high
    )
    return rating.test_metrics(
        rating_metrics.from_predictions(test.ratings, predictions)
    )


def train_dp_als(
    config, data: preparation.PreparedData, writer: metrics_writer_lib.MetricsWriter
) -> tuple[dict[str, Any], tasks_base.Trained]:
    """Trains private ALS; returns the round statistics and the final model."""
    _check(config, data)
    federated = config.federated
    num_clients = data.partition.num_clients
    spec = config.privacy_spec(num_clients)
    shape = shape_of(config, data)
    if spec is None:
        aggregator, scale = None, 1.0
    else:
        console.announce(
            "Privacy: " + statements.epsilon_statement(spec, federated.rounds)
        )
        aggregator = aggregator_factory.configure_aggregator(
            aggregator=aggregator_factory.AggregatorType.DP_GAUSSIAN_FIXED,
            weighted=False,
            noise_multiplier=spec.noise_multiplier,
            clients_per_round=federated.clients_per_round,
            clip=shape.clip,
        )
        scale = float(federated.clients_per_round)
    process = dp_als.build_dp_als(
        shape, aggregator=aggregator, sum_scale=scale, seed=config.seed
    )
    train = data.split.train
    clients = [
        {
            "items": train.items[rows].astype(np.int32),
            "ratings": train.ratings[rows].astype(np.float32),
        }
        for rows in data.partition.client_indices
    ]
    rng = np.random.default_rng(config.seed)
    accountant = None if spec is None else accounting.PrivacyAccountant(spec)
    state = process.initialize()
    progress = progress_lib.Progress(federated.rounds)
    seconds = []
    for round_num in range(1, federated.rounds + 1):
        sampled = sampling.sample_clients(
            rng, num_clients, federated.clients_per_round, federated.client_sampling
        )
        start = time.perf_counter()
        state = process.next(state, [clients[i] for i in sampled]).state
        seconds.append(time.perf_counter() - start)
        row = {"clients": len(sampled), "round_seconds": seconds[-1]}
        shown = f"{len(sampled)} clients"
        if accountant is not None:
            accountant.step()
            row["epsilon"] = accountant.epsilon()
            shown += f" epsilon={row['epsilon']:.3f}"
        # The last round is always evaluated: its metrics are the run's.
        if round_num == federated.rounds or (
            config.evaluation.eval_every
            and round_num % config.evaluation.eval_every == 0
        ):
            row.update(evaluate(shape, dp_als.item_rows(process, state), data.split))
            shown += f" test_rmse={row['test_rmse']:.4f}"
        writer.write_round(round_num, row)
        progress.update(round_num, shown, final=round_num == federated.rounds)
    model = dp_als.item_rows(process, state)
    results: dict[str, Any] = {
        "rounds": federated.rounds,
        "seconds_per_round": float(np.median(seconds)),
        "clip": shape.clip if np.isfinite(shape.clip) else None,
    }
    if accountant is not None:
        results.update(
            epsilon=accountant.epsilon(),
            delta=spec.delta,
            noise_multiplier=spec.noise_multiplier,
            privacy=accountant.report(),
        )
    return results, tasks_base.Trained(
        results={k: row[k] for k in rating.METRIC_NAMES},
        weights={
            "item_factors": model[:, : shape.dim],
            "item_bias": model[:, shape.dim],
            "mean": np.float32(shape.mean),
        },
    )
