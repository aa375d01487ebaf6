"""Stops training at the first round whose loss or global model is not finite.

Without it a diverged run trains on to its last round and reports ``nan``.
`DivergenceGuard` checks the clients' training loss and the server's model
weights after every round; at the first non-finite one it marks the round
diverged (the round loop then neither evaluates nor checkpoints it, so the
newest checkpoint is the last finite state) and stops training with a
message naming the round, the likely cause and the settings to change.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow_federated as tff

from tff_rec.training import hooks


class DivergenceGuard(hooks.RoundHook):
    """Marks the first non-finite round diverged and stops training.

    Args:
      process: gives the server's model weights of a state.
      advice: what to change, for the message ("lower --server_learning_rate
        (now 25)").
    """

    def __init__(self, process: tff.learning.templates.LearningProcess, advice: str):
        self._process = process
        self._advice = advice

    def _problem(self, result: hooks.RoundResult) -> str | None:
        loss = result.row.get("train_loss")
        if loss is not None and not math.isfinite(loss):
            return f"the training loss is {loss}"
        weights = self._process.get_model_weights(result.state)
        for tensor in (*weights.trainable, *weights.non_trainable):
            if not np.all(np.isfinite(tensor)):
                return "the global model has non-finite weights"
        return None

    def after_round(self, result: hooks.RoundResult) -> None:
        problem = self._problem(result)
        if problem is None:
            return
        result.diverged = True
        result.stop = (
            f"training diverged at round {result.number}: {problem}; the step "
            f"sizes are likely too large for this data: {self._advice}"
        )
