"""One experiment end to end: data -> split -> clients -> train -> evaluate.

`run_experiment(config)` is what `pipelines/train.py` calls; a library user
can call it the same way, or use the pieces it is made of.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

import numpy as np
import tensorflow_federated as tff
from absl import logging

from tff_rec import errors
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.algorithms import optimizers
from tff_rec.data import client_data as client_data_lib
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.evaluation import baselines
from tff_rec.evaluation import rating as rating_eval
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy import accounting
from tff_rec.training import config as config_lib
from tff_rec.training import federated
from tff_rec.training import metrics_writer as metrics_writer_lib

Algorithm = config_lib.Algorithm

ROUND_FIELDS = (
    "train_loss",
    "train_rmse",
    "train_mae",
    "test_rmse",
    "test_mae",
    "clients",
    "round_seconds",
    "epsilon",
    "delta",
    "clip",
)


@dataclasses.dataclass(frozen=True)
class PreparedData:
    interactions: interactions_lib.Interactions
    split: splits.Split
    partition: partition_lib.Partition
    federated: client_data_lib.FederatedData


def prepare_data(config: config_lib.TrainConfig) -> PreparedData:
    """Loads, splits and partitions the data as `config` says."""
    interactions = loaders.load_dataset(
        config.dataset, config.data_dir, cache_dir=config.cache_dir
    )
    logging.info("Loaded %s: %s", config.dataset, interactions.stats())
    split = splits.make_split(
        interactions,
        config.split,
        seed=config.seed,
        test_fraction=config.test_fraction,
    )
    partition = partition_lib.make_partition(
        split.train,
        config.partition,
        num_clients=config.num_clients,
        attribute=config.partition_attribute,
        alpha=config.dirichlet_alpha,
        seed=config.seed,
    )
    print(f"Partition: {partition.summary()}", flush=True)
    return PreparedData(
        interactions=interactions,
        split=split,
        partition=partition,
        federated=client_data_lib.build_federated_data(split.train, partition),
    )


def _model_fn(config, num_users, num_items, global_bias):
    def build():
        return mf.build_matrix_factorization(
            num_users,
            num_items,
            embedding_dim=config.embedding_dim,
            l2=config.l2,
            bias_l2=config.bias_l2,
            global_bias=global_bias,
        )

    return build


def privacy_spec(
    config: config_lib.TrainConfig, num_clients: int
) -> accounting.PrivacySpec | None:
    """The DP mechanism of a run as the accountant sees it (None without DP).

    With `config.target_epsilon` and no `config.noise_multiplier`, the noise
    multiplier is calibrated so that `config.rounds` rounds spend the target.
    """
    if not config.is_dp:
        return None
    mechanism = (
        accounting.Mechanism.LAPLACE
        if config.aggregator is aggregator_factory.AggregatorType.DP_LAPLACE
        else accounting.Mechanism.GAUSSIAN
    )
    sampling = (
        accounting.Sampling.POISSON
        if config.client_sampling == "poisson"
        else accounting.Sampling.FIXED_SIZE
    )
    noise_multiplier = config.noise_multiplier
    if noise_multiplier is None:
        noise_multiplier = accounting.calibrate_noise_multiplier(
            target_epsilon=config.target_epsilon,
            rounds=config.rounds,
            clients_per_round=config.clients_per_round,
            num_clients=num_clients,
            delta=config.delta,
            mechanism=mechanism,
            sampling=sampling,
            accountant=config.accountant,
        )
    return accounting.PrivacySpec(
        mechanism=mechanism,
        noise_multiplier=noise_multiplier,
        clients_per_round=config.clients_per_round,
        num_clients=num_clients,
        delta=config.delta,
        sampling=sampling,
        accountant=config.accountant,
    )


def build_aggregator(
    config: config_lib.TrainConfig, spec: accounting.PrivacySpec | None
) -> tff.aggregators.AggregationFactory:
    """The model-update aggregator `config` asks for."""
    return aggregator_factory.configure_aggregator(
        aggregator=config.aggregator,
        weighted=config.algorithm is not Algorithm.FEDAVG_UNWEIGHTED
        and not config.is_dp,
        noise_multiplier=None if spec is None else spec.noise_multiplier,
        clients_per_round=config.clients_per_round if config.is_dp else None,
        clip=config.clip,
        target_quantile=config.target_quantile,
        initial_clip=config.initial_clip,
        secure=config.secure_aggregation,
    )


def build_process(
    config: config_lib.TrainConfig,
    data: PreparedData,
    spec: accounting.PrivacySpec | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds the learning process for a federated `config.algorithm`."""
    aggregator = build_aggregator(config, spec)
    # The initial global bias is the mean training rating. In deployment this
    # is one federated mean over the clients (or a known prior such as the
    # middle of the rating scale); it only sets the starting point.
    global_bias = float(np.mean(data.split.train.ratings))
    client_optimizer = optimizers.build_optimizer(
        config.client_optimizer, config.client_learning_rate
    )
    server_optimizer = optimizers.build_optimizer(
        config.server_optimizer, config.server_learning_rate
    )
    num_items = data.interactions.num_items
    if config.algorithm is Algorithm.FEDRECON:
        return fed_recon.build_fed_recon(
            _model_fn(
                config, data.federated.max_users_per_client, num_items, global_bias
            ),
            client_optimizer=client_optimizer,
            server_optimizer=server_optimizer,
            reconstruction_optimizer=optimizers.build_optimizer(
                optimizers.OptimizerType.SGD, config.reconstruction_learning_rate
            ),
            reconstruction_epochs=config.reconstruction_epochs,
            post_reconstruction_epochs=config.client_epochs,
            split_dataset=False,
            weighted=not config.is_dp,
            model_aggregator=aggregator,
        )
    model_fn = _model_fn(config, data.interactions.num_users, num_items, global_bias)
    builder = {
        Algorithm.FEDAVG: fed_avg.build_weighted_fed_avg,
        Algorithm.FEDAVG_UNWEIGHTED: fed_avg.build_unweighted_fed_avg,
    }[config.algorithm]
    return builder(
        model_fn,
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        model_aggregator=aggregator,
    )


