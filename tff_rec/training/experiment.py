"""One experiment end to end: data -> split -> clients -> train -> evaluate.

`run_experiment(config)` is what `pipelines/train.py` calls; a library user
can call it the same way, or use the pieces it is made of.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
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
from tff_rec.compression import broadcast
from tff_rec.compression import byte_counts
from tff_rec.data import client_data as client_data_lib
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.evaluation import baselines
from tff_rec.evaluation import ranking_metrics
from tff_rec.evaluation import rating_metrics
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy import accounting
from tff_rec.tasks import losses
from tff_rec.training import attacks
from tff_rec.training import checkpoint as checkpoint_lib
from tff_rec.training import config as config_lib
from tff_rec.training import federated
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import ranking

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
    "bytes_up",
    "bytes_down",
    "dense_bytes_up",
    "dense_bytes_down",
    "clients_dropped",
    "aborted",
    "clients_malicious",
)
RATING_ONLY_FIELDS = ("train_rmse", "train_mae", "test_rmse", "test_mae")
IMPLICIT_TRAIN_FIELDS = ("train_auc", "train_accuracy")


def round_fields(config: config_lib.TrainConfig) -> tuple[str, ...]:
    """The ``metrics.csv`` columns of a run of `config`."""
    if config.task is config_lib.Task.RATING:
        return ROUND_FIELDS
    kept = tuple(f for f in ROUND_FIELDS if f not in RATING_ONLY_FIELDS)
    return (
        kept[:1]
        + IMPLICIT_TRAIN_FIELDS
        + tuple(ranking_metrics.metric_names(config.top_k))
        + kept[1:]
    )


CHECKPOINT_DIR = "checkpoints"
# Files and folders of a run that `run_experiment(..., fresh=True)` deletes.
RUN_OUTPUTS = (
    metrics_writer_lib.METRICS_FILE,
    metrics_writer_lib.RESULTS_FILE,
    metrics_writer_lib.WEIGHTS_FILE,
    "tensorboard",
    CHECKPOINT_DIR,
)
# Settings that may change between a run and its resumption: they do not
# change the federated rounds (a run folder may be moved or renamed;
# personalization and the baselines come after the rounds).
RESUMABLE_CHANGES = (
    "root_output_dir",
    "experiment_name",
    "checkpoint_every",
    "personalize_steps",
    "baselines",
    "centralized_epochs",
    "centralized_l2",
    "centralized_batch_size",
    "centralized_learning_rate",
)


@dataclasses.dataclass(frozen=True)
class PreparedData:
    interactions: interactions_lib.Interactions
    split: splits.Split
    partition: partition_lib.Partition
    federated: client_data_lib.FederatedData
    ranking: ranking.RankingData | None = None


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
        ranking=ranking.prepare(
            config, training_history(split), split.test, interactions
        )
        if config.task is config_lib.Task.IMPLICIT
        else None,
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
            seed=config.seed,
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
        quantize_bits=config.quantize_bits,
        topk_fraction=config.topk_fraction,
        sparse_rows=config.sparse_item_updates,
        decoy_rows=config.decoy_rows,
        count_bytes=True,
        robust=config.robust,
    )


def initial_global_bias(config: config_lib.TrainConfig, data: PreparedData) -> float:
    """The model's global bias: a constant the clients never update.

    Without DP it is the mean training rating (in deployment, one federated
    mean). With DP that mean would be released without noise, so the middle
    of the rating scale is used instead, a public prior; with reconstruction
    each user's local bias absorbs the offset.
    """
    ratings = data.split.train.ratings
    if config.is_dp:
        return float((np.min(ratings) + np.max(ratings)) / 2)
    return float(np.mean(ratings))


def round_schedule(config: config_lib.TrainConfig) -> federated.RoundSchedule:
    """How a federated `config` samples clients and batches their data."""
    return federated.RoundSchedule(
        rounds=config.rounds,
        clients_per_round=config.clients_per_round,
        batch_size=config.batch_size,
        client_epochs=config.dataset_epochs,
        user_key=config.user_key,
        seed=config.seed,
        sampling=config.client_sampling,
        dropout_rate=config.dropout_rate,
        min_clients=config.min_clients_per_round,
    )


def build_process(
    config: config_lib.TrainConfig,
    data: PreparedData,
    spec: accounting.PrivacySpec | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds the learning process for a federated `config.algorithm`."""
    aggregator = build_aggregator(config, spec)
    # Also when not quantized: it counts the broadcast bytes.
    distributor = broadcast.BroadcastFactory(bits=config.broadcast_quantize_bits)
    global_bias = initial_global_bias(config, data)
    client_optimizer = optimizers.build_optimizer(
        config.client_optimizer, config.client_learning_rate
    )
    server_optimizer = optimizers.build_optimizer(
        config.server_optimizer, config.server_learning_rate
    )
    num_items = data.interactions.num_items
    task_fns = {}
    if config.task is config_lib.Task.IMPLICIT:
        task_fns = dict(
            loss_fn=ranking.loss_fn(config), metrics_fn=losses.implicit_metrics
        )

    def model_fn(num_users):
        if config.task is config_lib.Task.IMPLICIT:
            return ranking.model_fn(config, data.ranking, num_users)
        return _model_fn(config, num_users, num_items, global_bias)

    if config.algorithm is Algorithm.FEDRECON:
        return fed_recon.build_fed_recon(
            model_fn(data.federated.max_users_per_client),
            client_optimizer=client_optimizer,
            server_optimizer=server_optimizer,
            reconstruction_optimizer=optimizers.build_optimizer(
                optimizers.OptimizerType.SGD, config.reconstruction_learning_rate
            ),
            reconstruction_epochs=config.reconstruction_epochs,
            post_reconstruction_epochs=config.client_epochs,
            split_dataset=config.reconstruction_split,
            weighted=not config.is_dp,
            model_aggregator=aggregator,
            model_distributor=distributor,
            **task_fns,
        )
    builder = {
        Algorithm.FEDAVG: fed_avg.build_weighted_fed_avg,
        Algorithm.FEDAVG_UNWEIGHTED: fed_avg.build_unweighted_fed_avg,
    }[config.algorithm]
    return builder(
        model_fn(data.interactions.num_users),
        client_optimizer=client_optimizer,
        server_optimizer=server_optimizer,
        model_aggregator=aggregator,
        model_distributor=distributor,
        **task_fns,
    )


