"""Run directory -> versioned SavedModel in TF Serving's layout.

`export_run` reads what `tff_rec.training.experiment.run_experiment` wrote
(``hparams.json``, ``vocabularies.json``, ``final_weights.npz``,
``results.json``) and writes::

    <export_dir>/<model_name>/<version>/
        saved_model.pb, variables/      the `serving.RecommenderServingModule`
        assets.extra/tf_serving_warmup_requests
                                        PredictionLog records TF Serving
                                        replays at load time (`warmup`)
        model_card.json                 data, algorithm, metrics, privacy,
                                        sizes, signatures (`model_card`)

Versions are integer folders, as TF Serving expects; older versions are kept
(TF Serving serves the highest by default). A version is written into a
hidden temporary folder beside it and renamed into place, so a crash never
leaves a half-written version folder that TF Serving would try to load.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.data import rating_scale as rating_scale_lib
from tff_rec.export import model_card
from tff_rec.export import serving
from tff_rec.export import warmup
from tff_rec.models import matrix_factorization as mf
from tff_rec.training import metrics_writer

DEFAULT_FIRST_VERSION = 1
#: Algorithms whose server never holds user tables.
RECONSTRUCTION_ALGORITHMS = ("fedrecon",)
#: Algorithms trained with ``centralized_l2`` instead of ``l2``.
CENTRALIZED_ALGORITHMS = ("centralized", "local_only")

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class RunArtifacts:
    """What an export needs from a run directory.

    Attributes:
      run_dir: the run directory.
      hparams: the settings of ``hparams.json`` by name
        (`metrics_writer.read_hparams`).
      user_ids: raw user ids by remapped id.
      item_ids: raw item ids by remapped id.
      arrays: the arrays of ``final_weights.npz`` by key.
      results: ``results.json``, or an empty dict if the run has none.
    """

    run_dir: pathlib.Path
    hparams: Mapping[str, object]
    user_ids: Sequence[str]
    item_ids: Sequence[str]
    arrays: Mapping[str, np.ndarray]
    results: Mapping[str, object]

    @property
    def algorithm(self) -> str:
        return str(self.hparams.get("algorithm"))

    @property
    def has_user_tables(self) -> bool:
        """False for reconstruction: user factors never leave the clients."""
        return self.algorithm not in RECONSTRUCTION_ALGORITHMS

    @property
    def rating_scale(self) -> rating_scale_lib.RatingScale | None:
        """The declared rating scale of the run's data (None: none declared)."""
        dataset = str(self.hparams.get("dataset", ""))
        given = self.hparams.get("rating_scale")
        if dataset in rating_scale_lib.DECLARED:
            return rating_scale_lib.DECLARED[dataset]
        return None if given is None else rating_scale_lib.parse(str(given))

    @property
    def embedding_dim(self) -> int:
        return int(self.hparams["embedding_dim"])

    @property
    def ridge(self) -> tuple[float, float]:
        """(l2, bias_l2) the weights were trained with, for the history solve."""
        key = "centralized_l2" if self.algorithm in CENTRALIZED_ALGORITHMS else "l2"
        l2 = self.hparams.get(key, self.hparams.get("l2", mf.DEFAULT_L2))
        bias_l2 = self.hparams.get("bias_l2", mf.DEFAULT_BIAS_L2)
        return float(l2), float(bias_l2)


def check_exportable(*, algorithm: str, task: str) -> None:
    """Refuses, before training, a run whose model cannot be exported.

    Args:
      algorithm: the run's algorithm (its value, e.g. ``fedrecon``).
      task: the run's task (``rating`` or ``implicit``).

    Raises:
      errors.UserInputError: for local-only training (no single model) and
        implicit-feedback models (saved as ``final_weights.npz`` only).
    """
    if algorithm == "local_only":
        raise errors.UserInputError(
            "--export_dir: local_only training has no single model to export"
        )
    if task != "rating":
        raise errors.UserInputError(
            "--export_dir: serving export supports task='rating' models; "
            f"task={task!r} models are saved as final_weights.npz in the run "
            "folder"
        )


