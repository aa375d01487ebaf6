"""Kill `python -m pipelines.train` with SIGKILL mid-run, rerun it, compare.

The resumed run must end with the weights of an uninterrupted run (same
seed), have exactly one metrics row per round, and, with DP, continue the
privacy accounting where it stopped.
"""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from absl.testing import absltest

from tests import synthetic
from tests.pipelines import cli
from tests.pipelines.test_train import run_train
from tff_rec.privacy import accounting

NUM_USERS = 24
ROUNDS = 6
KILL_AFTER_ROUND = 2
WAIT_S = 240


def read_rows(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


class TrainResumeTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.csv = synthetic.write_csv(self.tmp / "ratings.csv", num_users=NUM_USERS)
        self.common = [
            "--dataset=csv",
            f"--data_dir={self.csv}",
            f"--root_output_dir={self.tmp / 'runs'}",
            f"--rounds={ROUNDS}",
            "--clients_per_round=6",
            "--eval_every=3",
            "--embedding_dim=4",
            "--nobaselines",
            "--algorithm=fedavg_unweighted",
            "--server_learning_rate=1.0",
        ]
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        super().tearDown()

    def run_dir(self, name: str) -> pathlib.Path:
        return self.tmp / "runs" / name

    def start(self, *flags: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.train", *self.common, *flags],
            cwd=cli.REPO_ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def kill_after_round(self, name: str, *flags: str) -> None:
        """Starts a run and SIGKILLs it once its CSV has `KILL_AFTER_ROUND`."""
        process = self.start(f"--experiment_name={name}", *flags)
        metrics = self.run_dir(name) / "metrics.csv"
        deadline = time.monotonic() + WAIT_S
        while True:
            self.assertIsNone(process.poll(), "the run ended before it was killed")
            self.assertLess(time.monotonic(), deadline, "no round was written")
            if metrics.exists():
                rounds = [int(r["round"]) for r in read_rows(metrics)]
                if rounds and rounds[-1] >= KILL_AFTER_ROUND:
                    break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        self.assertEqual(process.wait(), -signal.SIGKILL)
        self.assertLess(len(read_rows(metrics)), ROUNDS)

    def resume(self, name: str, *flags: str) -> subprocess.CompletedProcess:
        result = run_train(*self.common, f"--experiment_name={name}", *flags)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertRegex(result.stderr, r"resuming from round \d+ of 6")
        rows = read_rows(self.run_dir(name) / "metrics.csv")
        self.assertEqual([int(r["round"]) for r in rows], list(range(1, ROUNDS + 1)))
        return result

    @pytest.mark.slow
    def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(self):
        failures = ["--dropout_rate=0.3"]
        reference = self.start("--experiment_name=reference", *failures)
        self.kill_after_round("resumed", *failures)
        self.resume("resumed", *failures)
        self.assertEqual(reference.wait(timeout=WAIT_S), 0)
        with (
            np.load(self.run_dir("reference") / "final_weights.npz") as expected,
            np.load(self.run_dir("resumed") / "final_weights.npz") as actual,
        ):
            self.assertEqual(sorted(expected), sorted(actual))
            for name in expected:
                np.testing.assert_allclose(actual[name], expected[name], atol=1e-6)
        reference_rows = read_rows(self.run_dir("reference") / "metrics.csv")
        resumed_rows = read_rows(self.run_dir("resumed") / "metrics.csv")
        for expected, actual in zip(reference_rows, resumed_rows, strict=True):
            for key in ("clients", "clients_dropped", "train_loss", "test_rmse"):
                self.assertEqual(actual[key], expected[key], key)

    @pytest.mark.slow
    def test_killed_dp_run_continues_its_privacy_accounting(self):
        dp = [
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=1.0",
            "--clip=0.5",
            "--client_sampling=poisson",
        ]
        self.kill_after_round("dp", *dp)
        self.resume("dp", *dp)
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=6,
            num_clients=NUM_USERS,
            sampling="poisson",
        )
        rows = read_rows(self.run_dir("dp") / "metrics.csv")
        for k, row in enumerate(rows, start=1):
            self.assertAlmostEqual(
                float(row["epsilon"]), accounting.epsilon(spec, k), places=6
            )
        results = json.loads((self.run_dir("dp") / "results.json").read_text())
        self.assertAlmostEqual(
            results["epsilon"], accounting.epsilon(spec, ROUNDS), places=6
        )
        self.assertEqual(results["privacy"]["rounds"], ROUNDS)

    @pytest.mark.slow
    def test_other_settings_are_refused_and_fresh_starts_over(self):
        first = run_train(*self.common, "--experiment_name=run", "--rounds=2")
        self.assertEqual(first.returncode, 0, first.stderr[-3000:])
        changed = run_train(*self.common, "--experiment_name=run", "--rounds=3")
        self.assertEqual(changed.returncode, 2, changed.stderr[-3000:])
        self.assertNotIn("Traceback", changed.stderr)
        self.assertIn("rounds: 2 -> 3", changed.stderr)
        self.assertIn("--fresh", changed.stderr)
        fresh = run_train(
            *self.common, "--experiment_name=run", "--rounds=3", "--fresh"
        )
        self.assertEqual(fresh.returncode, 0, fresh.stderr[-3000:])
        self.assertNotIn("resuming", fresh.stderr)
        rows = read_rows(self.run_dir("run") / "metrics.csv")
        self.assertEqual([r["round"] for r in rows], ["1", "2", "3"])
        checkpoints = sorted(
            p.name for p in (self.run_dir("run") / "checkpoints").iterdir()
        )
        self.assertEqual(checkpoints, ["program_state_2", "program_state_3"])


if __name__ == "__main__":
    absltest.main()
