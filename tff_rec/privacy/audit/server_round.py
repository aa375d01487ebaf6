"""The server's round: one round's uploads, attacked as each configuration's
server sees them.

From the model of a finished run (without DP), the uploads of the audited
and shadow clients are collected (`tff_rec.privacy.audit.uploads`) and seen
as each configuration's server sees them (`tff_rec.privacy.audit.views`):
which items each audited client rated (`interaction`; under secure
aggregation from sums of growing cohorts drawn from the other uploads) and
the ratings' values (`rating_value`, calibrated on the shadow clients, only
where single uploads reach the server).
"""

from __future__ import annotations

import math

import numpy as np

from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy.audit import interaction
from tff_rec.privacy.audit import observations as observations_lib
from tff_rec.privacy.audit import rating_value
from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import statistics
from tff_rec.privacy.audit import threat_model
from tff_rec.privacy.audit import uploads as uploads_lib
from tff_rec.privacy.audit import views as views_lib
from tff_rec.privacy.audit.runs import TrainedRun

Observation = threat_model.Observation
Party = threat_model.Party
blank_row = report.new_row


def attack_round(audit, run: TrainedRun) -> list[dict]:
    """Rows of the attacks on one round's uploads, per configuration.

    Args:
      audit: the `runner.Audit` (its options choose the clients, the
        configurations and the cohorts).
      run: the finished run whose model the round broadcasts.
    """
    options = audit.options
    rng = np.random.default_rng([options.seed, 0x617564])
    chosen = rng.choice(
        audit.data.partition.num_clients,
        options.audited_clients + options.shadow_clients,
        replace=False,
    )
    audit.progress(
        f"Audit: collecting {len(chosen)} clients' uploads ({audit.algorithm.value})"
    )
    uploads = uploads_lib.collect_uploads(
        audit.base,
        audit.task,
        audit.data,
        run.final,
        chosen,
        round_num=options.rounds + 1,
    )
    targets = np.arange(options.audited_clients)
    shadows = np.arange(options.audited_clients, len(chosen))
    rated = [_rated(audit, int(k)) for k in chosen]
    rows = []
    for config in options.audited_configurations:
        view = views_lib.server_view(uploads, config, seed=options.seed)
        rows += _interaction_rows(audit, config, uploads, view, targets, rated)
        rows += _rating_value_rows(
            audit, config, uploads, view, targets, shadows, rated
        )
    return rows


def _rated(audit, client: int) -> tuple[np.ndarray, np.ndarray]:
    """A client's rated items (unique) and their mean rating per item."""
    federated = audit.data.federated
    rows = federated.client_rows(client)
    items, inverse = np.unique(federated.items[rows], return_inverse=True)
    ratings = np.bincount(inverse, federated.ratings[rows]) / np.bincount(inverse)
    return items, ratings


def _tensors(uploads, view, target, others=None) -> dict:
    """What the harness has of `target`'s round; with `others` (positions of
    the rest of its cohort), the cohort's secure sum."""
    tensors = {
        Observation.BROADCAST: uploads.broadcast,
        Observation.CLIENT_UPLOAD: view.messages[target],
        Observation.MESSAGE_BYTES: view.message_bytes[target],
    }
    if view.item_rows is not None:
        tensors[Observation.CLIENT_ROW_INDICES] = view.item_rows[target]
    if others is not None:
        tensors[Observation.SECURE_SUM] = view.cohort_sum(
            np.concatenate([[target], others]).astype(int)
        )
    return tensors


