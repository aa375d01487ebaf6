"""Hostile but fair uses of `python -m pipelines.train`, as a user runs it:
bad hyper-parameters, seeds and output folders, a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines import base
from tff_rec.privacy import accounting


@contextlib.contextmanager
def _tmpfs(path, size: str):
    """A small tmpfs at `path` (root only); skips the test elsewhere."""
    os.makedirs(path, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        raise absltest.SkipTest("needs permission to mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount(path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


class HardeningTest(base.PipelineTestCase):
    @parameterized.named_parameters(
        ("server_learning_rate_inf", dict(server_learning_rate="inf"), "finite"),
        ("client_learning_rate_inf", dict(client_learning_rate="inf"), "finite"),
        ("l2_nan", dict(l2="nan"), "l2 must be finite"),
        ("bias_l2_nan", dict(bias_l2="nan"), "bias_l2 must be finite"),
        (
            "dp_clip_inf",
            dict(aggregator="dp_gaussian_fixed", clip="inf", noise_multiplier=1),
            "clip must be finite",
        ),
        ("seed_negative", dict(seed=-1), "seed must be >= 0"),
        ("seed_too_large", dict(seed=99999999999999999999999), "seed must be <="),
        (
            "dp_target_out_of_reach",
            dict(aggregator="dp_gaussian_fixed", target_epsilon=1e-3, delta=1e-10),
            "needs a noise_multiplier above",
        ),
    )
    def test_non_finite_or_out_of_range_flags_exit_2_before_any_output(
        self, settings, message
    ):
        result = self.run_train(experiment_name="bad", **settings)
        self.assert_error(result, message)
        self.assertFalse(self.run_dir("bad").exists())

    def test_dp_fixed_clip_default_is_stated(self):
        result = self.run_train(
            experiment_name="dp",
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1,
            rounds=1,
            baselines=False,
        )
        self.assert_ok(result)
        self.assertIn("clip=1 (the default; --clip sets it)", result.stderr)

    def test_root_output_dir_that_is_a_file_exits_2(self):
        a_file = self.tmp / "a_file"
        a_file.write_text("")
        result = self.run_train(root_output_dir=a_file)
        self.assert_error(result, "is a file, not a folder")

    def test_read_only_root_output_dir_exits_2(self):
        with _tmpfs(self.tmp / f"ro_{uuid.uuid4().hex}", "1m") as folder:
            _remount(folder, "ro")
            result = self.run_train(root_output_dir=folder / "runs")
            self.assert_error(result, "read-only file system")

    def test_full_disk_exits_5_in_one_line_and_rerun_resumes(self):
        with _tmpfs(self.tmp / f"small_{uuid.uuid4().hex}", "120k") as folder:
            settings = dict(root_output_dir=folder, rounds=60, experiment_name="x")
            full = self.run_train(**settings)
            self.assert_error(full, "No space left on device", code=5)
            self.assertIn("rerun the same command to resume", full.stderr)
            self.assertNotIn("During handling", full.stderr)
            _remount(folder, "size=64m")
            rerun = self.run_train(**settings)
            self.assert_ok(rerun)
            self.assertIn("resuming from round", rerun.stderr)
            self.assertTrue((folder / "x" / "results.json").exists())

    def _csv_with(self, extra_rows: list[str]) -> str:
        path = self.tmp / "edited.csv"
        path.write_text(self.csv.read_text() + "".join(f"{r}\n" for r in extra_rows))
        return str(path)

    def test_outlier_rating_in_movielens_data_is_refused(self):
        directory = synthetic.write_ml100k(self.tmp / "ml100k")
        with open(directory / "u.data", "a") as f:
            f.write("1\t2\t99\t1234567\n")
        result = self.run_train(
            dataset="ml-100k-original", data_dir=directory, experiment_name="x"
        )
        self.assert_error(result, "1 ratings outside the declared scale 1..5")
        self.assertFalse(self.run_dir("x").exists())

    def test_outlier_rating_does_not_move_the_dp_global_bias(self):
        # The outlier would move (min + max) / 2 from 3 to 50; the released
        # offset comes from the declared scale only.
        common = dict(
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1,
            rounds=1,
            baselines=False,
            algorithm="fedavg_unweighted",
        )
        refused = self.run_train(
            data_dir=self._csv_with(["u0,i99,99,1"]),
            rating_scale="1,5",
            experiment_name="refused",
            **common,
        )
        self.assert_error(refused, "outside the declared scale 1..5")
        unscaled = self.run_train(
            rating_scale=None, experiment_name="unscaled", **common
        )
        self.assert_error(unscaled, "need --rating_scale=min,max")
        scaled = self.run_train(rating_scale="1,10", experiment_name="scaled", **common)
        self.assert_ok(scaled)
        with np.load(self.run_dir("scaled") / "final_weights.npz") as weights:
            self.assertEqual(float(weights["global_bias"]), 5.5)

    def test_duplicate_rows_are_counted_and_the_latest_wins(self):
        data = self._csv_with(["u0,i17,5,9999999", "u0,i17,1,1", "u1,i500,4,1"])
        result = self.run_train(data_dir=data, experiment_name="dups", rounds=1)
        self.assert_ok(result)
        self.assertIn(
            "2 repeated (user, item) rows dropped, the latest kept", result.stdout
        )
        self.assertEqual(self.results("dups")["duplicates_dropped"], 2)

    def test_release_lost_to_a_crash_stays_counted(self):
        # Checkpoints every 4 rounds; killed after round 6 was released and
        # written, before the next checkpoint: rounds 5 and 6 (and any round
        # begun) were released, then lost; the rerun redoes them with fresh
        # noise, and epsilon counts both.
        settings = dict(
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1.0,
            clip=0.5,
            client_sampling="poisson",
            rounds=12,
            checkpoint_every=4,
            eval_every=100,
            baselines=False,
            experiment_name="dp",
        )
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.train", *self.flags(**settings)],
            cwd=base.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        metrics = self.run_dir("dp") / "metrics.csv"
        deadline = time.monotonic() + 240
        while not (
            metrics.exists() and any(r["round"] == "6" for r in base.read_rows(metrics))
        ):
            self.assertIsNone(process.poll(), "the run ended before it was killed")
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        process.kill()
        process.wait()
        ledger = json.loads((self.run_dir("dp") / "privacy_ledger.json").read_text())
        self.assertGreaterEqual(ledger["rounds"], 6)
        resumed = self.run_train(**settings)
        self.assert_ok(resumed)
        self.assertIn("resuming from round 4 of 12", resumed.stderr)
        lost = ledger["rounds"] - 4
        self.assertIn(f"Privacy: {lost} round(s) after the checkpoint", resumed.stderr)
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=4,
            num_clients=base.NUM_USERS,
            sampling="poisson",
        )
        results = self.results("dp")
        self.assertAlmostEqual(
            results["epsilon"], accounting.epsilon(spec, 12 + lost), places=6
        )
        self.assertGreater(results["epsilon"], accounting.epsilon(spec, 12))

    def test_wall_seconds_accumulate_over_resumes(self):
        settings = dict(rounds=3, baselines=False, experiment_name="clock")
        self.assert_ok(self.run_train(**settings))
        first = self.results("clock")
        self.assertEqual(first["resumes"], 0)
        clock = self.run_dir("clock") / "run_clock.json"
        # As if the first attempt had run for an hour.
        saved = json.loads(clock.read_text())
        clock.write_text(json.dumps({**saved, "seconds": 3600.0}))
        rerun = self.run_train(**settings)
        self.assert_ok(rerun)
        second = self.results("clock")
        self.assertEqual(second["resumes"], 1)
        self.assertGreater(second["wall_seconds"], 3600.0)
        self.assertIn("over 2 attempts (resumed 1 time)", rerun.stdout)


if __name__ == "__main__":
    absltest.main()
