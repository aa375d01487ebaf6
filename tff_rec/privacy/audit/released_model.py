"""Attacks on the released model: membership inference and canary epsilon.

Both read what anyone holding the released model (or its SavedModel) has:
the trained model, and the initial one (drawn from the seed, without data).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tff_rec.privacy import accounting
from tff_rec.privacy.audit import canary_epsilon
from tff_rec.privacy.audit import membership
from tff_rec.privacy.audit import observations as observations_lib
from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import statistics
from tff_rec.privacy.audit import threat_model
from tff_rec.privacy.audit.runs import TrainedRun

Observation = threat_model.Observation
Party = threat_model.Party
blank_row = report.new_row
LOW_FPRS = (0.01, 0.001)


def membership_row(audit, run: TrainedRun, name: str, epsilon: float | None) -> dict:
    """Membership inference against `run`'s released model.

    Args:
      audit: the `runner.Audit` (its data: members are the training users,
        non-members the held-out ones, each scored on all their ratings).
      run: the trained run.
      name: the row's ``config``.
      epsilon: the run's accountant epsilon (None without DP): the row then
        checks the TPR at each of `LOW_FPRS` against the DP bound.
    """
    split = audit.data.split
    train, history, test = split.train, split.test_history, split.test
    candidates = dataclasses.replace(
        train,
        users=np.concatenate([train.users, history.users, test.users]),
        items=np.concatenate([train.items, history.items, test.items]),
        ratings=np.concatenate([train.ratings, history.ratings, test.ratings]),
        timestamps=None,
    )
    members = np.unique(train.users)
    non_members = np.unique(test.users)
    config = threat_model.Configuration(name, name, dict(run.config.privacy.given()))
    observed = observations_lib.Observations(
        Party.MODEL_HOLDER,
        config,
        {
            Observation.INITIAL_MODEL: run.initial_tables,
            Observation.RELEASED_MODEL: run.released,
        },
    )
    model = run.config.model
    options = dict(reconstruct=audit.reconstruct, l2=model.l2, bias_l2=model.bias_l2)
    inside = membership.user_scores(observed, candidates, members, **options)
    outside = membership.user_scores(observed, candidates, non_members, **options)
    row = blank_row(audit.algorithm.value, name, "membership", Party.MODEL_HOLDER)
    auc = statistics.roc_auc(inside, outside)
    low, high = statistics.bootstrap_ci(
        statistics.roc_auc,
        (inside, outside),
        num_resamples=audit.options.bootstrap,
        seed=audit.options.seed,
    )
    row.update(
        tensors_read=list(observed.read),
        auc=auc,
        auc_ci_low=low,
        auc_ci_high=high,
        members=len(members),
        non_members=len(non_members),
        resolvable_fpr=statistics.resolvable_fpr(len(non_members)),
        test_rmse=run.test_rmse,
        scoring="error drop from the initial model, "
        + ("reconstructed user factors" if audit.reconstruct else "released user rows"),
    )
    delta = None if run.spec is None else run.spec.delta
    row["epsilon_accountant"] = epsilon
    for fpr in LOW_FPRS:
        key = f"tpr_at_{fpr:g}_fpr"
        row[key] = statistics.tpr_at_fpr(inside, outside, fpr)
        _, high = statistics.bootstrap_ci(
            lambda a, b, fpr=fpr: statistics.tpr_at_fpr(a, b, fpr),
            (inside, outside),
            num_resamples=audit.options.bootstrap,
            seed=audit.options.seed,
        )
        row[f"{key}_ci_high"] = high
        if epsilon is not None:
            bound = statistics.dp_tpr_bound(fpr, epsilon, delta)
            row[f"{key}_dp_bound"] = bound
            row[f"{key}_within_bound"] = bool(row[key] <= bound)
    return row


def canary_row(audit, run: TrainedRun, name: str, epsilon: float, broken: bool) -> dict:
    """The one-shot empirical epsilon of `run` (a DP run with canaries).

    Args:
      audit: the `runner.Audit`.
      run: a DP run trained with canaries.
      name: the row's ``config``.
      epsilon: the epsilon the run was calibrated to.
      broken: the run added less noise than its accountant was told.
    """
    update = [
        np.asarray(a, np.float64) - np.asarray(b, np.float64)
        for a, b in zip(run.initial.trainable, run.final.trainable, strict=True)
    ]
    inserted, held_out = run.canaries.cosines(update)
    estimate = canary_epsilon.estimate_epsilon(
        inserted,
        held_out,
        run.spec.delta,
        num_resamples=audit.options.bootstrap,
        seed=audit.options.seed,
        equal_variance=True,
    )
    row = blank_row(audit.algorithm.value, name, "canary_epsilon", Party.MODEL_HOLDER)
    row.update(
        tensors_read=[
            Observation.INITIAL_MODEL.value,
            Observation.RELEASED_MODEL.value,
        ],
        epsilon_accountant=accounting.epsilon(run.spec, run.config.federated.rounds),
        epsilon_empirical=estimate.epsilon,
        epsilon_empirical_ci_low=estimate.ci_low,
        epsilon_empirical_ci_high=estimate.ci_high,
        broken_dp=broken,
        noise_multiplier_accountant=run.spec.noise_multiplier,
        noise_multiplier_applied=run.spec.noise_multiplier * (0.1 if broken else 1.0),
        delta=run.spec.delta,
        canaries_inserted=len(inserted),
        canaries_held_out=len(held_out),
        canary_participations=int(run.canaries.participation.sum()),
        cosine_inserted_mean=float(np.mean(inserted)),
        cosine_held_out_mean=float(np.mean(held_out)),
        cosine_held_out_std=float(np.std(held_out, ddof=1)),
        test_rmse=run.test_rmse,
    )
    # An auc for the canary test itself: inserted vs held-out cosines.
    row["auc"] = statistics.roc_auc(inserted, held_out)
    row["auc_ci_low"], row["auc_ci_high"] = statistics.bootstrap_ci(
        statistics.roc_auc,
        (inserted, held_out),
        num_resamples=audit.options.bootstrap,
        seed=audit.options.seed,
    )
    return row