def load_run(run_dir: os.PathLike | str) -> RunArtifacts:
    """Reads the files of a run directory written by `run_experiment`.

    Args:
      run_dir: ``<root_output_dir>/<experiment_name>``.

    Returns:
      The `RunArtifacts`.

    Raises:
      errors.UserInputError: the directory or a required file is missing or
        malformed (``results.json`` is optional).
    """
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise errors.UserInputError(f"run directory {run_dir} does not exist")
    hparams_path = run_dir / metrics_writer.HPARAMS_FILE
    vocabularies_path = run_dir / metrics_writer.VOCABULARIES_FILE
    weights_path = run_dir / metrics_writer.WEIGHTS_FILE
    results_path = run_dir / metrics_writer.RESULTS_FILE
    for path in (hparams_path, vocabularies_path, weights_path):
        if not path.is_file():
            hint = (
                " (local_only runs have no single model to export; unfinished "
                "runs have no final weights)"
                if path == weights_path
                else ""
            )
            raise errors.UserInputError(
                f"{run_dir} is not a finished run directory: no {path.name}{hint}"
            )
    hparams = metrics_writer.read_hparams(hparams_path)
    if not isinstance(hparams.get("embedding_dim"), int):
        raise errors.DataFormatError(str(hparams_path), "no integer 'embedding_dim'")
    vocabularies = metrics_writer.read_json_object(vocabularies_path)
    for key in ("user_ids", "item_ids"):
        if not isinstance(vocabularies.get(key), list):
            raise errors.DataFormatError(str(vocabularies_path), f"no list '{key}'")
    item_ids = [str(i) for i in vocabularies["item_ids"]]
    if not item_ids:
        raise errors.DataFormatError(str(vocabularies_path), "no items")
    arrays = metrics_writer.read_arrays(weights_path)
    results = (
        metrics_writer.read_json_object(results_path) if results_path.is_file() else {}
    )
    return RunArtifacts(
        run_dir=run_dir,
        hparams=hparams,
        user_ids=[str(u) for u in vocabularies["user_ids"]],
        item_ids=item_ids,
        arrays=arrays,
        results=results,
    )


def _with_oov_row(table: np.ndarray) -> np.ndarray:
    return np.concatenate([table, np.zeros((1,) + table.shape[1:], table.dtype)])


def _layer_values(run: RunArtifacts) -> dict[str, tuple[str, tuple, object]]:
    """Per model layer: (npz key, expected npz shape, npz array -> layer value)."""
    num_users, num_items = len(run.user_ids), len(run.item_ids)
    dim = run.embedding_dim

    embedding = _with_oov_row

    def bias(array):
        return _with_oov_row(array.reshape(-1, 1))

    specs = {
        mf.ITEM_EMBEDDING: (mf.ITEM_EMBEDDING, (num_items, dim), embedding),
        mf.ITEM_BIAS: (mf.ITEM_BIAS, (num_items,), bias),
        mf.GLOBAL_BIAS: (mf.GLOBAL_BIAS, (), lambda array: array),
    }
    if run.has_user_tables:
        specs[mf.USER_EMBEDDING] = (mf.USER_EMBEDDING, (num_users, dim), embedding)
        specs[mf.USER_BIAS] = (mf.USER_BIAS, (num_users,), bias)
    return specs


def assign_run_weights(keras_model: tf.keras.Model, run: RunArtifacts) -> None:
    """Assigns the run's final weights to an inference model, or refuses.

    Every variable of `keras_model` must get a value: from the npz array of
    its layer (with the zero OOV row appended), or, for a model without user
    tables, zeros for the single OOV user row. The values are gathered into a
    `tff.learning.models.ModelWeights` ordered like the model's trainable and
    non-trainable weights and assigned with `assign_weights_to`.

    Args:
      keras_model: a model from `serving.build_inference_model` sized for `run`.
      run: the run's artifacts.

    Raises:
      errors.UserInputError: naming each variable left unassigned (an array
        missing from ``final_weights.npz``, a shape mismatch, non-finite
        values).
    """
    layer_of = {
        weight.ref(): layer.name
        for layer in keras_model.layers
        for weight in layer.weights
    }
    specs = _layer_values(run)
    values: dict[object, np.ndarray] = {}
    problems = []
    for variable in keras_model.weights:
        layer = layer_of.get(variable.ref())
        if layer in (mf.USER_EMBEDDING, mf.USER_BIAS) and not run.has_user_tables:
            # Reconstruction: the only user row is the OOV row.
            values[variable.ref()] = np.zeros(variable.shape, np.float32)
            continue
        if layer not in specs:
            problems.append(f"{variable.name}: no array for layer {layer!r}")
            continue
        key, expected, convert = specs[layer]
        if key not in run.arrays:
            problems.append(f"{variable.name}: '{key}' is missing")
            continue
        array = np.asarray(run.arrays[key], np.float32)
        if array.shape != expected:
            problems.append(
                f"{variable.name}: '{key}' has shape {array.shape}, expected "
                f"{expected}"
            )
            continue
        if not np.all(np.isfinite(array)):
            problems.append(f"{variable.name}: '{key}' has non-finite values")
            continue
        value = convert(array)
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(
                f"{variable.name}: value of shape {value.shape} for a variable "
                f"of shape {tuple(variable.shape)}"
            )
            continue
        values[variable.ref()] = value
    unassigned = [v.name for v in keras_model.weights if v.ref() not in values]
    if problems or unassigned:
        detail = "; ".join(problems) or ", ".join(unassigned)
        raise errors.UserInputError(
            f"{run.run_dir / metrics_writer.WEIGHTS_FILE}: refusing to export, "
            f"{len(unassigned)} model variable(s) left unassigned: {detail}"
        )
    model_weights = tff.learning.models.ModelWeights(
        trainable=[values[v.ref()] for v in keras_model.trainable_weights],
        non_trainable=[values[v.ref()] for v in keras_model.non_trainable_weights],
    )
    model_weights.assign_weights_to(keras_model)