def global_weights(
    config: config_lib.TrainConfig,
    process: tff.learning.templates.LearningProcess,
    state,
    data: PreparedData,
) -> rating_metrics.MatrixFactorizationWeights:
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

        return rating_metrics.MatrixFactorizationWeights(
            item_embedding=find(mf.ITEM_EMBEDDING),
            item_bias=find(mf.ITEM_BIAS)[:, 0],
            global_bias=float(find(mf.GLOBAL_BIAS)),
        )
    model = _model_fn(
        config, data.interactions.num_users, data.interactions.num_items, 0.0
    )()
    model_weights.assign_weights_to(model.keras_model)
    return rating_metrics.MatrixFactorizationWeights.from_keras(model.keras_model)


def evaluate_weights(
    config: config_lib.TrainConfig,
    weights: rating_metrics.MatrixFactorizationWeights,
    data: PreparedData,
) -> rating_metrics.RatingMetrics:
    """Test metrics of server-side weights (reconstructing users if needed)."""
    if config.algorithm is Algorithm.FEDRECON:
        return rating_metrics.evaluate_reconstruction(
            weights,
            training_history(data.split),
            data.split.test,
            l2=config.l2,
            bias_l2=config.bias_l2,
        )
    return rating_metrics.evaluate_global_model(weights, data.split.test)


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


