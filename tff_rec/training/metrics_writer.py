"""Writes a run's outputs: hparams, per-round metrics (CSV + TensorBoard), results.

Layout of ``<root_output_dir>/<experiment_name>/``::

    hparams.json      the configuration
    metrics.csv       one row per round (``round`` first), flushed each round
    tensorboard/      event files with the same scalars
    results.json      final metrics, written atomically at the end
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence

import tensorflow as tf


def write_json(path: os.PathLike | str, payload: Mapping[str, object]) -> None:
    """Writes JSON atomically (temp file + rename): never a half file."""
    path = pathlib.Path(path)
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


class MetricsWriter:
    """Appends per-round metrics to ``metrics.csv`` and TensorBoard.

    Args:
      output_dir: the experiment directory (created if missing).
      fieldnames: CSV columns after ``round``; metrics outside them are
        rejected so the file keeps one schema. Missing values are left blank
        (e.g. test metrics on rounds without evaluation).
    """

    def __init__(self, output_dir: os.PathLike | str, fieldnames: Sequence[str]):
        self.output_dir = pathlib.Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._fieldnames = ["round", *fieldnames]
        self._csv_path = self.output_dir / "metrics.csv"
        self._file = open(self._csv_path, "w", newline="")  # noqa: SIM115
        self._csv = csv.DictWriter(self._file, fieldnames=self._fieldnames)
        self._csv.writeheader()
        self._file.flush()
        self._summary = tf.summary.create_file_writer(
            str(self.output_dir / "tensorboard")
        )

    def write_hparams(self, hparams: Mapping[str, object]) -> None:
        write_json(self.output_dir / "hparams.json", hparams)

    def write_round(self, round_num: int, metrics: Mapping[str, float]) -> None:
        unknown = set(metrics) - set(self._fieldnames)
        if unknown:
            raise KeyError(f"metrics not in the CSV schema: {sorted(unknown)}")
        self._csv.writerow({"round": round_num, **metrics})
        self._file.flush()
        with self._summary.as_default(step=round_num):
            for name, value in metrics.items():
                if value is not None:
                    tf.summary.scalar(name, float(value))
        self._summary.flush()

    def write_results(self, results: Mapping[str, object]) -> None:
        write_json(self.output_dir / "results.json", results)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._summary.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
