"""Scores the model of a finished rating run on its held-out data.

A run folder written by `tff_rec.training.experiment.run_experiment` holds
the settings (``hparams.json``), the id vocabularies and the server's final
tables (``final_weights.npz``). `evaluate_run` reloads the data those
settings name, remakes the same seeded split, checks that the ids are the
ones the run was trained on, and scores the saved tables on the test part the
way training did (`tff_rec.tasks.rating.RatingTask.evaluate_weights`):
directly for models whose server holds user tables (centralized, FedAvg),
and for Federated Reconstruction by first reconstructing each test user
from that user's training ratings, as the user's device would.

Example:
    from tff_rec.evaluation import rescoring

    metrics = rescoring.evaluate_run("runs/ml100k_fedrecon")
    print(metrics.rmse, metrics.recorded_rmse)
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from tff_rec import errors
from tff_rec.data import preparation
from tff_rec.evaluation import rating_metrics
from tff_rec.tasks import rating
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer


@dataclasses.dataclass(frozen=True)
class RunMetrics:
    """Test metrics of a run's saved model.

    Attributes:
      rmse, mae: on the run's test split.
      num_test_ratings: ratings scored.
      recorded_rmse, recorded_mae: what the run wrote to ``results.json``
        (None if that file or key is missing).
    """

    rmse: float
    mae: float
    num_test_ratings: int
    recorded_rmse: float | None
    recorded_mae: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "test_rmse": self.rmse,
            "test_mae": self.mae,
            "num_test_ratings": self.num_test_ratings,
            "recorded_test_rmse": self.recorded_rmse,
            "recorded_test_mae": self.recorded_mae,
        }


def load_config(
    run_dir: pathlib.Path, data_dir: str | None = None
) -> config_lib.TrainConfig:
    """The run's `TrainConfig` from its ``hparams.json``.

    Args:
      run_dir: the run folder.
      data_dir: where the data is now, if not where the run read it.

    Raises:
      tff_rec.errors.UserInputError: the file is missing or its settings are
        not a valid config.
    """
    path = run_dir / metrics_writer.HPARAMS_FILE
    if not path.is_file():
        raise errors.UserInputError(
            f"{run_dir} is not a run directory: no {metrics_writer.HPARAMS_FILE}"
        )
    hparams = metrics_writer.read_json_object(path)
    try:
        config = config_lib.TrainConfig.from_dict(hparams)
        if data_dir is not None:
            config = config.replace(data_dir=data_dir)
    except (TypeError, ValueError) as e:
        raise errors.DataFormatError(str(path), str(e)) from None
    return config


def _load_weights(path: pathlib.Path) -> rating_metrics.MatrixFactorizationWeights:
    fields = {
        f.name for f in dataclasses.fields(rating_metrics.MatrixFactorizationWeights)
    }
    values = metrics_writer.read_arrays(path)
    missing = sorted(
        name
        for name in ("item_embedding", "item_bias", "global_bias")
        if name not in values
    )
    if missing or not set(values) <= fields:
        raise errors.DataFormatError(
            str(path),
            "not the tables of a rating model"
            + (f" (missing {', '.join(missing)})" if missing else ""),
        )
    values["global_bias"] = float(values["global_bias"])
    return rating_metrics.MatrixFactorizationWeights(**values)


def _check_vocabularies(run_dir: pathlib.Path, interactions) -> None:
    path = run_dir / metrics_writer.VOCABULARIES_FILE
    if not path.is_file():
        raise errors.UserInputError(
            f"{run_dir} is not a finished run directory: no {path.name}"
        )
    saved = metrics_writer.read_json_object(path)
    for key, vocab in (
        ("user_ids", interactions.user_vocab),
        ("item_ids", interactions.item_vocab),
    ):
        if saved.get(key) != [str(v) for v in vocab]:
            raise errors.UserInputError(
                f"the data does not match the run in {run_dir}: its {key} differ "
                f"from {path.name} (another data file or version; pass --data_dir "
                "with the data the run was trained on)"
            )


def _check_shapes(path, weights, config, interactions) -> None:
    rows = {"item_embedding": (weights.item_embedding, interactions.num_items)}
    if config.algorithm is not config_lib.Algorithm.FEDRECON:
        if weights.user_embedding is None or weights.user_bias is None:
            raise errors.DataFormatError(
                str(path), "no user tables, which this run's server holds"
            )
        rows["user_embedding"] = (weights.user_embedding, interactions.num_users)
    for name, (table, expected) in rows.items():
        if table.shape[0] != expected:
            raise errors.DataFormatError(
                str(path),
                f"{name} has {table.shape[0]} rows, the data {expected}",
            )


def evaluate_run(
    run_dir: os.PathLike | str, *, data_dir: str | None = None
) -> RunMetrics:
    """Test RMSE and MAE of a finished rating run's saved model.

    Args:
      run_dir: ``<root_output_dir>/<experiment_name>`` of a finished run.
      data_dir: where the run's data is now (e.g. on another machine); None
        reads it where the run did.

    Returns:
      The `RunMetrics`.

    Raises:
      tff_rec.errors.UserInputError: the folder is not a finished rating run
        with saved weights, or the data is not the data it was trained on.
    """
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise errors.UserInputError(f"run directory {run_dir} does not exist")
    config = load_config(run_dir, data_dir)
    if config.task is not config_lib.Task.RATING:
        raise errors.UserInputError(
            f"{run_dir} is a task={config.task.value!r} run: its ranking metrics "
            "are in results.json; evaluate re-scores rating runs"
        )
    if config.algorithm is config_lib.Algorithm.LOCAL_ONLY:
        raise errors.UserInputError(
            f"{run_dir} is a local_only run: it has no single model to evaluate"
        )
    weights_path = run_dir / metrics_writer.WEIGHTS_FILE
    if not weights_path.is_file():
        raise errors.UserInputError(
            f"{run_dir} has no {metrics_writer.WEIGHTS_FILE}: the run has not finished"
        )
    weights = _load_weights(weights_path)
    data = preparation.prepare(config.data, seed=config.seed)
    _check_vocabularies(run_dir, data.interactions)
    _check_shapes(weights_path, weights, config, data.interactions)
    metrics = rating.RatingTask(config, data).evaluate_weights(weights)
    results_path = run_dir / metrics_writer.RESULTS_FILE
    recorded = (
        metrics_writer.read_json_object(results_path) if results_path.is_file() else {}
    )
    return RunMetrics(
        rmse=metrics.rmse,
        mae=metrics.mae,
        num_test_ratings=len(data.split.test.ratings),
        recorded_rmse=recorded.get("test_rmse"),
        recorded_mae=recorded.get("test_mae"),
    )


__all__ = ["RunMetrics", "evaluate_run", "load_config"]
