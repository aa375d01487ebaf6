"""What the pipeline tests share: running a pipeline as a user does (a fresh
process, ``python -m pipelines.<name>`` from the repository root), the common
flags of a small synthetic run, and checks of its outputs and errors."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys

from absl.testing import parameterized

from tests import synthetic
from tff_rec.training import metrics_writer

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_S = 300
NUM_USERS = 24


def run_pipeline(
    name: str,
    *flags: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    default_logging: bool = False,
) -> subprocess.CompletedProcess:
    """Runs `pipelines.<name>` in a subprocess from the repository root.

    `default_logging` leaves TensorFlow's log level to the pipeline, as in a
    user's shell; otherwise it is set to errors only.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if default_logging:
        del env["TF_CPP_MIN_LOG_LEVEL"]
    return subprocess.run(
        [sys.executable, "-m", f"pipelines.{name}", *flags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def read_rows(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def as_flags(settings: dict[str, object]) -> list[str]:
    """``--name=value`` flags (``--name`` / ``--noname`` for booleans; None
    leaves the flag out)."""
    out = []
    for name, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append(f"--{name}" if value else f"--no{name}")
        else:
            out.append(f"--{name}={value}")
    return out


class PipelineTestCase(parameterized.TestCase):
    """A temporary folder with a synthetic ratings CSV, and run helpers."""

    # The flags of a small run on `self.csv`; a test overrides them by name.
    SETTINGS = dict(
        rounds=2,
        clients_per_round=4,
        eval_every=1,
        embedding_dim=4,
        centralized_epochs=2,
    )

    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(self.create_tempdir().full_path)
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=NUM_USERS)

    def flags(self, **settings) -> list[str]:
        """The common flags with `settings` on top."""
        merged = {
            "dataset": "csv",
            "data_dir": self.csv,
            "root_output_dir": self.tmp / "runs",
            **self.SETTINGS,
            **settings,
        }
        if merged["dataset"] == "csv":
            # The synthetic ratings' scale (DP runs need it declared).
            merged.setdefault("rating_scale", "1,5")
        return as_flags(merged)

    def run_train(self, *flags: str, **settings) -> subprocess.CompletedProcess:
        return run_pipeline("train", *self.flags(**settings), *flags)

    def assert_ok(self, result: subprocess.CompletedProcess) -> None:
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)

    def assert_error(
        self, result: subprocess.CompletedProcess, message: str, code: int = 2
    ) -> None:
        """Exit status `code`, no traceback, one error line (`tff_rec.cli`'s
        ``<program>: error: <message>``) containing `message`."""
        self.assertEqual(result.returncode, code, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        error_lines = [
            line for line in result.stderr.splitlines() if ": error: " in line
        ]
        self.assertLen(error_lines, 1, result.stderr)
        self.assertIn(message, error_lines[0])

    def run_dir(self, name: str) -> pathlib.Path:
        return self.tmp / "runs" / name

    def rows(self, name: str) -> list[dict[str, str]]:
        return read_rows(self.run_dir(name) / metrics_writer.METRICS_FILE)

    def results(self, name: str) -> dict:
        return json.loads(
            (self.run_dir(name) / metrics_writer.RESULTS_FILE).read_text()
        )

    def hparams(self, name: str) -> dict:
        """The run's settings by name (sections merged)."""
        return metrics_writer.read_hparams(
            self.run_dir(name) / metrics_writer.HPARAMS_FILE
        )