def global_weights(
    config: config_lib.TrainConfig,
    process: tff.learning.templates.LearningProcess,
    state,
    data: PreparedData,
) -> rating_eval.MatrixFactorizationWeights:
    """The model tables held by the server in `state`.

    For reconstruction only the global (item) tables exist on the server.
    """
    model_weights = process.get_model_weights(state)
    if config.algorithm is Algorithm.FEDRECON:
        model = _model_fn(config, data.federated.max_users_per_client, 1, 0.0)()
        layers = model.global_layers
        names = [w.name for layer in layers for w in layer.trainable_weights] + [
            w.name for layer in layers for w in layer.non_trainable_weights
        ]
        values = list(model_weights.trainable) + list(model_weights.non_trainable)
        by_name = dict(zip(names, values, strict=True))

        def find(layer_name):
            return next(
                np.asarray(v) for k, v in by_name.items() if k.startswith(layer_name)
            )

        return rating_eval.MatrixFactorizationWeights(
            item_embedding=find(mf.ITEM_EMBEDDING),
            item_bias=find(mf.ITEM_BIAS)[:, 0],
            global_bias=float(find(mf.GLOBAL_BIAS)),
        )
    model = _model_fn(
        config, data.interactions.num_users, data.interactions.num_items, 0.0
    )()
    model_weights.assign_weights_to(model.keras_model)
    return rating_eval.MatrixFactorizationWeights.from_keras(model.keras_model)


def evaluate_weights(
    config: config_lib.TrainConfig,
    weights: rating_eval.MatrixFactorizationWeights,
    data: PreparedData,
) -> rating_eval.RatingMetrics:
    """Test metrics of server-side weights (reconstructing users if needed)."""
    if config.algorithm is Algorithm.FEDRECON:
        history = data.split.train
        if data.split.test_history is not None:
            history = _concat(history, data.split.test_history)
        return rating_eval.evaluate_reconstruction(
            weights, history, data.split.test, l2=config.l2, bias_l2=config.bias_l2
        )
    return rating_eval.evaluate_global_model(weights, data.split.test)


