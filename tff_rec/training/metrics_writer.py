"""Writes a run's outputs: hparams, per-round metrics (CSV + TensorBoard), results.

Layout of ``<root_output_dir>/<experiment_name>/``::

    hparams.json      the configuration
    metrics.csv       one row per round (``round`` first), flushed each round;
                      a resumed run keeps the rows up to its checkpoint
    tensorboard/      event files with the same scalars
    results.json      final metrics, written atomically at the end

`tff_rec.training.experiment` adds ``vocabularies.json`` (the raw ids) and
the task ``final_weights.npz`` (the server's model, `write_arrays`); the
names below, and `read_json_object` and `read_arrays`, are what every reader
of a run folder uses.
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tff_rec import errors

HPARAMS_FILE = "hparams.json"
METRICS_FILE = "metrics.csv"
RESULTS_FILE = "results.json"
VOCABULARIES_FILE = "vocabularies.json"
WEIGHTS_FILE = "final_weights.npz"


def read_json_object(path: pathlib.Path) -> dict:
    """The JSON object in `path`.

    Raises:
      tff_rec.errors.DataFormatError: the file cannot be read, is not JSON or
        holds something other than an object.
    """
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise errors.DataFormatError(
            str(path), f"not valid JSON: {e.msg}", e.lineno
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise errors.DataFormatError(str(path), f"not readable ({e})") from None
    if not isinstance(payload, dict):
        raise errors.DataFormatError(str(path), "expected a JSON object")
    return payload


def read_hparams(path: pathlib.Path) -> dict:
    """The settings of a run's ``hparams.json`` by name, its sections merged.

    ``hparams.json`` nests settings by section (``{"model": {"l2": 0.05,
    ...}, ...}``); runs written before the sections have them flat. Either
    way the result is flat (``{"l2": 0.05, ...}``).

    Raises:
      tff_rec.errors.DataFormatError: as `read_json_object`.
    """
    flat: dict = {}
    for key, value in read_json_object(path).items():
        if isinstance(value, Mapping):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def read_arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
    """The named arrays of the ``.npz`` file `path`.

    Raises:
      tff_rec.errors.DataFormatError: the file is not a readable ``.npz``.
    """
    try:
        with np.load(path) as npz:
            return {key: np.asarray(npz[key]) for key in npz.files}
    except (OSError, ValueError) as e:
        raise errors.DataFormatError(str(path), f"not a readable .npz ({e})") from None


def write_arrays(path: os.PathLike | str, arrays: Mapping[str, object]) -> pathlib.Path:
    """Writes named arrays to the ``.npz`` file `path` atomically."""
    path = pathlib.Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(path)
    return path


def write_json(path: os.PathLike | str, payload: object) -> None:
    """Writes JSON atomically (temp file + rename): never a half file.

    Creates missing parent folders; non-finite floats are written as null.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_rows(
    path: os.PathLike | str, *, last_round: int | None = None
) -> list[dict[str, float]]:
    """The rows of a ``metrics.csv``: ``round`` as int, other values as floats.

    Blank cells are left out of a row. A missing file has no rows.

    Args:
      path: the CSV file.
      last_round: keep only rows with ``round <= last_round``.
    """
    return [_parse(raw) for raw in _read_cells(path, last_round)]


def _parse(raw: Mapping[str, str]) -> dict[str, float]:
    row: dict[str, float] = {"round": int(raw["round"])}
    for key, value in raw.items():
        if key != "round" and value not in ("", None):
            row[key] = float(value)
    return row


def _read_cells(path, last_round: int | None) -> list[dict[str, str]]:
    path = pathlib.Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [
            raw
            for raw in csv.DictReader(f)
            if last_round is None or int(raw["round"]) <= last_round
        ]


def summary_name(name: str) -> str:
    """A TensorBoard-legal tag: ``hr@10`` becomes ``hr_at_10``."""
    return name.replace("@", "_at_")


class MetricsWriter:
    """Appends per-round metrics to ``metrics.csv`` and TensorBoard.

    Args:
      output_dir: the experiment directory (created if missing).
      fieldnames: CSV columns after ``round``; metrics outside them are
        rejected so the file keeps one schema. Missing values are left blank
        (e.g. test metrics on rounds without evaluation).
      resume_after: for a run resumed from the checkpoint of this round: the
        rows of rounds up to it are kept (see `previous_rows`) and later rows,
        written after that checkpoint and about to be run again, are dropped,
        so the file ends up with exactly one row per round. None (or 0)
        starts a new file.
    """

    def __init__(
        self,
        output_dir: os.PathLike | str,
        fieldnames: Sequence[str],
        *,
        resume_after: int | None = None,
    ):
        self.output_dir = pathlib.Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._fieldnames = ["round", *fieldnames]
        self._csv_path = self.output_dir / METRICS_FILE
        kept = _read_cells(self._csv_path, resume_after) if resume_after else []
        self.previous_rows = [_parse(raw) for raw in kept]
        tmp = self._csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(
                f, fieldnames=self._fieldnames, extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self._csv_path)
        self._file = open(self._csv_path, "a", newline="")  # noqa: SIM115
        self._csv = csv.DictWriter(self._file, fieldnames=self._fieldnames)
        self._summary = tf.summary.create_file_writer(
            str(self.output_dir / "tensorboard")
        )

    def write_hparams(self, hparams: Mapping[str, object]) -> None:
        write_json(self.output_dir / HPARAMS_FILE, hparams)

    def write_round(self, round_num: int, metrics: Mapping[str, float]) -> None:
        unknown = set(metrics) - set(self._fieldnames)
        if unknown:
            raise KeyError(f"metrics not in the CSV schema: {sorted(unknown)}")
        self._csv.writerow({"round": round_num, **metrics})
        self._file.flush()
        with self._summary.as_default(step=round_num):
            for name, value in metrics.items():
                if value is not None:
                    tf.summary.scalar(summary_name(name), float(value))
        self._summary.flush()

    def write_results(self, results: Mapping[str, object]) -> None:
        write_json(self.output_dir / RESULTS_FILE, results)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._summary.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
