"""What a task owns: its side of every stage of a run.

The trainer (`tff_rec.training.experiment`) never asks which task it runs:
a `Task` gives it the model and loss to build the learning process from,
the clients' data for each round, the evaluation of the server's model
(reconstructing users for Federated Reconstruction), the baselines, what is
saved, and the final table. `tff_rec.tasks.rating.RatingTask` predicts star
ratings; `tff_rec.tasks.implicit.ImplicitTask` ranks items from implicit
feedback. In the spirit of TensorFlow Recommenders' ``tasks.Ranking`` (a
task owns its loss and metrics), grown to the whole run.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import console
from tff_rec.data import client_data
from tff_rec.data import preparation
from tff_rec.models import matrix_factorization as mf

# The ``metrics.csv`` columns every task has.
ROUND_FIELDS = (
    "train_loss",
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


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained model's results and what of it is saved.

    Attributes:
      results: ``results.json`` entries (test metrics, ...).
      weights: the arrays saved as ``final_weights.npz`` (the server's
        model), or None when there is no single model (local-only).
    """

    results: Mapping[str, Any]
    weights: Mapping[str, np.ndarray] | None = None


def announce(message: str) -> None:
    """A progress line on stderr (stdout keeps the results)."""
    console.announce(message)


def prefixed(prefix: str, metrics) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}


class Task(abc.ABC):
    """A task's side of one run.

    Args:
      config: the run (a `tff_rec.training.config.TrainConfig`).
      data: its prepared data.
    """

    def __init__(self, config, data: preparation.PreparedData):
        self.config = config
        self.data = data

    # The model.
    @abc.abstractmethod
    def model_fn(self, num_users: int) -> Callable[[], mf.RecommenderModel]:
        """A factory of the run's model with a user table of `num_users` rows."""

    @abc.abstractmethod
    def loss_fn(self) -> tf.keras.losses.Loss:
        """The training loss (a new one per call: TFF builds one per client)."""

    @abc.abstractmethod
    def metrics_fn(self) -> list[tf.keras.metrics.Metric]:
        """The clients' training metrics (new ones per call)."""

    # The rounds.
    @property
    @abc.abstractmethod
    def metric_names(self) -> tuple[str, ...]:
        """The test metrics of the run (``results.json`` keys)."""

    @property
    @abc.abstractmethod
    def round_fields(self) -> tuple[str, ...]:
        """The ``metrics.csv`` columns of a run."""

    @abc.abstractmethod
    def client_inputs(
        self, process: tff.learning.templates.LearningProcess, *, attacked: bool
    ) -> tuple[tff.learning.templates.LearningProcess, client_data.ClientDataFn]:
        """The process to run and the function building each round's data.

        Args:
          process: the built learning process.
          attacked: the process was built by
            `tff_rec.training.attacks.build_attacked_process`: its clients'
            data must be `tf.data` datasets.

        Returns:
          ``(process, client_data_fn)``: `process`, or one that batches the
          clients' arrays inside the round (faster, same rounds).
        """

    @abc.abstractmethod
    def evaluate(self, process, state) -> dict[str, float]:
        """Test metrics of the server's model in `state`."""

    @abc.abstractmethod
    def finish(self, process, state, final: Mapping[str, float]) -> Trained:
        """The final model's results (test metrics, ...) and weights.

        Args:
          process, state: the trained process and its last state.
          final: the last round's row (test metrics if it was evaluated).
        """

    # Without federation, and the baselines.
    @abc.abstractmethod
    def train_centralized(self) -> Trained:
        """The model trained on the pooled data."""

    @abc.abstractmethod
    def train_local_only(self) -> Trained:
        """Each participant trains alone: the averaged results, no weights."""

    @abc.abstractmethod
    def baselines(self) -> dict[str, Any]:
        """Centralized and local-only metrics on the same split, prefixed."""

    @staticmethod
    @abc.abstractmethod
    def format_results(results: dict[str, Any]) -> str:
        """The final table of a run's results."""

    def client_report(self, trained: Trained) -> list[dict[str, Any]] | None:
        """Each client's test metrics under the federated, local-only,
        fine-tuned and centralized models (`tff_rec.evaluation.per_client`),
        after `baselines`; None where the task has no such report."""
        del trained
        return None