def task_metric_names(config: config_lib.TrainConfig) -> tuple[str, ...]:
    """The test metrics a run reports (``results.json`` keys)."""
    if config.task is config_lib.Task.IMPLICIT:
        return tuple(ranking_metrics.metric_names(config.top_k))
    return ("test_rmse", "test_mae")


def training_history(split: splits.Split) -> interactions_lib.Interactions:
    """What evaluation may use to build users' representations.

    The training interactions, plus the held-out users' history for
    `splits.SplitType.HELD_OUT_USERS`.
    """
    if split.test_history is None:
        return split.train
    return _concat(split.train, split.test_history)


def _prefixed(prefix: str, metrics) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}


def run_implicit_baselines(config, data) -> dict[str, float | None]:
    """Centralized and local-only top-K metrics on the same split."""
    _announce(f"Baseline: centralized training ({config.centralized_epochs} epochs)")
    model, info = ranking.train_centralized(config, data.ranking, data.split.train)
    results = _prefixed("centralized", ranking.evaluate_model(model, data.ranking))
    results["centralized_examples_per_second"] = info["examples_per_second"]
    if data.split.test_history is None:
        _announce(
            f"Baseline: local-only training of {data.partition.num_clients} "
            f"participants ({config.centralized_epochs} epochs)"
        )
        results.update(
            _prefixed(
                "local_only",
                ranking.local_only(config, data.ranking, data.federated),
            )
        )
    return results


def _implicit_without_federation(config, data, output_dir) -> dict[str, object]:
    if config.algorithm is Algorithm.CENTRALIZED:
        model, info = ranking.train_centralized(config, data.ranking, data.split.train)
        save_arrays(output_dir, ranking.global_weights_arrays(model))
        return {**ranking.evaluate_model(model, data.ranking), "rounds": info["epochs"]}
    return {
        **ranking.local_only(config, data.ranking, data.federated),
        "rounds": config.centralized_epochs,
    }


def _personalization(config, data, model, final) -> dict[str, float]:
    """Global vs personalized (vs local-only, with baselines) per-client metrics.

    Personalized metrics average over the users of the clients that
    fine-tuned, the same users as the global ones in `final`.
    """
    _announce(
        f"Personalization: {data.partition.num_clients} clients fine-tune for "
        f"{config.personalize_steps} steps"
    )
    tuned = ranking.personalize(config, data.ranking, data.federated, model)
    names = ranking_metrics.metric_names(config.top_k)
    return {
        **_prefixed("global", {k: final[k] for k in names}),
        **_prefixed("personalized", {k: tuned[k] for k in names}),
    }


def save_arrays(output_dir: pathlib.Path, arrays) -> pathlib.Path:
    """Writes named arrays to ``final_weights.npz`` atomically."""
    path = output_dir / metrics_writer_lib.WEIGHTS_FILE
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(path)
    return path


def save_weights(
    output_dir: pathlib.Path, weights: rating_metrics.MatrixFactorizationWeights
) -> pathlib.Path:
    """Writes the final model tables to ``final_weights.npz`` atomically.

    User tables are only present for models whose server holds them (not for
    reconstruction, where they never leave the clients).
    """
    return save_arrays(
        output_dir,
        {k: v for k, v in dataclasses.asdict(weights).items() if v is not None},
    )


