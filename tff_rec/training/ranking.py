"""The implicit-feedback (top-K ranking) side of an experiment.

`tff_rec.training.experiment` runs every task through the same round loop;
this module supplies what is specific to implicit feedback: the model
(`--model`), the loss, each client's positives with its own sampled
negatives, top-K evaluation of the server's model (reconstructing users'
local variables for Federated Reconstruction), the centralized and
local-only baselines, and per-client personalization.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import optimizers
from tff_rec.data import client_data as client_data_lib
from tff_rec.data import feature_encoding
from tff_rec.data import negatives as negatives_lib
from tff_rec.evaluation import personalization
from tff_rec.evaluation import ranking_metrics
from tff_rec.evaluation import scoring
from tff_rec.models import feature_model
from tff_rec.models import matrix_factorization as mf
from tff_rec.models import ncf
from tff_rec.tasks import losses
from tff_rec.training import config as config_lib

Algorithm = config_lib.Algorithm
ModelType = config_lib.ModelType

# Negatives drawn outside the rounds: per-client training after federated
# training (personalization, local-only) uses round 0 of
# `negatives.client_rng`, which is never a training round; the centralized
# baseline and evaluation-time reconstruction have streams of their own.
_EVAL_ROUND = 0
_CENTRALIZED_STREAM = 0x63656E74
_RECONSTRUCTION_STREAM = 0x7265636F


@dataclasses.dataclass(frozen=True)
class RankingData:
    """What the implicit side needs beyond the split and the clients.

    Attributes:
      num_users: users in the table (global ids).
      num_items: catalogue size.
      user_columns: per-user model inputs (user features), or empty.
      item_features: catalogue features for the features model, or None.
      user_feature_sizes: vocabulary size of each user feature (features
        model), or empty.
      evaluator: top-K evaluation on the test split.
    """

    num_users: int
    num_items: int
    user_columns: Mapping[str, np.ndarray]
    item_features: feature_encoding.ItemFeatures | None
    user_feature_sizes: Mapping[str, int]
    evaluator: ranking_metrics.RankingEvaluator


def prepare(config: config_lib.TrainConfig, history, test, interactions) -> RankingData:
    """Encodes features (features model) and samples the test negatives.

    Args:
      config: the run.
      history: every interaction evaluation may know of (train, plus
        held-out users' history): never a test candidate nor a negative.
      test: the test interactions.
      interactions: the whole table (vocabularies and features).
    """
    user_columns: dict[str, np.ndarray] = {}
    item_features = None
    sizes: dict[str, int] = {}
    if config.model is ModelType.FEATURES:
        users = feature_encoding.encode_user_features(interactions)
        item_features = feature_encoding.encode_item_features(interactions)
        user_columns = users.columns()
        sizes = users.sizes()
    evaluator = ranking_metrics.RankingEvaluator(
        history,
        test,
        top_k=config.top_k,
        num_negatives=config.eval_negatives,
        seed=config.seed,
    )
    return RankingData(
        num_users=interactions.num_users,
        num_items=interactions.num_items,
        user_columns=user_columns,
        item_features=item_features,
        user_feature_sizes=sizes,
        evaluator=evaluator,
    )


def model_fn(
    config: config_lib.TrainConfig, ranking: RankingData, num_users: int
) -> Callable[[], mf.RecommenderModel]:
    """A factory of `config.model` with a user table of `num_users` rows."""
    common = dict(embedding_dim=config.embedding_dim, l2=config.l2, seed=config.seed)
    init = {} if config.init_stddev is None else {"init_stddev": config.init_stddev}
    ncf_init = dict(init)
    if config.user_init_stddev is not None:
        ncf_init["user_init_stddev"] = config.user_init_stddev

    def build():
        if config.model is ModelType.GMF:
            return ncf.build_gmf(num_users, ranking.num_items, **common, **ncf_init)
        if config.model is ModelType.MLP:
            return ncf.build_mlp(num_users, ranking.num_items, **common, **ncf_init)
        if config.model is ModelType.NEUMF:
            return ncf.build_neumf(num_users, ranking.num_items, **common, **ncf_init)
        if config.model is ModelType.FEATURES:
            return feature_model.build_feature_model(
                num_users,
                ranking.item_features,
                ranking.user_feature_sizes,
                **common,
            )
        return mf.build_matrix_factorization(
            num_users, ranking.num_items, bias_l2=config.bias_l2, **common, **init
        )

    return build


def loss_fn(config: config_lib.TrainConfig):
    return losses.implicit_loss(config.loss, negatives=config.negatives)


def group_size(config: config_lib.TrainConfig) -> int:
    return 1 + config.negatives


def _client_options(config: config_lib.TrainConfig, ranking) -> dict:
    """`negatives.implicit_tensors` arguments shared by every client."""
    return dict(
        num_items=ranking.num_items,
        negatives=config.negatives,
        seed=config.seed,
        user_key=config.user_key,
        user_columns=ranking.user_columns,
    )


def client_datasets_fn(config: config_lib.TrainConfig, federated, ranking):
    """``(clients, round_num) -> datasets`` with each client's own negatives."""
    options = _client_options(config, ranking)

    def datasets(clients, round_num):
        return [
            negatives_lib.implicit_batches(
                federated,
                int(k),
                batch_size=config.batch_size,
                epochs=config.dataset_epochs,
                round_num=round_num,
                **options,
            )
            for k in clients
        ]

    return datasets


def client_tensors_fn(config: config_lib.TrainConfig, federated, ranking):
    """``(clients, round_num) -> arrays`` for a process made by
    `batching_process`: each client's examples (`negatives.implicit_tensors`),
    the same negatives `client_datasets_fn` draws."""
    options = _client_options(config, ranking)

    def tensors(clients, round_num):
        return [
            negatives_lib.implicit_tensors(
                federated, int(k), round_num=round_num, **options
            )
            for k in clients
        ]

    return tensors


def batching_process(
    config: config_lib.TrainConfig,
    process: tff.learning.templates.LearningProcess,
    federated,
    ranking,
) -> tff.learning.templates.LearningProcess:
    """`process` with each client's batching moved into the round.

    Its ``next`` takes the clients' examples (`client_tensors_fn`) and builds
    on each client the batches `client_datasets_fn` would have made, as
    `federated.batching_process` does for rating rows.
    """
    example = negatives_lib.implicit_tensors(
        federated, 0, **_client_options(config, ranking)
    )
    batches = client_data_lib.slices_computation(
        client_data_lib.tensors_type(example),
        batch_size=config.batch_size * group_size(config),
        epochs=config.dataset_epochs,
    )
    return tff.simulation.compose_dataset_computation_with_learning_process(
        batches, process
    )


def _examples(config, ranking, users, items, rng):
    """(x, y) arrays of positives and sampled negatives (global user ids)."""
    return negatives_lib.implicit_examples(
        users,
        items,
        num_items=ranking.num_items,
        negatives=config.negatives,
        rng=rng,
        user_columns=ranking.user_columns,
    )


def _by_user(x, y, group):
    """Reorders groups so that each user's examples are contiguous."""
    rows = negatives_lib.group_rows(
        np.argsort(x["user"][::group], kind="stable"), group
    )
    return {k: np.asarray(v)[rows] for k, v in x.items()}, y[rows]


def server_model(
    config: config_lib.TrainConfig,
    process: tff.learning.templates.LearningProcess,
    state,
    ranking: RankingData,
    train,
) -> mf.RecommenderModel:
    """A Keras model over all users holding the server's weights.

    For reconstruction, the server has the global layers only: every user's
    local layers are reconstructed from that user's training data.
    """
    model = model_fn(config, ranking, ranking.num_users)()
    weights = process.get_model_weights(state)
    if config.algorithm is not Algorithm.FEDRECON:
        weights.assign_weights_to(model.keras_model)
        return model
    layers = model.global_layers
    targets = [w for layer in layers for w in layer.trainable_weights] + [
        w for layer in layers for w in layer.non_trainable_weights
    ]
    values = list(weights.trainable) + list(weights.non_trainable)
    for variable, value in zip(targets, values, strict=True):
        variable.assign(value)
    reconstruct_users(config, ranking, train, model)
    return model


def reconstructed_model(
    config: config_lib.TrainConfig,
    ranking: RankingData,
    train,
    source: mf.RecommenderModel,
) -> mf.RecommenderModel:
    """A fresh `config.model` with `source`'s global layers, users reconstructed.

    Evaluates any model (a centralized one, say) the way Federated
    Reconstruction's server model is: its user layers are discarded and
    refitted from their initializer by `reconstruct_users`.
    """
    model = model_fn(config, ranking, ranking.num_users)()
    for target, layer in zip(model.global_layers, source.global_layers, strict=True):
        target.set_weights(layer.get_weights())
    reconstruct_users(config, ranking, train, model)
    return model


def reconstruct_users(
    config: config_lib.TrainConfig,
    ranking: RankingData,
    train,
    model: mf.RecommenderModel,
) -> None:
    """Refits `model`'s local (user) layers in place, as reconstruction does.

    Each user's layers are fitted from the user's training interactions (with
    freshly drawn negatives) by `config.reconstruction_epochs` of SGD at
    `config.reconstruction_learning_rate`, the global layers frozen: how
    Federated Reconstruction's server model is evaluated.
    """
    rng = np.random.default_rng([config.seed, _RECONSTRUCTION_STREAM])
    x, y = _by_user(
        *_examples(config, ranking, train.users, train.items, rng), group_size(config)
    )
    scoring.reconstruct_local(
        model,
        loss_fn(config)(),
        x,
        y,
        batch_size=config.batch_size * group_size(config),
        learning_rate=config.reconstruction_learning_rate,
        epochs=config.reconstruction_epochs,
    )


def evaluate_model(
    model: mf.RecommenderModel, ranking: RankingData, users=None
) -> dict[str, float]:
    """Top-K test metrics of a model (`ranking_metrics.metric_names`)."""
    metrics = ranking.evaluator.evaluate(
        scoring.score_fn(model, ranking.num_items, user_columns=ranking.user_columns),
        users=users,
    )
    return {
        k: metrics[k] for k in ranking_metrics.metric_names(ranking.evaluator.top_k)
    }


def train_centralized(
    config: config_lib.TrainConfig, ranking: RankingData, train
) -> tuple[mf.RecommenderModel, dict[str, float]]:
    """The same model trained on the pooled data (negatives redrawn per epoch).

    Returns:
      The model and ``examples_per_second``, ``epochs``.
    """
    tf.keras.utils.set_random_seed(config.seed)
    model = model_fn(config, ranking, ranking.num_users)()
    loss = loss_fn(config)()
    model.keras_model.compile(
        optimizer=tf.keras.optimizers.Adam(config.centralized_learning_rate), loss=loss
    )
    group = group_size(config)
    batch = max(1, config.centralized_batch_size // group) * group
    rng = np.random.default_rng([config.seed, _CENTRALIZED_STREAM])
    seconds = 0.0
    examples = 0
    for epoch in range(config.centralized_epochs):
        x, y = _examples(config, ranking, train.users, train.items, rng)
        start = time.perf_counter()
        model.keras_model.fit(
            {k: np.asarray(v, np.int32) for k, v in x.items()},
            y[:, None],
            batch_size=batch,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        seconds += time.perf_counter() - start
        examples += len(y)
        _announce(f"centralized epoch {epoch + 1}/{config.centralized_epochs}")
    return model, {
        "examples_per_second": examples / max(seconds, 1e-9),
        "epochs": config.centralized_epochs,
    }


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def per_client(
    config: config_lib.TrainConfig,
    ranking: RankingData,
    federated: client_data_lib.FederatedData,
    start_weights: list[np.ndarray] | None,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    optimizer: tf.keras.optimizers.Optimizer,
    label: str,
) -> dict[str, float]:
    """Trains each client alone from `start_weights` and scores its users.

    The model has a global user table (ids), so a client's model scores its
    own users. `start_weights` None means the model's initialisation. Returns
    the metrics averaged over all evaluated users.
    """
    model = model_fn(config, ranking, ranking.num_users)()
    if start_weights is None:
        start_weights = model.keras_model.get_weights()
    trainer = personalization.ClientTrainer(
        model,
        loss_fn(config)(),
        optimizer,
        batch_size=config.batch_size * group_size(config),
    )
    evaluated = set(ranking.evaluator.users.tolist())
    # One scorer for the trainer's model, whose weights change per client.
    scores = scoring.score_fn(
        model, ranking.num_items, user_columns=ranking.user_columns
    )

    def examples(k):
        rows = federated.client_rows(k)
        rng = negatives_lib.client_rng(config.seed, _EVAL_ROUND, k)
        return _examples(
            config, ranking, federated.users[rows], federated.items[rows], rng
        )

    def evaluate(k, trained):
        users = np.unique(federated.users[federated.client_rows(k)])
        users = np.array([u for u in users if u in evaluated], np.int64)
        if not len(users):
            return {}
        del trained  # The trainer's model, which `scores` reads.
        return ranking.evaluator.per_user(scores, users=users)

    def progress(done, total):
        if done == total or done % max(1, total // 10) == 0:
            _announce(f"{label}: {done}/{total} clients")

    per_user = personalization.for_each_client(
        trainer,
        range(federated.num_clients),
        start_weights,
        examples,
        evaluate,
        steps=steps,
        epochs=epochs,
        seed=config.seed,
        group_size=group_size(config),
        progress=progress,
    )
    return {
        name: float(np.mean(values))
        for name, values in per_user.items()
        if name != "users"
    }


def personalize(config, ranking, federated, model) -> dict[str, float]:
    """Each client fine-tunes `model` for `config.personalize_steps` steps.

    With the clients' optimizer and learning rate (`config.client_optimizer`,
    `config.client_learning_rate`), as in the federated rounds.
    """
    return per_client(
        config,
        ranking,
        federated,
        model.keras_model.get_weights(),
        steps=config.personalize_steps,
        optimizer=optimizers.build_keras_optimizer(
            config.client_optimizer, config.client_learning_rate
        ),
        label="personalization",
    )


def local_only(config, ranking, federated) -> dict[str, float]:
    """Each client trains the model from its initialisation on its own data."""
    return per_client(
        config,
        ranking,
        federated,
        None,
        epochs=config.centralized_epochs,
        optimizer=tf.keras.optimizers.Adam(config.centralized_learning_rate),
        label="local-only",
    )


def global_weights_arrays(model: mf.RecommenderModel) -> dict[str, np.ndarray]:
    """The model's global-layer weights by variable name (``final_weights``).

    User (local) layers are left out: with reconstruction they never leave
    the clients, and with FedAvg they are one row per participant.
    """
    return {w.name: w.numpy() for layer in model.global_layers for w in layer.weights}
