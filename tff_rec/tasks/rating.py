"""Rating prediction: the task of predicting a user's star rating of an item.

The model is biased matrix factorization (`tff_rec.models.
matrix_factorization`) trained on the squared error plus a per-example L2
penalty; test metrics are RMSE and MAE. For Federated Reconstruction the
server holds the item tables only: test users are scored after solving
their factors from their own training ratings, the item side frozen
(`tff_rec.evaluation.rating_metrics.evaluate_reconstruction`).

Each round, a client's rating rows reach the round as arrays and the client
batches them itself (`batching_process`), reshuffled every round from the
run seed; an attacked process (`tff_rec.training.attacks`) takes the same
batches as `tf.data` datasets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow_federated as tff

from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import client_data as client_data_lib
from tff_rec.data import rating_scale
from tff_rec.evaluation import baselines as baselines_lib
from tff_rec.evaluation import per_client as per_client_lib
from tff_rec.evaluation import rating_metrics
from tff_rec.models import matrix_factorization as mf
from tff_rec.tasks import base
from tff_rec.tasks import losses

Algorithm = algorithms_config.Algorithm
METRIC_NAMES = ("test_rmse", "test_mae")
ROUND_FIELDS = (
    "train_loss",
    "train_rmse",
    "train_mae",
    "test_rmse",
    "test_mae",
    *base.ROUND_FIELDS[1:],
)


def shuffle_seed(seed: int, round_num: int) -> int:
    """The seed of every client's local shuffle in round `round_num`."""
    return seed * 1_000_003 + round_num


def datasets_fn(
    data: client_data_lib.FederatedData,
    *,
    batch_size: int,
    epochs: int,
    user_key: str,
    seed: int,
) -> client_data_lib.ClientDataFn:
    """Each client's rating examples as a `tf.data` dataset of batches,
    reshuffled every round from `seed`."""

    def build(clients: np.ndarray, round_num: int) -> list:
        return [
            client_data_lib.client_batches(
                data,
                k,
                batch_size=batch_size,
                epochs=epochs,
                shuffle_seed=shuffle_seed(seed, round_num),
                user_key=user_key,
            )
            for k in clients
        ]

    return build


def tensors_fn(
    data: client_data_lib.FederatedData, *, user_key: str, seed: int
) -> client_data_lib.ClientDataFn:
    """Client data for a process made by `batching_process`: each client's
    arrays (`client_data.client_tensors`), which the process batches as
    `datasets_fn` would."""

    def build(clients: np.ndarray, round_num: int) -> list:
        return [
            client_data_lib.client_tensors(
                data, k, shuffle_seed=shuffle_seed(seed, round_num), user_key=user_key
            )
            for k in clients
        ]

    return build


def batching_process(
    process: tff.learning.templates.LearningProcess, *, batch_size: int, epochs: int
) -> tff.learning.templates.LearningProcess:
    """`process` with each client's batching moved into the round.

    The returned process's ``next`` takes the clients' arrays (`tensors_fn`)
    instead of their datasets, and builds on each client the batches
    `datasets_fn` would have made (same elements, same order, hence the same
    rounds). It is faster: no `tf.data` pipeline is built in Python and
    serialized per client, and the in-process runtime feeds the arrays
    straight into the round's graph. `initialize`, `get_model_weights` and
    `set_model_weights` are `process`'s own.

    Raises:
      TypeError: if `process` does not take rating batches
        ``<x=<user=int32,item=int32>,y=float32[?,1]>``.
    """
    return tff.simulation.compose_dataset_computation_with_learning_process(
        client_data_lib.batches_computation(batch_size=batch_size, epochs=epochs),
        process,
    )


def test_metrics(
    metrics: rating_metrics.RatingMetrics, prefix: str = ""
) -> dict[str, float]:
    """``test_rmse`` and ``test_mae`` (after `prefix`) of `metrics`."""
    return {f"{prefix}test_rmse": metrics.rmse, f"{prefix}test_mae": metrics.mae}


