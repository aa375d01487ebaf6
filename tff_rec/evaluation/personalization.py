"""Per-client training after (or instead of) federated training.

* Personalization: each client starts from the federated model and fine-tunes
  it on its own training data for a few steps, then is scored on its own test
  data (Wang et al., "Federated Evaluation of On-device Personalization",
  arXiv:1910.10252).
* Local-only: each client trains the same model from its initialisation on
  its own data alone, the no-collaboration baseline.

Both run clients one after another through one compiled training step,
resetting the model and optimizer between clients, so a thousand clients do
not trace a thousand graphs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tff_rec.data import negatives
from tff_rec.evaluation import scoring
from tff_rec.models import matrix_factorization as mf

# (x, y) training arrays of one client: x maps input names to int arrays.
Examples = tuple[Mapping[str, np.ndarray], np.ndarray]


class ClientTrainer:
    """Trains a model on one client's examples, starting from given weights.

    Args:
      model: the recommender; its weights are overwritten for each client.
      loss: the task's loss.
      optimizer: a Keras optimizer; its state is reset for each client.
      batch_size: examples per step (whole BPR groups: a multiple of the
        group size).
    """

    def __init__(
        self,
        model: mf.RecommenderModel,
        loss: tf.keras.losses.Loss,
        optimizer: tf.keras.optimizers.Optimizer,
        *,
        batch_size: int,
    ):
        self.model = model
        self._loss = loss
        self._optimizer = optimizer
        self._batch_size = int(batch_size)
        keras_model = model.keras_model

        @tf.function(reduce_retracing=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                value = loss(y, keras_model(x, training=True))
            variables = keras_model.trainable_variables
            optimizer.apply_gradients(
                zip(tape.gradient(value, variables), variables, strict=True)
            )
            return value

        self._step = step

    def train(
        self,
        start_weights: Sequence[np.ndarray],
        examples: Examples,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        seed: int = 0,
        group_size: int = 1,
    ) -> float:
        """Sets `start_weights`, then trains; returns the last batch loss.

        Args:
          start_weights: ``keras_model.get_weights()``-ordered arrays.
          examples: the client's training examples (groups contiguous).
          steps: number of batches (cycling over shuffled epochs), or
          epochs: number of passes; exactly one of the two.
          seed: shuffle seed.
          group_size: rows kept together when shuffling.
        """
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        self.model.keras_model.set_weights(start_weights)
        for variable in self._optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        x, y = examples
        num_groups = len(y) // group_size
        if not num_groups:
            return float("nan")
        groups_per_batch = max(1, self._batch_size // group_size)
        batches_per_epoch = -(-num_groups // groups_per_batch)
        total = steps if steps is not None else epochs * batches_per_epoch
        rng = np.random.default_rng(seed)
        value = float("nan")
        done = 0
        while done < total:
            order = rng.permutation(num_groups)
            for b in range(batches_per_epoch):
                if done == total:
                    break
                picked = order[b * groups_per_batch : (b + 1) * groups_per_batch]
                rows = negatives.group_rows(picked, group_size)
                value = float(self._step(*scoring.batch_tensors(x, y, rows)))
                done += 1
        return value


def for_each_client(
    trainer: ClientTrainer,
    clients: Sequence[int],
    start_weights: Sequence[np.ndarray],
    examples: Callable[[int], Examples],
    evaluate: Callable[[int, mf.RecommenderModel], Mapping[str, np.ndarray]],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    group_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Trains and evaluates every client in turn; concatenates the results.

    Args:
      trainer: the shared `ClientTrainer`.
      clients: client indices.
      start_weights: every client's starting weights (the federated model,
        or the initialisation for local-only).
      examples: a client's training examples.
      evaluate: per-user metrics of a client's trained model (e.g.
        `RankingEvaluator.per_user` restricted to its users).
      steps, epochs: training length per client (see `ClientTrainer.train`).
      seed: per-client shuffle seeds derive from it.
      group_size: rows kept together.
      progress: called with (clients done, total).

    Returns:
      The per-user arrays of all clients, concatenated.
    """
    parts: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for n, k in enumerate(clients):
        trainer.train(
            start_weights,
            examples(k),
            steps=steps,
            epochs=epochs,
            seed=seed * 1_000_003 + int(k),
            group_size=group_size,
        )
        for name, values in evaluate(k, trainer.model).items():
            parts[name].append(np.asarray(values))
        if progress is not None:
            progress(n + 1, len(clients))
    return {name: np.concatenate(values) for name, values in parts.items()}