def _interaction_rows(audit, config, uploads, view, targets, rated) -> list[dict]:
    """One row per cohort size: the mean over `targets` of the AUC and the
    precision, with the reference of secure sums without the target (what the
    popularity of the other clients' items alone gives the attack)."""
    positions = [uploads.position(t) for t in uploads_lib.ITEM_TABLES]
    if config.name == "secure_aggregation":
        cohorts = audit.options.cohorts
    elif config.secure:
        cohorts = (audit.options.clients_per_round,)
    else:
        cohorts = (None,)
    only_sum = config.secure and not config.sparse_rows
    rows = []
    for cohort in cohorts:
        rng = np.random.default_rng([audit.options.seed, 0x636F68, cohort or 0])
        results, without, read = [], [], set()
        for target in targets:
            others = None
            if cohort is not None:
                pool = np.delete(np.arange(len(view.messages)), target)
                others = rng.choice(pool, cohort - 1, replace=False)
            observed = observations_lib.Observations(
                Party.SERVER, config, _tensors(uploads, view, target, others)
            )
            scores = interaction.item_scores(observed, positions)
            results.append(interaction.evaluate(scores, rated[target][0]))
            read.update(observed.read)
            if only_sum and cohort > 1:
                # The same cohort without the target: its sum is the rest's.
                rest = [np.asarray(t) for t in view.cohort_sum(others)]
                reference = interaction.row_norms(rest, positions)
                without.append(interaction.evaluate(reference, rated[target][0]))
        row = blank_row(audit.algorithm.value, config.name, "interaction", Party.SERVER)
        row.update(
            tensors_read=sorted(read),
            cohort=1 if cohort is None else cohort,
            decoy_rows=int(config.settings.get("decoy_rows", 0)),
            num_targets=len(targets),
            **_mean_with_ci(audit, "auc", np.array([r[0] for r in results])),
            **_mean_with_ci(audit, "precision", np.array([r[1] for r in results])),
        )
        if without:
            row.update(
                **_mean_with_ci(
                    audit, "auc_without_target", np.array([r[0] for r in without])
                )
            )
        rows.append(row)
    return rows


def _mean_with_ci(audit, name: str, values: np.ndarray) -> dict[str, float]:
    low, high = statistics.grouped_bootstrap_ci(
        lambda groups: float(np.mean(groups)),
        list(values),
        num_resamples=audit.options.bootstrap,
        seed=audit.options.seed,
    )
    return {
        name: float(np.mean(values)),
        f"{name}_ci_low": low,
        f"{name}_ci_high": high,
    }


def _rating_value_rows(
    audit, config, uploads, view, targets, shadows, rated
) -> list[dict]:
    if Observation.CLIENT_UPLOAD not in threat_model.visible(Party.SERVER, config):
        return []  # No single client's upload reaches the server.
    row = blank_row(audit.algorithm.value, config.name, "rating_value", Party.SERVER)
    tables = rating_value.ItemTables(
        embedding=uploads.position(mf.ITEM_EMBEDDING),
        bias=uploads.position(mf.ITEM_BIAS),
    )
    read = set()

    def dataset(positions):
        xs, ys = [], []
        for p in positions:
            observed = observations_lib.Observations(
                Party.SERVER, config, _tensors(uploads, view, p)
            )
            items, ratings = rated[p]
            xs.append(rating_value.rated_features(observed, tables, items))
            ys.append(ratings)
            read.update(observed.read)
        return xs, ys

    shadow_x, shadow_y = dataset(shadows)
    target_x, target_y = dataset(targets)
    x, y = np.concatenate(shadow_x), np.concatenate(shadow_y)
    full = rating_value.fit(x, y)
    bias_only = rating_value.fit(x[:, rating_value.BIAS_ONLY], y)
    per_user = [
        (
            np.sum(np.square(tx @ full - ty)),
            np.sum(np.square(tx[:, rating_value.BIAS_ONLY] @ bias_only - ty)),
            np.sum(np.square(np.mean(ty) - ty)),
            len(ty),
        )
        for tx, ty in zip(target_x, target_y, strict=True)
    ]

    def rmse(column):
        def statistic(groups):
            return float(
                math.sqrt(sum(g[column] for g in groups) / sum(g[3] for g in groups))
            )

        return statistic

    stats = {}
    for name, column in (
        ("rmse", 0),
        ("rmse_without_upload", 1),
        ("rmse_user_mean", 2),
    ):
        low, high = statistics.grouped_bootstrap_ci(
            rmse(column),
            per_user,
            num_resamples=audit.options.bootstrap,
            seed=audit.options.seed,
        )
        stats.update(
            {
                name: rmse(column)(per_user),
                f"{name}_ci_low": low,
                f"{name}_ci_high": high,
            }
        )
    row.update(tensors_read=sorted(read), num_targets=len(targets), **stats)
    return [row]