def _concat(a, b):
    return dataclasses.replace(
        a,
        users=np.concatenate([a.users, b.users]),
        items=np.concatenate([a.items, b.items]),
        ratings=np.concatenate([a.ratings, b.ratings]),
        timestamps=None
        if a.timestamps is None or b.timestamps is None
        else np.concatenate([a.timestamps, b.timestamps]),
    )


def _baseline_kwargs(config):
    return dict(
        embedding_dim=config.embedding_dim,
        l2=config.centralized_l2,
        bias_l2=config.bias_l2,
        epochs=config.centralized_epochs,
        batch_size=config.centralized_batch_size,
        learning_rate=config.centralized_learning_rate,
        seed=config.seed,
    )


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_baselines(config, data) -> dict[str, float | None]:
    """Centralized and local-only test metrics on the same split."""
    results: dict[str, float | None] = {}
    _announce(f"Baseline: centralized training ({config.centralized_epochs} epochs)")
    central = baselines.train_centralized(
        data.split.train, data.split.test, **_baseline_kwargs(config)
    )
    results.update(
        centralized_test_rmse=central.metrics.rmse,
        centralized_test_mae=central.metrics.mae,
        centralized_examples_per_second=central.examples_per_second,
    )
    if data.split.test_history is None:
        _announce(
            f"Baseline: local-only training of {data.partition.num_clients} "
            f"participants ({config.centralized_epochs} epochs)"
        )
        local = baselines.train_local_only(
            data.split.train,
            data.split.test,
            data.partition,
            **_baseline_kwargs(config),
        )
        results.update(
            local_only_test_rmse=local.metrics.rmse,
            local_only_test_mae=local.metrics.mae,
        )
    else:
        # Held-out users are not participants: they have no local model.
        results.update(local_only_test_rmse=None, local_only_test_mae=None)
    return results


