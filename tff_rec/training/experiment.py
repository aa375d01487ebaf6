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
from tff_rec.tasks import base as tasks_base
from tff_rec.tasks import implicit
from tff_rec.tasks import rating
from tff_rec.training import als
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib
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
    return TASKS[task].format_results(results)


def _train(config, task, data, writer, checkpoints):
    algorithm = config.algorithm
    if algorithm is algorithms_config.Algorithm.DP_ALS:
        return als.train_dp_als(config, data, writer)
    if algorithm.is_federated:
        return trainer.train_federated(config, task, data, writer, checkpoints)
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
    if fresh:
        run_folder.remove_outputs(output_dir)
    checkpoints = run_folder.checkpoints(config)
    resume_after = checkpoints.latest_round() if checkpoints is not None else 0
    if resume_after:
        run_folder.check_resumable(config, output_dir)
    data = preparation.prepare(config.data, seed=config.seed)
    if config.algorithm.is_federated:
        settings.check_cohort(
            config.federated.clients_per_round, data.partition.num_clients
        )
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
        stats, trained = _train(config, task, data, writer, checkpoints)
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
        results["wall_seconds"] = time.perf_counter() - start
        writer.write_results(results)
    return results
