"""A run's output folder: what is in it, starting over, and resuming.

``<root_output_dir>/<experiment_name>/`` holds ``hparams.json`` (the
configuration, nested by section), ``vocabularies.json`` (raw user and item
ids, by remapped id), ``metrics.csv`` and ``tensorboard/`` (one row per
round), ``checkpoints/``, ``final_weights.npz`` and ``results.json`` (see
`tff_rec.training.metrics_writer` for the file names and formats).
"""

from __future__ import annotations

import os
import pathlib
import shutil

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.training import checkpoint as checkpoint_lib
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer

CHECKPOINT_DIR = "checkpoints"
# The privacy spent, written before each release (`tff_rec.training.budget`).
PRIVACY_LEDGER_FILE = "privacy_ledger.json"
# Files and folders of a run that `remove_outputs` deletes.
RUN_OUTPUTS = (
    PRIVACY_LEDGER_FILE,
    "run_clock.json",
    metrics_writer.METRICS_FILE,
    metrics_writer.RESULTS_FILE,
    metrics_writer.WEIGHTS_FILE,
    "tensorboard",
    CHECKPOINT_DIR,
)


def path(config: config_lib.TrainConfig) -> pathlib.Path:
    """The run folder of `config`."""
    return pathlib.Path(config.root_output_dir) / config.experiment_name


def check_writable(output_dir: pathlib.Path) -> None:
    """Refuses a run folder that cannot be written, before anything is.

    The folder, or its nearest existing ancestor, must be a writable folder
    on a writable file system.

    Raises:
      tff_rec.errors.UserInputError: naming the path and the problem.
    """
    existing = pathlib.Path(os.path.abspath(output_dir))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise errors.UserInputError(
            f"root_output_dir: {existing} is a file, not a folder; the run "
            f"folder would be {output_dir}"
        )
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise errors.UserInputError(
            f"root_output_dir: {existing} is on a read-only file system"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise errors.UserInputError(
            f"root_output_dir: no permission to write in {existing}"
        )


def remove_outputs(output_dir: pathlib.Path) -> None:
    """Deletes a run's metrics, results, weights, TensorBoard and checkpoints.

    Only the names in `RUN_OUTPUTS` are deleted; anything else in the folder
    stays.
    """
    for name in RUN_OUTPUTS:
        target = output_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def checkpoints(
    config: config_lib.TrainConfig,
) -> checkpoint_lib.CheckpointManager | None:
    """The checkpoints of a federated run (None for the others)."""
    if not config.algorithm.is_federated:
        return None
    reliability = config.reliability
    return checkpoint_lib.CheckpointManager(
        path(config) / CHECKPOINT_DIR,
        every=reliability.checkpoint_every,
        keep_total=reliability.keep_checkpoints,
    )


def check_resumable(config: config_lib.TrainConfig, output_dir: pathlib.Path) -> None:
    """Refuses to resume a run folder written with other settings.

    Only the settings that do not change the federated rounds (`TrainConfig.
    resumable_names`) may differ.

    Raises:
      tff_rec.errors.UserInputError: if ``hparams.json`` is missing, unreadable
        or differs from `config` in other settings; the message names them
        and suggests ``--fresh``.
    """
    hparams = output_dir / metrics_writer.HPARAMS_FILE
    if not hparams.exists():
        raise errors.UserInputError(
            f"{output_dir} has checkpoints but no hparams.json to check them "
            "against; pass --fresh to start over"
        )
    try:
        saved = config_lib.TrainConfig.from_dict(
            metrics_writer.read_json_object(hparams)
        )
    except errors.UserInputError as e:
        raise errors.UserInputError(
            f"cannot resume {output_dir}: its hparams.json is not a configuration "
            f"of this version ({e}); pass --fresh to start over"
        ) from None
    changed = config.changes_from(saved)
    if changed:
        details = ", ".join(f"{name}: {old!r} -> {new!r}" for name, old, new in changed)
        raise errors.UserInputError(
            f"cannot resume {output_dir}: its checkpoints were written with other "
            f"settings ({details}); pass --fresh to start over, or another "
            "--experiment_name"
        )


def write_inputs(
    output_dir: pathlib.Path,
    config: config_lib.TrainConfig,
    interactions: interactions_lib.Interactions,
) -> None:
    """Writes ``hparams.json`` and ``vocabularies.json``."""
    metrics_writer.write_json(
        output_dir / metrics_writer.HPARAMS_FILE, config.as_dict()
    )
    metrics_writer.write_json(
        output_dir / metrics_writer.VOCABULARIES_FILE,
        {
            "user_ids": list(interactions.user_vocab),
            "item_ids": list(interactions.item_vocab),
        },
    )
