"""Implicit feedback: the task of ranking the items a user will interact with.

Interactions are positives; each client samples its own negatives from the
items it has not seen (`tff_rec.data.negatives`), every round. The model is
one of `ModelType` (GMF, MLP, NeuMF, the feature model, or MF used as a
scorer), trained with BCE or BPR (`tff_rec.tasks.losses`). The server's
model is scored by top-K ranking of each test user's held-out items
(`tff_rec.evaluation.ranking_metrics`); for Federated Reconstruction, whose
server has no user layers, each user's layers are first refitted from the
user's training interactions, as the user's device would. After training,
each client may fine-tune the model on its own data (personalization).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import config as algorithms_config
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
from tff_rec.tasks import base
from tff_rec.tasks import config as tasks_config
from tff_rec.tasks import losses

Algorithm = algorithms_config.Algorithm
ModelType = tasks_config.ModelType
TRAIN_FIELDS = ("train_auc", "train_accuracy")
# Negatives drawn outside the rounds: per-client training after federated
# training (personalization, local-only) uses round 0 of
# `negatives.client_rng`, which is never a training round; the centralized
# baseline and evaluation-time reconstruction have streams of their own.
_EVAL_ROUND = 0
_CENTRALIZED_STREAM = 0x63656E74
_RECONSTRUCTION_STREAM = 0x7265636F
_NCF_BUILDERS = {
    ModelType.GMF: ncf.build_gmf,
    ModelType.MLP: ncf.build_mlp,
    ModelType.NEUMF: ncf.build_neumf,
}


def _by_user(x, y, group):
    """Reorders groups so that each user's examples are contiguous."""
    rows = negatives_lib.group_rows(
        np.argsort(x["user"][::group], kind="stable"), group
    )
    return {k: np.asarray(v)[rows] for k, v in x.items()}, y[rows]


def global_weights_arrays(model: mf.RecommenderModel) -> dict[str, np.ndarray]:
    """The model's global-layer weights by variable name (``final_weights``).

    User (local) layers are left out: with reconstruction they never leave
    the clients, and with FedAvg they are one row per participant.
    """
    return {w.name: w.numpy() for layer in model.global_layers for w in layer.weights}