def remove_run_outputs(output_dir: pathlib.Path) -> None:
    """Deletes a run's metrics, results, weights, TensorBoard and checkpoints.

    Only the names in `RUN_OUTPUTS` are deleted; anything else in the folder
    stays.
    """
    for name in RUN_OUTPUTS:
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def check_resumable(config: config_lib.TrainConfig, output_dir: pathlib.Path) -> None:
    """Refuses to resume a run directory written with other settings.

    Raises:
      tff_rec.errors.UserInputError: if ``hparams.json`` is missing or differs
        from `config` in more than `RESUMABLE_CHANGES`; the message names the
        settings and suggests ``--fresh``.
    """
    path = output_dir / metrics_writer_lib.HPARAMS_FILE
    if not path.exists():
        raise errors.UserInputError(
            f"{output_dir} has checkpoints but no hparams.json to check them "
            "against; pass --fresh to start over"
        )
    saved = json.loads(path.read_text())
    current = json.loads(json.dumps(config.as_dict()))
    changed = sorted(
        name
        for name in set(saved) | set(current)
        if name not in RESUMABLE_CHANGES and saved.get(name) != current.get(name)
    )
    if changed:
        details = ", ".join(
            f"{name}: {saved.get(name)!r} -> {current.get(name)!r}" for name in changed
        )
        raise errors.UserInputError(
            f"cannot resume {output_dir}: its checkpoints were written with other "
            f"settings ({details}); pass --fresh to start over, or another "
            "--experiment_name"
        )


