"""Membership inference against the released model: was this user trained on?

The attacker holds the released model (or its SavedModel) and a candidate
user's ratings. A member's ratings shaped the model, so it fits them better
than a stranger's. Some users are easy to fit whatever the model, so the
score is calibrated by the user's own difficulty (Watson, Guo, Cormode and
Sablayrolles, "On the Importance of Difficulty Calibration in Membership
Inference Attacks", ICLR 2022, arXiv:2111.08440): it is how much training
lowered the user's mean squared error, from the initial model (drawn from
the seed, without data, so public) to the released one. With
reconstruction, the model holds no user rows: the attacker solves the
user's factors from the ratings with the items frozen (as a client would,
`tff_rec.evaluation.rating_metrics.reconstruct_users`) and scores the fit.
FedAvg releases every member's own user row, which it uses instead (a
non-member's row never left its initial value).

Success is the ROC AUC of members vs non-members (held-out users) and the
true-positive rate at a low false-positive rate. Under (epsilon, delta)-DP
with one user per client, no test does better than
`tff_rec.privacy.audit.statistics.dp_tpr_bound`.
"""

from __future__ import annotations

import numpy as np

from tff_rec.data import interactions as interactions_lib
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy.audit import observations as observations_lib

Observation = observations_lib.Observation


def mean_squared_errors(
    weights: rating_metrics.MatrixFactorizationWeights,
    candidates: interactions_lib.Interactions,
    users: np.ndarray,
    *,
    reconstruct: bool,
    l2: float,
    bias_l2: float,
) -> np.ndarray:
    """Each of `users`' mean squared error on their ratings under `weights`.

    Args:
      weights: the model.
      candidates: the candidates' ratings.
      users: the users to score (ids in `candidates`).
      reconstruct: solve the users' factors from their ratings (the model
        has no user rows).
      l2, bias_l2: the model's per-example penalties (for reconstruction).
    """
    if reconstruct:
        weights = rating_metrics.reconstruct_users(
            weights, candidates, l2=l2, bias_l2=bias_l2
        )
    errors = np.square(
        weights.predict(candidates.users, candidates.items) - candidates.ratings
    )
    total = np.bincount(candidates.users, errors, minlength=candidates.num_users)
    count = np.bincount(candidates.users, minlength=candidates.num_users)
    return total[users] / np.maximum(count[users], 1)


def user_scores(
    observed: observations_lib.Observations,
    candidates: interactions_lib.Interactions,
    users: np.ndarray,
    **options,
) -> np.ndarray:
    """The membership score of each of `users` (higher: more likely member):
    the drop of their mean squared error from the initial to the released
    model.

    Args:
      observed: grants the initial and released models
        (`rating_metrics.MatrixFactorizationWeights`).
      candidates, users: as for `mean_squared_errors`.
      **options: `mean_squared_errors`' ``reconstruct``, ``l2``, ``bias_l2``.
    """
    before = mean_squared_errors(
        observed[Observation.INITIAL_MODEL], candidates, users, **options
    )
    after = mean_squared_errors(
        observed[Observation.RELEASED_MODEL], candidates, users, **options
    )
    return before - after
