"""Rating-value inference by the server: what did a client rate each item?

On a rated item i, a client's SGD moves the item's bias and vector along
its prediction error: its update of ``b_i`` is proportional to the sum of
``(prediction - r_ui)`` over its steps, and its update of ``q_i`` to the
same error times its user vector ``p_u`` (plus the L2 penalty's pull). So
the item-vector updates of one client all point along its user vector: the
server estimates ``p_u`` (up to scale) by regressing them on the bias
updates, and with it the user's prediction ``p_u . q_i`` of every item; the
bias update then says how far the rating is from that prediction (Chai,
Wang, Chen and Yang, "Secure Federated Matrix Factorization", IEEE
Intelligent Systems 2020, arXiv:1906.05108, recover ratings exactly from
one plain gradient step). The features, per rated item: the broadcast item
bias (what the model predicts without the user), the bias update, the
update's projection on the broadcast item vector and its norm, the
estimated ``p_u . q_i``, and the bias update relative to the client's
typical one; per client: the averages of the updates over its rated rows
(its mean rating shifts them all), the norm of the estimated user vector
and the typical bias update.

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
      ``[len(items), 12]``: 1, the broadcast item bias, the bias update, the
      update's projection on the broadcast item vector, its norm; the
      client's averages of the last three over the rows its upload touches;
      the estimated user vector's prediction of the item, the bias update
      over the client's mean absolute bias update, the estimated user
      vector's norm and that mean absolute bias update.
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
    # dq_i ~ db_i * p_u on every touched row: least squares for p_u.
    energy = float(np.sum(np.square(db[touched])))
    user = db[touched] @ dq[touched] / energy if energy > 0 else np.zeros(q.shape[1])
    typical = float(np.mean(np.abs(db[touched]))) if touched.any() else 0.0
    per_item = np.stack(
        [
            np.ones(len(items)),
            b[items],
            db[items],
            projection[items],
            norm[items],
        ],
        axis=1,
    )
    estimated = np.stack(
        [q[items] @ user, db[items] / typical if typical > 0 else db[items] * 0],
        axis=1,
    )
    per_client = np.tile(
        [*means, float(np.linalg.norm(user)), typical], (len(items), 1)
    )
    return np.concatenate(
        [per_item, per_client[:, :3], estimated, per_client[:, 3:]], axis=1
    )


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