class ImplicitTask(base.Task):
    """Top-K ranking from implicit feedback.

    Building it encodes the user and item features (feature model) and
    samples the test negatives of the sampled top-K metrics.
    """

    def __init__(self, config, data):
        super().__init__(config, data)
        interactions = data.interactions
        self.num_users = interactions.num_users
        self.num_items = interactions.num_items
        self.user_columns: dict[str, np.ndarray] = {}
        self.item_features = None
        self.user_feature_sizes: dict[str, int] = {}
        if config.model.model is ModelType.FEATURES:
            users = feature_encoding.encode_user_features(interactions)
            self.item_features = feature_encoding.encode_item_features(interactions)
            self.user_columns = users.columns()
            self.user_feature_sizes = users.sizes()
        evaluation = config.evaluation
        self.evaluator = ranking_metrics.RankingEvaluator(
            data.history,
            data.split.test,
            top_k=evaluation.top_k,
            num_negatives=evaluation.eval_negatives,
            seed=config.seed,
        )
        self._metric_names = tuple(ranking_metrics.metric_names(evaluation.top_k))
        # The last state's server model: building it reconstructs every user
        # (reconstruction), and the last evaluation and `finish` share it.
        self._server_model: tuple[Any, mf.RecommenderModel] | None = None

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self._metric_names

    @property
    def round_fields(self) -> tuple[str, ...]:
        kept = base.ROUND_FIELDS
        return kept[:1] + TRAIN_FIELDS + self._metric_names + kept[1:]

    @property
    def group_size(self) -> int:
        """Rows per positive: the positive and its negatives."""
        return 1 + self.config.model.negatives

    # The model.
    def model_fn(self, num_users: int):
        model = self.config.model
        common = dict(
            embedding_dim=model.embedding_dim, l2=model.l2, seed=self.config.seed
        )
        init = {} if model.init_stddev is None else {"init_stddev": model.init_stddev}
        ncf_init = dict(init)
        if model.user_init_stddev is not None:
            ncf_init["user_init_stddev"] = model.user_init_stddev

        def build():
            if model.model in _NCF_BUILDERS:
                return _NCF_BUILDERS[model.model](
                    num_users, self.num_items, **common, **ncf_init
                )
            if model.model is ModelType.FEATURES:
                return feature_model.build_feature_model(
                    num_users, self.item_features, self.user_feature_sizes, **common
                )
            return mf.build_matrix_factorization(
                num_users, self.num_items, bias_l2=model.bias_l2, **common, **init
            )

        return build

    def loss_fn(self):
        model = self.config.model
        return losses.implicit_loss(model.loss, negatives=model.negatives)()

    def metrics_fn(self):
        return losses.implicit_metrics()

    def _examples(self, users, items, rng):
        """(x, y) arrays of positives and sampled negatives (global user ids)."""
        return negatives_lib.implicit_examples(
            users,
            items,
            num_items=self.num_items,
            negatives=self.config.model.negatives,
            rng=rng,
            user_columns=self.user_columns,
        )

    # The rounds.
    def _client_options(self) -> dict:
        """`negatives.implicit_tensors` arguments shared by every client."""
        return dict(
            num_items=self.num_items,
            negatives=self.config.model.negatives,
            seed=self.config.seed,
            user_key=self.config.federated.user_key,
            user_columns=self.user_columns,
        )

    def client_inputs(self, process, *, attacked: bool):
        federated, options = self.config.federated, self._client_options()
        data = self.data.federated
        if attacked:

            def datasets(clients, round_num):
                return [
                    negatives_lib.implicit_batches(
                        data,
                        int(k),
                        batch_size=federated.batch_size,
                        epochs=federated.dataset_epochs,
                        round_num=round_num,
                        **options,
                    )
                    for k in clients
                ]

            return process, datasets

        def tensors(clients, round_num):
            return [
                negatives_lib.implicit_tensors(
                    data, int(k), round_num=round_num, **options
                )
                for k in clients
            ]

        # The same batches as `datasets`, made inside the round.
        example = negatives_lib.implicit_tensors(data, 0, **options)
        batches = client_data_lib.slices_computation(
            client_data_lib.tensors_type(example),
            batch_size=federated.batch_size * self.group_size,
            epochs=federated.dataset_epochs,
        )
        return (
            tff.simulation.compose_dataset_computation_with_learning_process(
                batches, process
            ),
            tensors,
        )

    def server_model(self, process, state) -> mf.RecommenderModel:
        """A Keras model over all users holding the server's weights.

        For reconstruction, the server has the global layers only: every
        user's local layers are reconstructed from that user's training data.
        """
        if self._server_model is not None and self._server_model[0] is state:
            return self._server_model[1]
        model = self.model_fn(self.num_users)()
        weights = process.get_model_weights(state)
        if self.config.algorithm is not Algorithm.FEDRECON:
            weights.assign_weights_to(model.keras_model)
        else:
            layers = model.global_layers
            targets = [w for layer in layers for w in layer.trainable_weights]
            targets += [w for layer in layers for w in layer.non_trainable_weights]
            values = list(weights.trainable) + list(weights.non_trainable)
            for variable, value in zip(targets, values, strict=True):
                variable.assign(value)
            self.reconstruct_users(model)
        self._server_model = (state, model)
        return model

    def reconstructed_model(self, source: mf.RecommenderModel) -> mf.RecommenderModel:
        """A fresh model with `source`'s global layers, users reconstructed.

        Evaluates any model (a centralized one, say) the way Federated
        Reconstruction's server model is: its user layers are discarded and
        refitted from their initializer by `reconstruct_users`.
        """
        model = self.model_fn(self.num_users)()
        for target, layer in zip(
            model.global_layers, source.global_layers, strict=True
        ):
            target.set_weights(layer.get_weights())
        self.reconstruct_users(model)
        return model

    def reconstruct_users(self, model: mf.RecommenderModel) -> None:
        """Refits `model`'s local (user) layers in place, as reconstruction does.

        Each user's layers are fitted from the user's training interactions
        (with freshly drawn negatives) by `reconstruction_epochs` of SGD at
        `reconstruction_learning_rate`, the global layers frozen.
        """
        federated, history = self.config.federated, self.data.history
        rng = np.random.default_rng([self.config.seed, _RECONSTRUCTION_STREAM])
        x, y = _by_user(
            *self._examples(history.users, history.items, rng), self.group_size
        )
        scoring.reconstruct_local(
            model,
            self.loss_fn(),
            x,
            y,
            batch_size=federated.batch_size * self.group_size,
            learning_rate=federated.reconstruction_learning_rate,
            epochs=federated.reconstruction_epochs,
        )

    def evaluate_model(
        self, model: mf.RecommenderModel, users=None
    ) -> dict[str, float]:
        """Top-K test metrics of a model (`ranking_metrics.metric_names`)."""
        metrics = self.evaluator.evaluate(
            scoring.score_fn(model, self.num_items, user_columns=self.user_columns),
            users=users,
        )
        return {k: metrics[k] for k in self.metric_names}

    def evaluate(self, process, state) -> dict[str, float]:
        return self.evaluate_model(self.server_model(process, state))

    def finish(self, process, state, final) -> base.Trained:
        model = self.server_model(process, state)
        weights = global_weights_arrays(model)
        if all(k in final for k in self.metric_names):
            results = {k: final[k] for k in self.metric_names}
        else:
            results = self.evaluate_model(model)
        steps = self.config.evaluation.personalize_steps
        if not steps:
            return base.Trained(results, weights)
        base.announce(
            f"Personalization: {self.data.partition.num_clients} clients fine-tune "
            f"for {steps} steps"
        )
        tuned = self.per_client(
            model.keras_model.get_weights(),
            steps=steps,
            optimizer=optimizers.build_keras_optimizer(
                self.config.federated.client_optimizer,
                self.config.federated.client_learning_rate,
            ),
            label="personalization",
        )
        results = {
            **results,
            **base.prefixed("global", results),
            **base.prefixed("personalized", {k: tuned[k] for k in self.metric_names}),
        }
        return base.Trained(results, weights)

    # Without federation, and the baselines.
    def centralized_model(self) -> tuple[mf.RecommenderModel, dict[str, float]]:
        """The same model trained on the pooled data (negatives redrawn per
        epoch); returns it and ``examples_per_second``, ``epochs``."""
        evaluation, train = self.config.evaluation, self.data.split.train
        tf.keras.utils.set_random_seed(self.config.seed)
        model = self.model_fn(self.num_users)()
        model.keras_model.compile(
            optimizer=tf.keras.optimizers.Adam(evaluation.centralized_learning_rate),
            loss=self.loss_fn(),
        )
        group = self.group_size
        batch = max(1, evaluation.centralized_batch_size // group) * group
        rng = np.random.default_rng([self.config.seed, _CENTRALIZED_STREAM])
        seconds, examples = 0.0, 0
        for epoch in range(evaluation.centralized_epochs):
            x, y = self._examples(train.users, train.items, rng)
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
            base.announce(
                f"centralized epoch {epoch + 1}/{evaluation.centralized_epochs}"
            )
        return model, {
            "examples_per_second": examples / max(seconds, 1e-9),
            "epochs": evaluation.centralized_epochs,
        }

    def per_client(
        self,
        start_weights: list[np.ndarray] | None,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        optimizer: tf.keras.optimizers.Optimizer,
        label: str,
    ) -> dict[str, float]:
        """Trains each client alone from `start_weights` and scores its users.

        The model has a global user table (ids), so a client's model scores
        its own users. `start_weights` None means the model's initialisation.
        Returns the metrics averaged over all evaluated users.
        """
        federated = self.data.federated
        model = self.model_fn(self.num_users)()
        if start_weights is None:
            start_weights = model.keras_model.get_weights()
        trainer = personalization.ClientTrainer(
            model,
            self.loss_fn(),
            optimizer,
            batch_size=self.config.federated.batch_size * self.group_size,
        )
        evaluated = set(self.evaluator.users.tolist())
        # One scorer for the trainer's model, whose weights change per client.
        scores = scoring.score_fn(model, self.num_items, user_columns=self.user_columns)

        def examples(k):
            rows = federated.client_rows(k)
            rng = negatives_lib.client_rng(self.config.seed, _EVAL_ROUND, k)
            return self._examples(federated.users[rows], federated.items[rows], rng)

        def evaluate(k, trained):
            users = np.unique(federated.users[federated.client_rows(k)])
            users = np.array([u for u in users if u in evaluated], np.int64)
            if not len(users):
                return {}
            del trained  # The trainer's model, which `scores` reads.
            return self.evaluator.per_user(scores, users=users)

        def progress(done, total):
            if done == total or done % max(1, total // 10) == 0:
                base.announce(f"{label}: {done}/{total} clients")

        per_user = personalization.for_each_client(
            trainer,
            range(federated.num_clients),
            start_weights,
            examples,
            evaluate,
            steps=steps,
            epochs=epochs,
            seed=self.config.seed,
            group_size=self.group_size,
            progress=progress,
        )
        return {
            name: float(np.mean(values))
            for name, values in per_user.items()
            if name != "users"
        }

    def local_only(self) -> dict[str, float]:
        """Each client trains the model from its initialisation on its own data."""
        evaluation = self.config.evaluation
        return self.per_client(
            None,
            epochs=evaluation.centralized_epochs,
            optimizer=tf.keras.optimizers.Adam(evaluation.centralized_learning_rate),
            label="local-only",
        )

    def train_centralized(self) -> base.Trained:
        model, info = self.centralized_model()
        return base.Trained(
            {**self.evaluate_model(model), "rounds": info["epochs"]},
            global_weights_arrays(model),
        )

    def train_local_only(self) -> base.Trained:
        rounds = self.config.evaluation.centralized_epochs
        return base.Trained({**self.local_only(), "rounds": rounds})

    def baselines(self) -> dict[str, Any]:
        epochs = self.config.evaluation.centralized_epochs
        base.announce(f"Baseline: centralized training ({epochs} epochs)")
        model, info = self.centralized_model()
        results = base.prefixed("centralized", self.evaluate_model(model))
        results["centralized_examples_per_second"] = info["examples_per_second"]
        if self.data.split.test_history is None:
            base.announce(
                f"Baseline: local-only training of {self.data.partition.num_clients} "
                f"participants ({epochs} epochs)"
            )
            results.update(base.prefixed("local_only", self.local_only()))
        return results

    @staticmethod
    def format_results(results: dict[str, Any]) -> str:
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
                + "".join(
                    "{:>17}".format("-" if v is None else f"{v:.4f}") for v in values
                )
            )
        return "\n".join(lines)
