"""One experiment end to end: prepare data -> build -> train -> evaluate -> save.

`run_experiment(config)` is what `pipelines/train.py` calls; a library user
can call it the same way, or use the stages it is made of: the data
(`tff_rec.data.preparation`), the task (`tff_rec.tasks`), the federated
stage (`tff_rec.training.trainer`) and the run folder
(`tff_rec.training.run_folder`).
"""

from __future__ import annotations

import time
from typing import Any

from tff_rec import errors
from tff_rec import settings
from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import preparation
from tff_rec.data import rating_scale
from tff_rec.tasks import base as tasks_base
from tff_rec.tasks import implicit
from tff_rec.tasks import rating
from tff_rec.training import als
from tff_rec.training import config as config_lib
from tff_rec.training import customer_dp_trainer
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import run_clock
from tff_rec.training import run_folder
from tff_rec.training import trainer

TASKS: dict[config_lib.Task, type[tasks_base.Task]] = {
    config_lib.Task.RATING: rating.RatingTask,
    config_lib.Task.IMPLICIT: implicit.ImplicitTask,
}


def make_task(
    config: config_lib.TrainConfig, data: preparation.PreparedData
) -> tasks_base.Task:
    """The task object of `config` over `data`."""
    return TASKS[config.task](config, data)


def format_results_table(results: dict[str, Any]) -> str:
    """The final table printed by the train pipeline."""
    task = (
        config_lib.Task.RATING if "test_rmse" in results else config_lib.Task.IMPLICIT
    )
    table = TASKS[task].format_results(results)
    resumes = results.get("resumes") or 0
    if resumes:
        table += (
            f"\nwall s: {results['wall_seconds']:.1f} over {resumes + 1} attempts "
            f"(resumed {resumes} time{'s' if resumes > 1 else ''})"
        )
    return table


def for_data(
    config: config_lib.TrainConfig, data: preparation.PreparedData
) -> config_lib.TrainConfig:
    """`config` with the defaults that depend on the data resolved: with a
    cross-silo partition, every client in every round
    (`algorithms.config.cross_silo_settings`)."""
    changes = algorithms_config.cross_silo_settings(
        config.federated,
        num_clients=data.partition.num_clients,
        cross_silo=data.partition.is_cross_silo,
    )
    if changes:
        return config.replace(**changes)
    return config


def _train(config, task, data, writer, checkpoints, clock):
    algorithm = config.algorithm
    if config.privacy.customer_level:
        return customer_dp_trainer.train_customer_dp(config, task, data, writer)
    if algorithm is algorithms_config.Algorithm.DP_ALS:
        return als.train_dp_als(config, data, writer)
    if algorithm.is_federated:
        return trainer.train_federated(
            config, task, data, writer, checkpoints, extra_hooks=(clock,)
        )
    if algorithm is algorithms_config.Algorithm.CENTRALIZED:
        return {}, task.train_centralized()
    return {}, task.train_local_only()


def run_experiment(
    config: config_lib.TrainConfig, *, fresh: bool = False
) -> dict[str, object]:
    """Runs `config` and writes its outputs; returns the results dict.

    Writes the run folder (`tff_rec.training.run_folder`). A federated run
    whose folder holds a complete checkpoint resumes from it: the rounds
    after the checkpoint are run (their rows, if any were written before an
    interruption, are replaced) and the outputs are rewritten.

    Args:
      config: the run.
      fresh: delete the outputs of an earlier run in the folder
        (`run_folder.remove_outputs`) instead of resuming it.

    Raises:
      tff_rec.errors.UserInputError: for data or settings that cannot work,
        or checkpoints written with other settings, before any file is
        written.
      tff_rec.errors.TrainingDivergedError: training produced a non-finite
        loss or model; ``results.json`` says at which round, and the newest
        checkpoint is the last finite state.
    """
    start = time.perf_counter()
    output_dir = run_folder.path(config)
    run_folder.check_writable(output_dir)
    if fresh:
        run_folder.remove_outputs(output_dir)
    checkpoints = run_folder.checkpoints(config)
    resume_after = checkpoints.latest_round() if checkpoints is not None else 0
    clock = run_clock.RunClock(output_dir, resumed=bool(resume_after), started=start)
    data = preparation.prepare(config.data, seed=config.seed)
    config = for_data(config, data)
    if resume_after:
        run_folder.check_resumable(config, output_dir)
    if config.algorithm.is_federated:
        settings.check_cohort(
            config.federated.clients_per_round, data.partition.num_clients
        )
        # DP settings that cannot work (e.g. an unreachable target epsilon)
        # are refused before the run folder is written.
        config.privacy_spec(data.partition.num_clients)
    if config.privacy.customer_level:
        # Customer-level DP starts from the public middle of the declared
        # scale; a CSV file without --rating_scale is refused here.
        rating_scale.public_offset(data.rating_scale)
    task = make_task(config, data)
    results: dict[str, Any] = {
        "algorithm": config.algorithm.value,
        "dataset": config.data.dataset,
        **data.summary(),
    }
    with metrics_writer_lib.MetricsWriter(
        output_dir, task.round_fields, resume_after=resume_after
    ) as writer:
        run_folder.write_inputs(output_dir, config, data.interactions)
        stats, trained = _train(config, task, data, writer, checkpoints, clock)
        results.update(stats)
        if trained is None:
            writer.write_results(results)
            raise errors.TrainingDivergedError(
                results["message"], results["diverged_round"]
            )
        results.update(trained.results)
        if trained.weights is not None:
            metrics_writer_lib.write_arrays(
                output_dir / metrics_writer_lib.WEIGHTS_FILE, trained.weights
            )
        if config.evaluation.baselines:
            results.update(task.baselines())
            if config.algorithm.is_federated and data.partition.is_cross_silo:
                report = task.client_report(trained)
                if report is not None:
                    results["per_client"] = report
        results["wall_seconds"] = clock.seconds()
        results["resumes"] = clock.resumes
        clock.save()
        writer.write_results(results)
    return results