def save_weights(
    output_dir: pathlib.Path, weights: rating_eval.MatrixFactorizationWeights
) -> pathlib.Path:
    """Writes the final model tables to ``final_weights.npz`` atomically.

    User tables are only present for models whose server holds them (not for
    reconstruction, where they never leave the clients).
    """
    arrays = {
        k: np.asarray(v)
        for k, v in dataclasses.asdict(weights).items()
        if v is not None
    }
    path = output_dir / "final_weights.npz"
    tmp = output_dir / "final_weights.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def run_experiment(config: config_lib.TrainConfig) -> dict[str, object]:
    """Runs `config` and writes its outputs; returns the results dict.

    Writes ``<root_output_dir>/<experiment_name>/`` with ``hparams.json``,
    ``vocabularies.json`` (raw user and item ids, by remapped id),
    ``metrics.csv`` (federated algorithms: one row per round), TensorBoard
    events, ``final_weights.npz`` (the server's model tables) and
    ``results.json``.

    Raises:
      tff_rec.errors.UserInputError: for data or settings that cannot work,
        before any training starts.
    """
    start = time.perf_counter()
    output_dir = pathlib.Path(config.root_output_dir) / config.experiment_name
    data = prepare_data(config)
    if (
        config.algorithm.is_federated
        and config.clients_per_round > data.partition.num_clients
    ):
        raise errors.UserInputError(
            f"clients_per_round={config.clients_per_round} exceeds the "
            f"{data.partition.num_clients} clients in the data"
        )
    results: dict[str, object] = {
        "algorithm": config.algorithm.value,
        "dataset": config.dataset,
        "num_clients": data.partition.num_clients,
        "partition": data.partition.stats(),
    }
    with metrics_writer_lib.MetricsWriter(output_dir, ROUND_FIELDS) as writer:
        writer.write_hparams(config.as_dict())
        metrics_writer_lib.write_json(
            output_dir / "vocabularies.json",
            {
                "user_ids": list(data.interactions.user_vocab),
                "item_ids": list(data.interactions.item_vocab),
            },
        )
        if config.algorithm.is_federated:
            spec = privacy_spec(config, data.partition.num_clients)
            accountant = None if spec is None else accounting.PrivacyAccountant(spec)
            if spec is not None:
                print(
                    "Privacy: " + accounting.epsilon_statement(spec, config.rounds),
                    file=sys.stderr,
                    flush=True,
                )
            process = build_process(config, data, spec)

            def evaluate(state):
                weights = global_weights(config, process, state, data)
                metrics = evaluate_weights(config, weights, data)
                return {"test_rmse": metrics.rmse, "test_mae": metrics.mae}

            schedule = federated.RoundSchedule(
                rounds=config.rounds,
                clients_per_round=config.clients_per_round,
                batch_size=config.batch_size,
                client_epochs=config.client_epochs,
                user_key="local_user"
                if config.algorithm is Algorithm.FEDRECON
                else "user",
                seed=config.seed,
                sampling=config.client_sampling,
            )
            state, history = federated.run_rounds(
                process,
                data.federated,
                schedule,
                evaluate_fn=evaluate,
                eval_every=config.eval_every,
                writer=writer,
                accountant=accountant,
                target_epsilon=config.target_epsilon,
            )
            save_weights(output_dir, global_weights(config, process, state, data))
            final = history[-1]
            seconds = [row["round_seconds"] for row in history]
            if accountant is not None:
                results.update(
                    epsilon=accountant.epsilon(),
                    delta=spec.delta,
                    noise_multiplier=spec.noise_multiplier,
                    clip=final.get(
                        "clip",
                        aggregator_factory.DEFAULT_CLIP
                        if config.clip is None
                        else config.clip,
                    ),
                    privacy=accountant.report(),
                )
            results.update(
                test_rmse=final["test_rmse"],
                test_mae=final["test_mae"],
                rounds=len(history),
                seconds_per_round=float(np.median(seconds)),
                client_updates_per_second=config.clients_per_round
                / float(np.median(seconds)),
            )
        elif config.algorithm is Algorithm.CENTRALIZED:
            central = baselines.train_centralized(
                data.split.train, data.split.test, **_baseline_kwargs(config)
            )
            save_weights(output_dir, central.weights)
            results.update(
                test_rmse=central.metrics.rmse,
                test_mae=central.metrics.mae,
                rounds=central.epochs,
            )
        else:
            local = baselines.train_local_only(
                data.split.train,
                data.split.test,
                data.partition,
                **_baseline_kwargs(config),
            )
            results.update(
                test_rmse=local.metrics.rmse,
                test_mae=local.metrics.mae,
                rounds=local.epochs,
            )
        if config.baselines:
            results.update(run_baselines(config, data))
        results["wall_seconds"] = time.perf_counter() - start
        writer.write_results(results)
    return results


def format_results_table(results: dict[str, object]) -> str:
    """The final table printed by the train pipeline."""
    rows = [
        (
            results["algorithm"],
            results.get("test_rmse"),
            results.get("test_mae"),
            results.get("rounds"),
            results.get("wall_seconds"),
        )
    ]
    for name in ("centralized", "local_only"):
        if results.get(f"{name}_test_rmse") is not None:
            rows.append(
                (
                    f"{name} (baseline)",
                    results[f"{name}_test_rmse"],
                    results[f"{name}_test_mae"],
                    None,
                    None,
                )
            )

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = [
        f"{'algorithm':<24}{'test RMSE':>10}{'test MAE':>10}{'rounds':>8}{'wall s':>9}"
    ]
    for name, rmse, mae, rounds, wall in rows:
        lines.append(
            f"{name:<24}{cell(rmse, '.4f'):>10}{cell(mae, '.4f'):>10}"
            f"{cell(rounds, 'd'):>8}{cell(wall, '.1f'):>9}"
        )
    return "\n".join(lines)