def run_experiment(
    config: config_lib.TrainConfig, *, fresh: bool = False
) -> dict[str, object]:
    """Runs `config` and writes its outputs; returns the results dict.

    Writes ``<root_output_dir>/<experiment_name>/`` with ``hparams.json``,
    ``vocabularies.json`` (raw user and item ids, by remapped id),
    ``metrics.csv`` (federated algorithms: one row per round), TensorBoard
    events, ``checkpoints/`` (federated algorithms, see
    `tff_rec.training.checkpoint`), ``final_weights.npz`` (the server's model
    tables) and ``results.json``.

    A federated run whose folder holds a complete checkpoint resumes from it:
    the rounds after the checkpoint are run (their rows, if any were written
    before an interruption, are replaced) and the outputs are rewritten.

    Args:
      config: the run.
      fresh: delete the outputs of an earlier run in the folder
        (`remove_run_outputs`) instead of resuming it.

    Raises:
      tff_rec.errors.UserInputError: for data or settings that cannot work,
        or checkpoints written with other settings, before any training
        starts.
    """
    start = time.perf_counter()
    output_dir = pathlib.Path(config.root_output_dir) / config.experiment_name
    if fresh:
        remove_run_outputs(output_dir)
    checkpoints = None
    resume_after = 0
    if config.algorithm.is_federated:
        checkpoints = checkpoint_lib.CheckpointManager(
            output_dir / CHECKPOINT_DIR, every=config.checkpoint_every
        )
        resume_after = checkpoints.latest_round()
        if resume_after:
            check_resumable(config, output_dir)
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
    with metrics_writer_lib.MetricsWriter(
        output_dir, round_fields(config), resume_after=resume_after
    ) as writer:
        writer.write_hparams(config.as_dict())
        metrics_writer_lib.write_json(
            output_dir / metrics_writer_lib.VOCABULARIES_FILE,
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
            schedule = round_schedule(config)
            malicious = None
            if config.malicious_fraction > 0:
                malicious = attacks.MaliciousClients.sample(
                    data.partition.num_clients, config.malicious_fraction, config.seed
                )
                process = attacks.build_attacked_process(
                    lambda: build_process(config, data, spec), config.attack
                )
            else:
                process = build_process(config, data, spec)

            implicit_task = config.task is config_lib.Task.IMPLICIT
            if implicit_task and malicious is None:
                # Each client's negatives are drawn in Python; the client
                # batches them inside the round.
                process = ranking.batching_process(
                    config, process, data.federated, data.ranking
                )
                client_datasets_fn = ranking.client_tensors_fn(
                    config, data.federated, data.ranking
                )
            elif implicit_task:
                client_datasets_fn = ranking.client_datasets_fn(
                    config, data.federated, data.ranking
                )
            elif malicious is None:
                # Clients batch their own rows inside the round (the same
                # batches as `rating_datasets_fn`, made faster).
                process = federated.batching_process(process, schedule)
                client_datasets_fn = federated.rating_tensors_fn(
                    data.federated, schedule
                )
            else:
                client_datasets_fn = None
            # The last state's server model: building it reconstructs every
            # user (fedrecon), and the last round's evaluation and the final
            # outputs use the same state.
            built = {}

            def server_model(state):
                if built.get("state") is not state:
                    built.update(
                        state=state,
                        model=ranking.server_model(
                            config,
                            process,
                            state,
                            data.ranking,
                            training_history(data.split),
                        ),
                    )
                return built["model"]

            def evaluate(state):
                if implicit_task:
                    return ranking.evaluate_model(server_model(state), data.ranking)
                weights = global_weights(config, process, state, data)
                metrics = evaluate_weights(config, weights, data)
                return {"test_rmse": metrics.rmse, "test_mae": metrics.mae}

            state, history = federated.run_rounds(
                process,
                data.federated,
                schedule,
                client_datasets_fn=client_datasets_fn,
                evaluate_fn=evaluate,
                eval_every=config.eval_every,
                writer=writer,
                accountant=accountant,
                target_epsilon=config.target_epsilon,
                checkpoint=checkpoints,
                malicious=malicious,
            )
            history = writer.previous_rows + history
            final = dict(history[-1]) if history else {}
            test_keys = task_metric_names(config)
            if implicit_task:
                model = server_model(state)
                save_arrays(output_dir, ranking.global_weights_arrays(model))
                if not all(k in final for k in test_keys):
                    final.update(ranking.evaluate_model(model, data.ranking))
                if config.personalize_steps:
                    results.update(_personalization(config, data, model, final))
            else:
                save_weights(output_dir, global_weights(config, process, state, data))
                if not all(k in final for k in test_keys):
                    final.update(evaluate(state))
            seconds = [row["round_seconds"] for row in history] or [float("nan")]
            if accountant is not None:
                results.update(
                    epsilon=accountant.epsilon(),
                    delta=spec.delta,
                    noise_multiplier=spec.noise_multiplier,
                    clip=next(
                        (row["clip"] for row in reversed(history) if "clip" in row),
                        aggregator_factory.DEFAULT_CLIP
                        if config.clip is None
                        else config.clip,
                    ),
                    privacy=accountant.report(),
                )
            results.update(byte_counts.summarize(history))
            results.update({k: final[k] for k in test_keys})
            results.update(
                rounds=len(history),
                seconds_per_round=float(np.median(seconds)),
                client_updates_per_second=config.clients_per_round
                / float(np.median(seconds)),
            )
        elif config.task is config_lib.Task.IMPLICIT:
            results.update(_implicit_without_federation(config, data, output_dir))
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
            if config.task is config_lib.Task.IMPLICIT:
                results.update(run_implicit_baselines(config, data))
            else:
                results.update(run_baselines(config, data))
        results["wall_seconds"] = time.perf_counter() - start
        writer.write_results(results)
    return results


def format_ranking_table(results: dict[str, object]) -> str:
    """The final table of an implicit-feedback run: one row per model."""
    names = [
        k
        for k in results
        if k.startswith(("sampled_hr@", "sampled_ndcg@", "hr@", "ndcg@"))
    ]
    rows = [(results["algorithm"], "")]
    rows += [
        (f"{prefix} ({kind})", f"{prefix}_")
        for prefix, kind in (
            ("global", "before fine-tuning"),
            ("personalized", "fine-tuned per client"),
            ("centralized", "baseline"),
            ("local_only", "baseline"),
        )
        if f"{prefix}_{names[0]}" in results
    ]
    lines = [f"{'model':<36}" + "".join(f"{n:>17}" for n in names)]
    for label, prefix in rows:
        values = [results.get(prefix + n) for n in names]
        lines.append(
            f"{label:<36}"
            + "".join("{:>17}".format("-" if v is None else f"{v:.4f}") for v in values)
        )
    return "\n".join(lines)


def format_results_table(results: dict[str, object]) -> str:
    """The final table printed by the train pipeline."""
    if "test_rmse" not in results:
        return format_ranking_table(results)
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
