"""The model section of a run: what is learnt, by which model, with what loss."""

from __future__ import annotations

import dataclasses
import enum

from tff_rec import errors
from tff_rec import settings
from tff_rec.data import negatives as negatives_lib
from tff_rec.tasks import losses


class Task(enum.Enum):
    """What is learnt: star ratings, or which items a user interacts with."""

    RATING = "rating"
    IMPLICIT = "implicit"


class ModelType(enum.Enum):
    """The Keras recommender (see `tff_rec.models`)."""

    MF = "mf"
    GMF = "gmf"
    MLP = "mlp"
    NEUMF = "neumf"
    FEATURES = "features"


@dataclasses.dataclass(frozen=True)
class ModelConfig(settings.Section):
    """The task, the model and its loss.

    Attributes:
      task: rating prediction or implicit feedback (ranking).
      model: the Keras recommender; rating prediction takes ``mf`` only.
      loss: the implicit task's loss (BCE or BPR).
      negatives: implicit task: negatives a client samples per positive from
        its own unseen items.
      embedding_dim: size of the user and item embeddings.
      init_stddev: the embedding initializer's standard deviation; None means
        the model's own (0.05 for mf, 0.01 for gmf/mlp/neumf).
      user_init_stddev: gmf/mlp/neumf: the user embeddings' initializer (0:
        zeros); None means `init_stddev`.
      l2: per-example L2 penalty on the embeddings.
      bias_l2: per-example L2 penalty on the biases.
    """

    task: Task = settings.choice(Task, default=Task.RATING)
    model: ModelType = settings.choice(ModelType, default=ModelType.MF)
    loss: losses.LossType = settings.choice(
        losses.LossType, default=losses.LossType.BCE
    )
    negatives: int = settings.at_least(1, default=negatives_lib.DEFAULT_NEGATIVES)
    embedding_dim: int = settings.at_least(1, default=32)
    init_stddev: float | None = settings.positive(default=None)
    user_init_stddev: float | None = settings.non_negative(default=None)
    l2: float = settings.non_negative(default=0.05)
    bias_l2: float = settings.non_negative(default=0.001)

    def _check(self):
        if self.task is not Task.RATING:
            return
        if self.model is not ModelType.MF:
            raise errors.UserInputError(
                f"model={self.model.value!r} predicts interactions (a click "
                "logit), not ratings: use it with task='implicit', or "
                "model='mf' for task='rating'"
            )
        settings.reject_given(self, ("loss",), "only for task='implicit'")
