"""The evaluation section of a run: test metrics, personalization, baselines."""

from __future__ import annotations

import dataclasses

from tff_rec import settings


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(settings.Section):
    """When and how the model is scored, and what it is compared with.

    Attributes:
      eval_every: evaluate on the test split every this many rounds (and
        after the last).
      top_k: implicit task: K of HR@K, NDCG@K, Recall@K.
      eval_negatives: implicit task: sampled negatives per test item for the
        ``sampled_*`` metrics.
      personalize_steps: implicit task: after training, each client
        fine-tunes the model for this many steps and is scored on its own
        test data (0: no personalization).
      baselines: also train the centralized and local-only baselines.
      centralized_epochs, centralized_l2, centralized_batch_size,
        centralized_learning_rate: the baselines' training (Adam).
    """

    eval_every: int = settings.at_least(1, default=10)
    top_k: int = settings.at_least(1, default=10)
    eval_negatives: int = settings.at_least(1, default=99)
    personalize_steps: int = settings.at_least(0, default=0, resumable=True)
    baselines: bool = settings.flag(default=True, resumable=True)
    centralized_epochs: int = settings.at_least(1, default=15, resumable=True)
    centralized_l2: float = settings.non_negative(default=0.1, resumable=True)
    centralized_batch_size: int = settings.at_least(1, default=512, resumable=True)
    centralized_learning_rate: float = settings.positive(default=0.002, resumable=True)
