"""Interaction inference by the server: which items did a client rate?

A client's SGD touches only the item rows it rated (the per-example L2
penalty too), so the item-table rows of its update are non-zero exactly at
its rated items; sparse rows send those indices outright. The attack scores
every item from what the server receives in one round:

* a client's own message: the L2 norm of the item's rows (embedding and
  bias) in it;
* with secure aggregation, the cohort's sum: the norm of the item's rows in
  the sum (other clients' items mix in as the cohort grows);
* with sparse rows under secure aggregation, each message's row indices
  (rated items and decoys) and the sum: an item among the client's rows
  scores above every item outside them, and the sum's row norm orders items
  within each set (a decoy row is zero in the sum unless another client
  rated it).

Its success is the ROC AUC of rated vs unrated items per client, and the
precision at the client's number of rated items. Chai, Wang, Chen and Yang,
"Secure Federated Matrix Factorization", IEEE Intelligent Systems 2020,
arXiv:1906.05108, show the stronger result that plain FedMF gradients give
away the ratings themselves (`tff_rec.privacy.audit.rating_value`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tff_rec.privacy.audit import observations as observations_lib
from tff_rec.privacy.audit import statistics

Observation = observations_lib.Observation


def row_norms(
    tensors: Sequence[np.ndarray], item_positions: Sequence[int]
) -> np.ndarray:
    """Per item: the L2 norm of its rows across the item tables."""
    squares = [
        np.sum(np.square(tensors[i].reshape(len(tensors[i]), -1)), axis=1)
        for i in item_positions
    ]
    return np.sqrt(np.sum(squares, axis=0))


def item_scores(
    observed: observations_lib.Observations, item_positions: Sequence[int]
) -> np.ndarray:
    """The server's score of every item for the audited client (higher: more
    likely rated), from what `observed` grants it."""
    if observed.has(Observation.CLIENT_UPLOAD):
        return row_norms(observed[Observation.CLIENT_UPLOAD], item_positions)
    norms = row_norms(observed[Observation.SECURE_SUM], item_positions)
    if not observed.has(Observation.CLIENT_ROW_INDICES):
        return norms
    sent = np.zeros(len(norms))
    sent[observed[Observation.CLIENT_ROW_INDICES]] = 1.0
    largest = float(norms.max())
    return sent + 0.5 * (norms / largest if largest > 0 else norms)


def evaluate(scores: np.ndarray, rated: np.ndarray) -> tuple[float, float]:
    """(ROC AUC of rated vs unrated items, precision at the number rated)."""
    labels = np.zeros(len(scores), bool)
    labels[rated] = True
    auc = statistics.roc_auc(scores[labels], scores[~labels])
    precision = statistics.precision_at_k(scores, labels, int(labels.sum()))
    return auc, precision