def module_user_ids(run: RunArtifacts) -> list[str]:
    """The users the export has factors for (none for reconstruction)."""
    return list(run.user_ids) if run.has_user_tables else []


def build_serving_module(run: RunArtifacts) -> serving.RecommenderServingModule:
    """The serving module of a run, weights assigned.

    Raises:
      errors.UserInputError: if a model variable would be left unassigned.
    """
    user_ids = module_user_ids(run)
    l2, bias_l2 = run.ridge
    model = serving.build_inference_model(
        len(user_ids),
        len(run.item_ids),
        embedding_dim=run.embedding_dim,
        l2=l2,
        bias_l2=bias_l2,
    )
    assign_run_weights(model.keras_model, run)
    scale = run.rating_scale
    return serving.RecommenderServingModule(
        model.keras_model,
        user_ids=user_ids,
        item_ids=run.item_ids,
        l2=l2,
        bias_l2=bias_l2,
        rating_scale=None if scale is None else (scale.low, scale.high),
    )


def existing_versions(model_dir: os.PathLike | str) -> list[int]:
    """The integer version folders under `model_dir`, ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(
        int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
    )


def export_run(
    run_dir: os.PathLike | str,
    export_dir: os.PathLike | str,
    *,
    model_name: str | None = None,
    version: int | None = None,
) -> pathlib.Path:
    """Exports a finished run as ``<export_dir>/<model_name>/<version>/``.

    Args:
      run_dir: the run directory (``<root_output_dir>/<experiment_name>``).
      export_dir: TF Serving's model base path parent; created if missing.
      model_name: the served model's name; None means the run directory's
        name.
      version: the version folder; None means one more than the highest
        existing version, or `DEFAULT_FIRST_VERSION`. Existing versions are
        kept.

    Returns:
      The version folder written.

    Raises:
      errors.UserInputError: a bad run directory, name or version (including
        one that exists), or a model variable the run's weights leave
        unassigned. Nothing is written then.
    """
    run_dir = pathlib.Path(run_dir)
    model_name = run_dir.name if model_name is None else model_name
    if not _MODEL_NAME.match(model_name or ""):
        raise errors.UserInputError(
            f"model_name {model_name!r} is not a valid name: use letters, digits, "
            "'_', '-', '.', starting with a letter or digit"
        )
    if version is not None and version < 1:
        raise errors.UserInputError(f"version must be >= 1, got {version}")
    run = load_run(run_dir)
    module = build_serving_module(run)
    signatures = module.signatures()

    model_dir = pathlib.Path(export_dir) / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    versions = existing_versions(model_dir)
    if version is None:
        version = versions[-1] + 1 if versions else DEFAULT_FIRST_VERSION
    final = model_dir / str(version)
    if final.exists():
        raise errors.UserInputError(
            f"version {version} already exists at {final}; choose another version "
            "or leave it unset for the next one"
        )
    # A hidden, non-numeric name: TF Serving ignores it while it is written.
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        warmup.write_warmup_requests(
            staging / warmup.WARMUP_FILE,
            warmup.warmup_requests(model_name, module_user_ids(run), run.item_ids),
        )
        metrics_writer.write_json(
            staging / model_card.MODEL_CARD_FILE,
            model_card.model_card(
                run, model_name=model_name, version=version, signatures=signatures
            ),
        )
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
