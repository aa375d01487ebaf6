"""Rating-value inference by the server: what did a client rate each item?

On a rated item i, a client's SGD moves the item's bias and vector along
its prediction error: its update of ``b_i`` is proportional to the sum of
``(prediction - r_ui)`` over its steps, and its update of ``q_i`` to the
same error times its user vector. The server knows the broadcast model, so
from one upload it reads, per rated item, the bias update, the update's
projection on the broadcast item vector and its norm, and the item's
broadcast bias (what the model predicts without the user); and per client,
the averages of these over its rated rows (its mean rating shifts them all).

The estimator is a least-squares fit of the rating on these features,
calibrated on shadow clients whose ratings the attacker knows (clients it
controls, or public data it runs through the same model) and applied to the
audited ones. It is compared with predicting each audited user's own mean
rating, and with the same fit on the broadcast bias alone (what the server
guesses without the upload).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tff_rec.privacy.audit import observations as observations_lib

Observation = observations_lib.Observation
_RIDGE = 1e-6


@dataclasses.dataclass(frozen=True)
class ItemTables:
    """Positions of the item tables among the model's flat weights."""

    embedding: int
    bias: int


def features(
    upload: Sequence[np.ndarray],
    broadcast: Sequence[np.ndarray],
    tables: ItemTables,
    items: np.ndarray,
) -> np.ndarray:
    """The estimator's features for `items` of one client's upload.

    Returns:
      ``[len(items), 8]``: 1, the broadcast item bias, the bias update, the
      update's projection on the broadcast item vector, its norm, and the
      client's averages of the last three over the rows its upload touches.
    """
    q = broadcast[tables.embedding]
    b = broadcast[tables.bias].reshape(-1)
    dq = upload[tables.embedding]
    db = upload[tables.bias].reshape(-1)
    q_norm = np.linalg.norm(q, axis=1)
    projection = np.sum(dq * q, axis=1) / np.maximum(q_norm, 1e-12)
    norm = np.linalg.norm(dq, axis=1)
    touched = (norm > 0) | (db != 0)
    means = [
        float(np.mean(x[touched])) if touched.any() else 0.0
        for x in (db, projection, norm)
    ]
    per_item = np.stack(
        [np.ones(len(items)), b[items], db[items], projection[items], norm[items]],
        axis=1,
    )
    return np.concatenate([per_item, np.tile(means, (len(items), 1))], axis=1)


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (a tiny ridge keeps them defined)."""
    gram = x.T @ x + _RIDGE * len(x) * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


def rated_features(
    observed: observations_lib.Observations, tables: ItemTables, items: np.ndarray
) -> np.ndarray:
    """`features` of a client's `items`, read from what `observed` grants."""
    return features(
        observed[Observation.CLIENT_UPLOAD],
        observed[Observation.BROADCAST],
        tables,
        items,
    )


BIAS_ONLY = slice(0, 2)
"""The columns of the no-upload baseline: 1 and the broadcast item bias."""
