"""Store by store: does joining the federation help each participant?

The question a store asks before joining a cross-silo federation is not
whether the average participant gains, but whether *it* does. For every
client of a cross-silo partition this module scores, on that client's own
test data:

* ``global``: the federated model (its users' factors as the federation
  trained them, or reconstructed from the users' training ratings);
* ``local``: the client's own local-only model (`baselines.train_local_only`);
* ``finetuned``: the global model after a few epochs of SGD on the client's
  own training data (what a store would deploy);
* ``centralized``: the model trained on all data pooled, the ceiling.

``gain_rmse`` is the local-only RMSE minus the better of the global and the
fine-tuned one: positive where federating helped that client.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import partition as partition_lib
from tff_rec.evaluation import rating_metrics

DEFAULT_FINETUNE_EPOCHS = 1
DEFAULT_FINETUNE_LEARNING_RATE = 0.05
DEFAULT_FINETUNE_BATCH_SIZE = 16
MODELS = ("global", "local", "finetuned", "centralized")


@dataclasses.dataclass(frozen=True)
class FineTuning:
    """SGD on one client's training data, from the global model.

    Attributes:
      epochs: passes over the client's data (0: no fine-tuning, the global
        model's scores are repeated).
      learning_rate: SGD step on the mean loss of a batch.
      batch_size: examples per step.
      l2, bias_l2: the model's per-example penalties.
      seed: shuffling seed.
    """

    epochs: int = DEFAULT_FINETUNE_EPOCHS
    learning_rate: float = DEFAULT_FINETUNE_LEARNING_RATE
    batch_size: int = DEFAULT_FINETUNE_BATCH_SIZE
    l2: float = 0.0
    bias_l2: float = 0.0
    seed: int = 0


def finetune(
    weights: rating_metrics.MatrixFactorizationWeights,
    train: interactions_lib.Interactions,
    rows: np.ndarray,
    options: FineTuning,
) -> rating_metrics.MatrixFactorizationWeights:
    """`weights` after `options.epochs` of minibatch SGD on `train[rows]`.

    The loss is the training objective of `tff_rec.models.
    matrix_factorization` (squared error plus per-example L2 on the
    embeddings and biases the example touches); the global bias stays fixed
    as in federated training. Only the tables' rows of the client's users and
    items change; the input is not modified.
    """
    p = np.array(weights.user_embedding, np.float64)
    b_u = np.array(weights.user_bias, np.float64)
    q = np.array(weights.item_embedding, np.float64)
    b_i = np.array(weights.item_bias, np.float64)
    rng = np.random.default_rng(options.seed)
    users, items, ratings = train.users[rows], train.items[rows], train.ratings[rows]
    lr, l2, bias_l2 = options.learning_rate, options.l2, options.bias_l2
    for _ in range(options.epochs):
        order = rng.permutation(len(rows))
        for start in range(0, len(order), options.batch_size):
            batch = order[start : start + options.batch_size]
            u, i, r = users[batch], items[batch], ratings[batch]
            pu, qi = p[u], q[i]
            error = weights.global_bias + b_u[u] + b_i[i] + np.sum(pu * qi, 1) - r
            scale = 2.0 * lr / len(batch)
            np.add.at(p, u, -scale * (error[:, None] * qi + l2 * pu))
            np.add.at(q, i, -scale * (error[:, None] * pu + l2 * qi))
            np.add.at(b_u, u, -scale * (error + bias_l2 * b_u[u]))
            np.add.at(b_i, i, -scale * (error + bias_l2 * b_i[i]))
    return rating_metrics.MatrixFactorizationWeights(
        item_embedding=q,
        item_bias=b_i,
        global_bias=weights.global_bias,
        user_embedding=p,
        user_bias=b_u,
    )


def client_of_test_rows(
    train: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    partition: partition_lib.Partition,
) -> np.ndarray:
    """The client holding each test row's user (-1: none, a held-out user)."""
    client_of_user = np.full(train.num_users, -1, np.int64)
    for k, rows in enumerate(partition.client_indices):
        client_of_user[train.users[rows]] = k
    return client_of_user[test.users]


