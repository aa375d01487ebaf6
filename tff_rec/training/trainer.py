"""The federated stage of a run: build the process, run the rounds, finish.

`train_federated` is a short script over owners: the privacy section gives
the DP mechanism, `tff_rec.training.process` the learning process, the task
its clients' data and the evaluation of the server's model, and the round
loop (`tff_rec.training.rounds`) runs with its hooks: the privacy budget,
the malicious clients of a simulated attack, divergence detection, periodic
evaluation, the metrics release and the progress line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tff_rec import console
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.compression import byte_counts
from tff_rec.data import preparation
from tff_rec.privacy import accounting
from tff_rec.privacy import statements
from tff_rec.tasks import base as tasks_base
from tff_rec.training import attacks
from tff_rec.training import budget as budget_lib
from tff_rec.training import checkpoint as checkpoint_lib
from tff_rec.training import config as config_lib
from tff_rec.training import divergence
from tff_rec.training import hooks as hooks_lib
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import process as process_lib
from tff_rec.training import rounds as rounds_lib
from tff_rec.training import run_folder
from tff_rec.training import sampling


def _privacy_results(budget: budget_lib.PrivacyBudget, history, clip) -> dict:
    spec = budget.accountant.spec
    return {
        "epsilon": budget.accountant.epsilon(),
        "delta": spec.delta,
        "noise_multiplier": spec.noise_multiplier,
        "clip": next((row["clip"] for row in reversed(history) if "clip" in row), clip),
        "privacy": budget.accountant.report(),
    }


def _advice(config: config_lib.TrainConfig, step: float, derived: bool) -> str:
    """What to change when training diverges."""
    default = ", the default for this algorithm and data" if derived else ""
    return (
        f"lower --server_learning_rate (now {step:g}{default}) or "
        f"--client_learning_rate (now {config.federated.client_learning_rate:g}), "
        "and rerun with --fresh"
    )


def _sampler(config, num_clients, client_data_fn) -> sampling.ClientSampler:
    federated, reliability = config.federated, config.reliability
    return sampling.ClientSampler(
        num_clients,
        federated.clients_per_round,
        client_data_fn,
        sampling=federated.client_sampling,
        seed=config.seed,
        dropout_rate=reliability.dropout_rate,
        min_clients=reliability.min_clients_per_round,
    )


def _clip_statement(privacy) -> str:
    """``, clip=1 (the default; --clip sets it)`` for fixed-clip aggregators."""
    if privacy.aggregator is aggregator_factory.AggregatorType.DP_GAUSSIAN_ADAPTIVE:
        return ""
    if privacy.clip is None:
        return (
            f", clip={aggregator_factory.DEFAULT_CLIP:g} (the default; --clip sets it)"
        )
    return f", clip={privacy.clip:g}"


def _round_results(config, history, budget) -> dict[str, Any]:
    """Round statistics of the run: privacy spent, bytes, timing."""
    results: dict[str, Any] = {}
    if budget is not None:
        clip = config.privacy.clip
        clip = aggregator_factory.DEFAULT_CLIP if clip is None else clip
        results.update(_privacy_results(budget, history, clip))
    results.update(byte_counts.summarize(history))
    seconds = float(np.median([row["round_seconds"] for row in history] or [np.nan]))
    results.update(
        seconds_per_round=seconds,
        client_updates_per_second=config.federated.clients_per_round / seconds,
    )
    return results


def train_federated(
    config: config_lib.TrainConfig,
    task: tasks_base.Task,
    data: preparation.PreparedData,
    writer: metrics_writer_lib.MetricsWriter,
    checkpoints: checkpoint_lib.CheckpointManager | None,
    *,
    extra_hooks: tuple[hooks_lib.RoundHook, ...] = (),
) -> tuple[dict[str, Any], tasks_base.Trained | None]:
    """Trains `config`'s federated algorithm; returns its results and model.

    Returns:
      ``(results, trained)``: the run's round statistics (rounds, timing,
      bytes, privacy spent) and the final model, or ``trained`` None when
      training diverged (``results`` then says where: ``diverged``,
      ``diverged_round``, ``message``).
    """
    federated, reliability = config.federated, config.reliability
    num_clients = data.partition.num_clients
    spec = config.privacy_spec(num_clients)
    if spec is not None:
        console.announce(
            "Privacy: "
            + statements.epsilon_statement(spec, federated.rounds)
            + _clip_statement(config.privacy)
        )
    step, derived = process_lib.server_learning_rate(config, data)

    def build():
        return process_lib.build_run_process(
            config, task, data, spec=spec, server_learning_rate=step
        )

    malicious = budget = None
    if reliability.malicious_fraction > 0:
        malicious = attacks.MaliciousClients.sample(
            num_clients, reliability.malicious_fraction, config.seed
        )
    process = (
        build()
        if malicious is None
        else attacks.build_attacked_process(build, reliability.attack)
    )
    process, client_data_fn = task.client_inputs(
        process, attacked=malicious is not None
    )
    if spec is not None:
        accountant = accounting.PrivacyAccountant(spec)
        budget = budget_lib.PrivacyBudget(
            accountant,
            config.privacy.target_epsilon,
            ledger_path=run_folder.path(config) / run_folder.PRIVACY_LEDGER_FILE,
        )
    hooks = [hook for hook in (budget, malicious) if hook is not None] + [
        divergence.DivergenceGuard(process, _advice(config, step, derived)),
        hooks_lib.PeriodicEvaluation(
            lambda state: task.evaluate(process, state), config.evaluation.eval_every
        ),
        hooks_lib.MetricsRelease(writer),
        hooks_lib.ProgressRelease(),
        *extra_hooks,
    ]
    outcome = rounds_lib.run_rounds(
        process,
        _sampler(config, num_clients, client_data_fn),
        rounds=federated.rounds,
        hooks=hooks,
        checkpoints=checkpoints,
    )
    history = writer.previous_rows + outcome.history
    results: dict[str, Any] = {"server_learning_rate": step, "rounds": len(history)}
    if outcome.diverged_round is not None:
        results.update(
            diverged=True,
            diverged_round=outcome.diverged_round,
            message=outcome.stopped,
        )
        return results, None
    if outcome.stopped is not None:
        console.announce(outcome.stopped)
    trained = task.finish(process, outcome.state, history[-1] if history else {})
    return {**results, **_round_results(config, history, budget)}, trained