def initial_global_bias(
    ratings: np.ndarray,
    *,
    private: bool,
    scale: rating_scale.RatingScale | None = None,
) -> float:
    """The model's global bias: a constant the clients never update.

    Without DP it is the mean training rating (in deployment, one federated
    mean). With DP that mean, or any statistic of the private ratings, would
    be released without noise, so the middle of the declared rating scale is
    used instead, a public prior; with reconstruction each user's local bias
    absorbs the offset.

    Raises:
      tff_rec.errors.UserInputError: a private run without a declared scale.
    """
    if private:
        return float(rating_scale.public_offset(scale))
    return float(np.mean(ratings))


class RatingTask(base.Task):
    """Star-rating prediction with biased matrix factorization."""

    metric_names = METRIC_NAMES
    round_fields = ROUND_FIELDS

    def __init__(self, config, data):
        super().__init__(config, data)
        self._global_bias = initial_global_bias(
            data.split.train.ratings, private=config.is_dp, scale=data.rating_scale
        )
        # The baselines' models, kept for the per-client report.
        self._central = self._local = None

    def model_fn(self, num_users: int):
        model = self.config.model
        init = {} if model.init_stddev is None else {"init_stddev": model.init_stddev}
        num_items = self.data.interactions.num_items

        def build():
            return mf.build_matrix_factorization(
                num_users,
                num_items,
                embedding_dim=model.embedding_dim,
                l2=model.l2,
                bias_l2=model.bias_l2,
                global_bias=self._global_bias,
                seed=self.config.seed,
                **init,
            )

        return build

    def loss_fn(self):
        return losses.rating_loss()

    def metrics_fn(self):
        return losses.rating_metrics()

    def client_inputs(self, process, *, attacked: bool):
        federated = self.config.federated
        if attacked:
            return process, datasets_fn(
                self.data.federated,
                batch_size=federated.batch_size,
                epochs=federated.dataset_epochs,
                user_key=federated.user_key,
                seed=self.config.seed,
            )
        return batching_process(
            process, batch_size=federated.batch_size, epochs=federated.dataset_epochs
        ), tensors_fn(
            self.data.federated, user_key=federated.user_key, seed=self.config.seed
        )

    def global_weights(
        self, process, state
    ) -> rating_metrics.MatrixFactorizationWeights:
        """The model tables held by the server in `state`.

        For reconstruction only the global (item) tables exist on the server.
        """
        model_weights = process.get_model_weights(state)
        if self.config.algorithm is Algorithm.FEDRECON:
            model = self.model_fn(self.data.federated.max_users_per_client)()
            layers = model.global_layers
            variables = [w for layer in layers for w in layer.trainable_weights]
            variables += [w for layer in layers for w in layer.non_trainable_weights]
            values = list(model_weights.trainable) + list(model_weights.non_trainable)
            by_name = {
                v.name: np.asarray(value)
                for v, value in zip(variables, values, strict=True)
            }

            def find(layer_name):
                return next(v for k, v in by_name.items() if k.startswith(layer_name))

            return rating_metrics.MatrixFactorizationWeights(
                item_embedding=find(mf.ITEM_EMBEDDING),
                item_bias=find(mf.ITEM_BIAS)[:, 0],
                global_bias=float(find(mf.GLOBAL_BIAS)),
            )
        model = self.model_fn(self.data.interactions.num_users)()
        model_weights.assign_weights_to(model.keras_model)
        return rating_metrics.MatrixFactorizationWeights.from_keras(model.keras_model)

    def evaluate_weights(
        self, weights: rating_metrics.MatrixFactorizationWeights
    ) -> rating_metrics.RatingMetrics:
        """Test metrics of server-side tables (reconstructing users if needed)."""
        if self.config.algorithm is Algorithm.FEDRECON:
            return rating_metrics.evaluate_reconstruction(
                weights,
                self.data.history,
                self.data.split.test,
                l2=self.config.model.l2,
                bias_l2=self.config.model.bias_l2,
            )
        return rating_metrics.evaluate_global_model(weights, self.data.split.test)

    def evaluate(self, process, state) -> dict[str, float]:
        return test_metrics(self.evaluate_weights(self.global_weights(process, state)))

    def finish(self, process, state, final) -> base.Trained:
        weights = self.global_weights(process, state)
        if all(k in final for k in METRIC_NAMES):
            results = {k: final[k] for k in METRIC_NAMES}
        else:
            results = test_metrics(self.evaluate_weights(weights))
        return base.Trained(results, weights.arrays())

    def _baseline_options(self) -> dict[str, Any]:
        evaluation = self.config.evaluation
        return dict(
            embedding_dim=self.config.model.embedding_dim,
            l2=evaluation.centralized_l2,
            bias_l2=self.config.model.bias_l2,
            epochs=evaluation.centralized_epochs,
            batch_size=evaluation.centralized_batch_size,
            learning_rate=evaluation.centralized_learning_rate,
            seed=self.config.seed,
        )

    def _centralized(self):
        split = self.data.split
        return baselines_lib.train_centralized(
            split.train, split.test, **self._baseline_options()
        )

    def _local_only(self):
        split = self.data.split
        return baselines_lib.train_local_only(
            split.train, split.test, self.data.partition, **self._baseline_options()
        )

    def train_centralized(self) -> base.Trained:
        central = self._centralized()
        return base.Trained(
            {**test_metrics(central.metrics), "rounds": central.epochs},
            central.weights.arrays(),
        )

    def train_local_only(self) -> base.Trained:
        local = self._local_only()
        return base.Trained({**test_metrics(local.metrics), "rounds": local.epochs})

    def baselines(self) -> dict[str, Any]:
        epochs = self.config.evaluation.centralized_epochs
        base.announce(f"Baseline: centralized training ({epochs} epochs)")
        central = self._central = self._centralized()
        results: dict[str, Any] = {
            **test_metrics(central.metrics, "centralized_"),
            "centralized_examples_per_second": central.examples_per_second,
        }
        if self.data.split.test_history is not None:
            # Held-out users are not participants: they have no local model.
            return {
                **results,
                "local_only_test_rmse": None,
                "local_only_test_mae": None,
            }
        base.announce(
            f"Baseline: local-only training of {self.data.partition.num_clients} "
            f"participants ({epochs} epochs)"
        )
        self._local = self._local_only()
        return {**results, **test_metrics(self._local.metrics, "local_only_")}

    def client_report(self, trained: base.Trained) -> list[dict[str, Any]] | None:
        if self._central is None or self._local is None or trained.weights is None:
            return None
        weights = rating_metrics.MatrixFactorizationWeights(**trained.weights)
        model = self.config.model
        if weights.user_embedding is None:
            weights = rating_metrics.reconstruct_users(
                weights, self.data.history, l2=model.l2, bias_l2=model.bias_l2
            )
        federated = self.config.federated
        split = self.data.split
        base.announce(
            f"Per-client report: {self.data.partition.num_clients} clients, "
            "each fine-tuning the global model on its own data"
        )
        return per_client_lib.rating_report(
            split.train,
            split.test,
            self.data.partition,
            global_weights=weights,
            local_predictions=self._local.predictions,
            centralized_weights=self._central.weights,
            finetuning=per_client_lib.FineTuning(
                batch_size=federated.batch_size,
                l2=model.l2,
                bias_l2=model.bias_l2,
                seed=self.config.seed,
            ),
        )

    @staticmethod
    def format_results(results: dict[str, Any]) -> str:
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
            f"{'algorithm':<24}{'test RMSE':>10}{'test MAE':>10}{'rounds':>8}"
            f"{'wall s':>9}"
        ]
        for name, rmse, mae, rounds, wall in rows:
            lines.append(
                f"{name:<24}{cell(rmse, '.4f'):>10}{cell(mae, '.4f'):>10}"
                f"{cell(rounds, 'd'):>8}{cell(wall, '.1f'):>9}"
            )
        if results.get("per_client"):
            lines += ["", per_client_lib.format_table(results["per_client"])]
        return "\n".join(lines)