def rating_report(
    train: interactions_lib.Interactions,
    test: interactions_lib.Interactions,
    partition: partition_lib.Partition,
    *,
    global_weights: rating_metrics.MatrixFactorizationWeights,
    local_predictions: np.ndarray,
    centralized_weights: rating_metrics.MatrixFactorizationWeights,
    finetuning: FineTuning | None = None,
) -> list[dict[str, Any]]:
    """Each client's test RMSE/MAE under the four models (module docstring).

    Args:
      train: training interactions; `partition` indexes its rows.
      test: test interactions, every user a participant's.
      partition: the clients.
      global_weights: the federated model, with user tables (reconstructed
        for Federated Reconstruction).
      local_predictions: the local-only baseline's prediction of every
        test row (`baselines.BaselineResult.predictions`).
      centralized_weights: the centralized baseline's model.
      finetuning: how each client fine-tunes the global model; None means
        `FineTuning()`.

    Returns:
      One dict per client, in partition order: ``client_id``,
      ``num_users``, ``num_examples`` (training), ``num_test_examples``,
      ``<model>_test_rmse`` and ``<model>_test_mae`` for each of `MODELS`,
      ``gain_rmse`` and ``federation_helps`` (the gain is positive). A
      client without test rows gets None metrics.

    Raises:
      ValueError: if a test user belongs to no client.
    """
    finetuning = FineTuning() if finetuning is None else finetuning
    owner = client_of_test_rows(train, test, partition)
    if np.any(owner < 0):
        raise ValueError("a per-client report needs every test user in a client")
    report = []
    for k, (client_id, rows) in enumerate(
        zip(partition.client_ids, partition.client_indices, strict=True)
    ):
        test_rows = np.flatnonzero(owner == k)
        row: dict[str, Any] = {
            "client_id": client_id,
            "num_users": int(len(np.unique(train.users[rows]))),
            "num_examples": int(len(rows)),
            "num_test_examples": int(len(test_rows)),
        }
        if not len(test_rows):
            row.update({f"{m}_test_{s}": None for m in MODELS for s in ("rmse", "mae")})
            row.update(gain_rmse=None, federation_helps=None)
            report.append(row)
            continue
        users, items = test.users[test_rows], test.items[test_rows]
        ratings = test.ratings[test_rows]
        tuned = finetune(global_weights, train, rows, finetuning)
        predictions = {
            "global": global_weights.predict(users, items),
            "local": local_predictions[test_rows],
            "finetuned": tuned.predict(users, items),
            "centralized": centralized_weights.predict(users, items),
        }
        for model in MODELS:
            metrics = rating_metrics.from_predictions(ratings, predictions[model])
            row[f"{model}_test_rmse"] = metrics.rmse
            row[f"{model}_test_mae"] = metrics.mae
        best = min(row["global_test_rmse"], row["finetuned_test_rmse"])
        row["gain_rmse"] = row["local_test_rmse"] - best
        row["federation_helps"] = bool(row["gain_rmse"] > 0)
        report.append(row)
    return report


def format_table(report: list[dict[str, Any]]) -> str:
    """The report as a table: one line per client, RMSE of each model."""

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    header = (
        f"{'client':<12}{'customers':>10}{'examples':>9}"
        + "".join(f"{m:>12}" for m in MODELS)
        + f"{'gain':>9}"
    )
    lines = ["Test RMSE per client:", header]
    for row in report:
        lines.append(
            f"{str(row['client_id'])[:11]:<12}{row['num_users']:>10d}"
            f"{row['num_examples']:>9d}"
            + "".join(f"{cell(row[f'{m}_test_rmse'], '.4f'):>12}" for m in MODELS)
            + f"{cell(row['gain_rmse'], '+.4f'):>9}"
        )
    helped = sum(bool(row["federation_helps"]) for row in report)
    lines.append(
        f"{helped} of {len(report)} clients do better with the global or "
        "fine-tuned model than alone"
    )
    return "\n".join(lines)
