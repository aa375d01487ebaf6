"""Hostile but fair uses of `python -m pipelines.train`, as a user runs it:
bad hyper-parameters, seeds and output folders, a full disk."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid

from absl.testing import absltest
from absl.testing import parameterized

from tests.pipelines import base


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


if __name__ == "__main__":
    absltest.main()
