"""`python -m pipelines.train`, run as a user runs it, on synthetic data."""

import os
import re
import signal
import subprocess
import sys
import time

import dp_accounting
import numpy as np
import pytest
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tests.pipelines import base
from tff_rec.compression import byte_counts
from tff_rec.data import synthetic as data_synthetic
from tff_rec.privacy import accounting


class TrainTest(base.PipelineTestCase):
    @parameterized.parameters("fedavg", "fedavg_unweighted", "fedrecon")
    def test_federated_algorithm_writes_outputs(self, algorithm):
        result = self.run_train(algorithm=algorithm, experiment_name=algorithm)
        self.assert_ok(result)
        rows = self.rows(algorithm)
        self.assertEqual([r["round"] for r in rows], ["1", "2"])
        for row in rows:
            self.assertGreater(float(row["train_loss"]), 0.0)
            self.assertGreater(float(row["test_rmse"]), 0.0)
        results = self.results(algorithm)
        for key in (
            "test_rmse",
            "test_mae",
            "rounds",
            "algorithm",
            "wall_seconds",
            "server_learning_rate",
            "centralized_test_rmse",
            "local_only_test_rmse",
        ):
            self.assertIn(key, results)
        self.assertEqual(results["algorithm"], algorithm)
        self.assertEqual(results["rounds"], 2)
        self.assertEqual(results["test_rmse"], float(rows[-1]["test_rmse"]))
        self.assertEqual(self.hparams(algorithm)["algorithm"], algorithm)
        out = self.run_dir(algorithm)
        self.assertNotEmpty(list((out / "tensorboard").iterdir()))
        with np.load(out / "final_weights.npz") as weights:
            self.assertIn("item_embedding", weights)
            # Reconstruction's server never holds user tables.
            self.assertEqual("user_embedding" in weights, algorithm != "fedrecon")
        self.assertIn("test RMSE", result.stdout)
        self.assertIn("centralized (baseline)", result.stdout)
        self.assertIn("round 2/2", result.stderr)

    def test_default_server_steps_per_algorithm(self):
        steps = {}
        for algorithm in ("fedavg", "fedrecon"):
            self.assert_ok(
                self.run_train(
                    algorithm=algorithm,
                    experiment_name=algorithm,
                    rounds=1,
                    baselines=False,
                )
            )
            steps[algorithm] = self.results(algorithm)["server_learning_rate"]
            self.assertIsNone(self.hparams(algorithm)["server_learning_rate"])
        # Weighted FedAvg's default is 0.4 of reconstruction's, on any data.
        self.assertAlmostEqual(steps["fedavg"] / steps["fedrecon"], 0.4, delta=0.03)

    # Both runtimes end to end through the CLI; the library-level equivalence
    # tests (tests/runtime/test_inprocess.py) run by default.
    @pytest.mark.slow
    def test_runtimes_train_the_same_model(self):
        for runtime in ("tff_cpp", "inprocess"):
            self.assert_ok(
                self.run_train(
                    algorithm="fedrecon", runtime=runtime, experiment_name=runtime
                )
            )
        self.assertAlmostEqual(
            self.results("tff_cpp")["test_rmse"],
            self.results("inprocess")["test_rmse"],
            5,
        )
        with (
            np.load(self.run_dir("tff_cpp") / "final_weights.npz") as reference,
            np.load(self.run_dir("inprocess") / "final_weights.npz") as ours,
        ):
            np.testing.assert_allclose(
                ours["item_embedding"], reference["item_embedding"], atol=1e-5
            )

    @parameterized.parameters("centralized", "local_only")
    def test_baseline_algorithm(self, algorithm):
        self.assert_ok(
            self.run_train(
                algorithm=algorithm, experiment_name=algorithm, baselines=False
            )
        )
        results = self.results(algorithm)
        self.assertEqual(results["algorithm"], algorithm)
        self.assertGreater(results["test_rmse"], 0.0)

    @parameterized.parameters("held_out_users", "leave_last_out")
    @pytest.mark.slow
    def test_other_splits_run_end_to_end(self, split):
        self.assert_ok(
            self.run_train(algorithm="fedrecon", split=split, experiment_name=split)
        )
        results = self.results(split)
        self.assertGreater(results["test_rmse"], 0.0)
        # Held-out users are not participants, so they have no local model.
        self.assertEqual(
            results["local_only_test_rmse"] is None, split == "held_out_users"
        )

    def test_export_dir_exports_at_the_end(self):
        export_dir = self.tmp / "export"
        result = self.run_train(
            algorithm="centralized",
            baselines=False,
            experiment_name="served",
            export_dir=export_dir,
        )
        self.assert_ok(result)
        self.assertTrue((export_dir / "served" / "1" / "saved_model.pb").exists())
        self.assertIn(f"Exported {export_dir / 'served' / '1'}", result.stdout)

    @parameterized.named_parameters(
        ("too_many_clients", dict(clients_per_round=500), "exceeds the 24 clients"),
        ("unknown_runtime", dict(runtime="gpu"), "runtime"),
        (
            "inprocess_with_workers",
            dict(runtime="inprocess", workers="127.0.0.1:1"),
            "--runtime=tff_cpp",
        ),
        ("non_integer_flag", dict(rounds="two"), "rounds"),
        ("missing_file", dict(data_dir="/nonexistent/ratings.csv"), "nonexistent"),
    )
    def test_bad_input_exits_2_with_one_line(self, settings, message):
        self.assert_error(self.run_train(**settings), message)
        self.assertFalse(self.run_dir("ml100k_fedrecon").exists())

    # One invalid setting per section and a few rules across sections
    # (tests/training/test_config.py enumerates every rule): each is refused
    # before any data is read, so a missing data folder goes unnoticed, and
    # no output folder is made.
    @parameterized.named_parameters(
        (
            "zero_noise",
            dict(aggregator="dp_gaussian_fixed", noise_multiplier=0),
            "noise_multiplier must be > 0",
        ),
        ("dataset", dict(dataset="netflix"), "unknown dataset"),
        ("partition", dict(partition="iid"), "'iid' partition needs num_clients"),
        ("model", dict(model="neumf"), "task='implicit'"),
        ("algorithm", dict(algorithm="fedsgd"), "unknown algorithm"),
        ("negative_rate", dict(client_learning_rate=-1), "client_learning_rate"),
        ("nan_rate", dict(server_learning_rate="nan"), "server_learning_rate"),
        (
            "dp_weighted",
            dict(aggregator="dp_laplace", algorithm="fedavg", noise_multiplier=1),
            "unweighted",
        ),
        ("bits", dict(quantize_bits=20), "quantize_bits must be in 2..16, got 20"),
        ("dropout", dict(dropout_rate=1.5), "dropout_rate must be in [0, 1)"),
        ("personalize", dict(personalize_steps=3), "task='implicit'"),
        (
            "export_local_only",
            dict(algorithm="local_only", export_dir="/tmp/x"),
            "no single model to export",
        ),
    )
    def test_invalid_settings_are_refused_before_data_loading(self, settings, message):
        result = self.run_train(data_dir="/nonexistent/folder", **settings)
        self.assert_error(result, message)
        self.assertFalse((self.tmp / "runs").exists())

    def test_malformed_data_exits_2_naming_file_and_line(self):
        bad = self.tmp / "bad.csv"
        bad.write_text("user,item,rating\nu1,i1,4\nu2,i2,four\n")
        self.assert_error(self.run_train(data_dir=bad), "bad.csv:3")

    def test_divergence_exits_3_and_keeps_the_last_finite_checkpoint(self):
        wide = data_synthetic.write_wide_scale_csv(self.tmp / "wide.csv")
        result = self.run_train(
            data_dir=wide,
            rating_scale=None,
            rounds=20,
            clients_per_round=50,
            eval_every=20,
            baselines=False,
            server_learning_rate=25,
            experiment_name="diverged",
        )
        self.assert_error(result, "training diverged at round", code=3)
        self.assertIn("--server_learning_rate (now 25)", result.stderr)
        self.assertNotIn("nan", result.stdout)
        results = self.results("diverged")
        self.assertTrue(results["diverged"])
        round_num = results["diverged_round"]
        self.assertIn(f"round {round_num}:", result.stderr)
        checkpoints = sorted((self.run_dir("diverged") / "checkpoints").iterdir())
        self.assertEqual(checkpoints[-1].name, f"program_state_{round_num - 1}")


class PrivacyTest(base.PipelineTestCase):
    SETTINGS = dict(
        clients_per_round=6,
        eval_every=1,
        embedding_dim=4,
        baselines=False,
        server_learning_rate=1.0,
    )

    def test_dp_run_reports_epsilon_every_round(self):
        result = self.run_train(
            algorithm="fedrecon",
            aggregator="dp_gaussian_fixed",
            noise_multiplier=0.8,
            clip=0.5,
            client_sampling="poisson",
            rounds=3,
            experiment_name="dp",
        )
        self.assert_ok(result)
        rows = self.rows("dp")
        self.assertLen(rows, 3)
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=0.8,
            clients_per_round=6,
            num_clients=base.NUM_USERS,
            sampling="poisson",
        )
        for k, row in enumerate(rows, start=1):
            self.assertAlmostEqual(
                float(row["epsilon"]), accounting.epsilon(spec, k), places=6
            )
            self.assertAlmostEqual(float(row["delta"]), 1 / base.NUM_USERS**1.1)
        results = self.results("dp")
        for key in ("epsilon", "delta", "noise_multiplier", "clip"):
            self.assertIn(key, results)
        self.assertAlmostEqual(results["epsilon"], float(rows[-1]["epsilon"]))
        self.assertEqual(results["noise_multiplier"], 0.8)
        self.assertEqual(results["clip"], 0.5)
        self.assertIn("Privacy: epsilon=", result.stderr)

    def test_budget_stops_before_exceeding_target(self):
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=6,
            num_clients=base.NUM_USERS,
            sampling="fixed_size",
        )
        target = (accounting.epsilon(spec, 2) + accounting.epsilon(spec, 3)) / 2
        result = self.run_train(
            algorithm="fedavg_unweighted",
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1.0,
            target_epsilon=target,
            rounds=6,
            experiment_name="budget",
        )
        self.assert_ok(result)
        rows = self.rows("budget")
        self.assertLen(rows, 2)
        self.assertLessEqual(float(rows[-1]["epsilon"]), target)
        self.assertIn("Privacy budget: stopping after round 2 of 6", result.stderr)
        results = self.results("budget")
        self.assertEqual(results["rounds"], 2)
        self.assertIn("test_rmse", results)

    def test_secure_aggregation_with_dp_runs(self):
        self.assert_ok(
            self.run_train(
                algorithm="fedavg_unweighted",
                aggregator="dp_gaussian_fixed",
                noise_multiplier=0.5,
                secure_aggregation=True,
                rounds=1,
                experiment_name="secure",
            )
        )
        self.assertLen(self.rows("secure"), 1)


class CompressionTest(base.PipelineTestCase):
    SETTINGS = dict(PrivacyTest.SETTINGS, rounds=2)

    def _check_bytes(self, name):
        rows, results = self.rows(name), self.results(name)
        self.assertLen(rows, 2)
        for row in rows:
            for key in byte_counts.BYTE_KEYS:
                self.assertGreater(float(row[key]), 0.0, key)
        for key in byte_counts.BYTE_KEYS:
            values = [float(row[key]) for row in rows]
            self.assertAlmostEqual(results[f"{key}_total"], sum(values))
            self.assertAlmostEqual(results[f"{key}_per_round"], sum(values) / 2)
        return rows, results

    def test_compressed_reconstruction_reports_bytes_both_ways(self):
        self.assert_ok(
            self.run_train(
                algorithm="fedrecon",
                quantize_bits=8,
                sparse_item_updates=True,
                broadcast_quantize_bits=8,
                experiment_name="compressed",
            )
        )
        rows, _ = self._check_bytes("compressed")
        for row in rows:
            # Sparse 8-bit rows are far smaller than the float32 item tables;
            # the 8-bit broadcast about a quarter of them.
            self.assertLess(float(row["bytes_up"]), float(row["dense_bytes_up"]) / 3)
            self.assertLess(
                float(row["bytes_down"]), float(row["dense_bytes_down"]) / 3
            )
        hparams = self.hparams("compressed")
        self.assertEqual(hparams["quantize_bits"], 8)
        self.assertTrue(hparams["sparse_item_updates"])

    def test_uncompressed_run_reports_dense_bytes(self):
        self.assert_ok(self.run_train(algorithm="fedavg", experiment_name="dense"))
        rows, _ = self._check_bytes("dense")
        for row in rows:
            self.assertEqual(row["bytes_up"], row["dense_bytes_up"])
            self.assertEqual(row["bytes_down"], row["dense_bytes_down"])

    def test_secure_dp_quantized_sparse_with_decoys(self):
        self.assert_ok(
            self.run_train(
                algorithm="fedrecon",
                aggregator="dp_gaussian_fixed",
                noise_multiplier=0.5,
                clip=0.5,
                secure_aggregation=True,
                quantize_bits=8,
                sparse_item_updates=True,
                decoy_rows=3,
                experiment_name="secure_dp",
            )
        )
        _, results = self._check_bytes("secure_dp")
        self.assertIn("epsilon", results)


class ImplicitTest(base.PipelineTestCase):
    def test_scenario_with_explicit_overrides(self):
        data_dir = synthetic.write_ml100k(self.tmp / "ml", num_users=30)
        result = base.run_pipeline(
            "train",
            *base.as_flags(
                dict(
                    scenario="news_users",
                    data_dir=data_dir,
                    root_output_dir=self.tmp / "runs",
                    rounds=1,
                    clients_per_round=4,
                    embedding_dim=4,
                    eval_negatives=10,
                    loss="bpr",
                    baselines=False,
                )
            ),
        )
        self.assert_ok(result)
        hparams = self.hparams("news_users")
        # Preset values, and the flags given on top of them.
        self.assertEqual(hparams["scenario"], "news_users")
        self.assertEqual(hparams["task"], "implicit")
        self.assertEqual(hparams["split"], "leave_last_out")
        self.assertEqual(hparams["loss"], "bpr")
        self.assertEqual(hparams["rounds"], 1)
        self.assertIn("sampled_ndcg@10", self.results("news_users"))
        self.assertIn("sampled_hr@10", result.stdout)

    def test_describe_scenario(self):
        result = base.run_pipeline(
            "train", "--scenario=ecommerce_stores", "--describe_scenario"
        )
        self.assert_ok(result)
        self.assertIn("--partition_attribute=zip_prefix", result.stdout)
        self.assertIn("--personalize_steps=100", result.stdout)

    @parameterized.named_parameters(
        ("scenario", ["--scenario=bank"], "unknown scenario 'bank'"),
        ("export", ["--task=implicit", "--export_dir=/tmp/x"], "task='rating'"),
    )
    def test_bad_scenario_and_export_are_one_line_errors(self, flags, message):
        self.assert_error(base.run_pipeline("train", *flags), message)


class ReliabilityTest(base.PipelineTestCase):
    SETTINGS = dict(
        rounds=3, clients_per_round=6, eval_every=3, embedding_dim=4, baselines=False
    )

    def test_dropout_attack_and_robust_run_completes(self):
        self.assert_ok(
            self.run_train(
                algorithm="fedrecon",
                dropout_rate=0.3,
                min_clients_per_round=2,
                robust=True,
                malicious_fraction=0.25,
                attack="nan",
                experiment_name="reliable",
            )
        )
        rows = self.rows("reliable")
        self.assertEqual([r["round"] for r in rows], ["1", "2", "3"])
        for row in rows:
            self.assertEqual(int(row["clients"]) + int(row["clients_dropped"]), 6)
            self.assertEqual(row["aborted"], str(int(int(row["clients"]) < 2)))
            self.assertLessEqual(int(row["clients_malicious"]), int(row["clients"]))
        self.assertGreater(sum(int(r["clients_dropped"]) for r in rows), 0)
        self.assertGreater(sum(int(r["clients_malicious"]) for r in rows), 0)
        results = self.results("reliable")
        self.assertGreater(results["test_rmse"], 0.0)
        self.assertLess(results["test_rmse"], 10.0)
        self.assertTrue(
            (self.run_dir("reliable") / "checkpoints" / "program_state_3").is_dir()
        )


class ResumeTest(base.PipelineTestCase):
    """SIGKILL mid-run, rerun the same command, compare with an uninterrupted
    run: the same weights, one metrics row per round, and, with DP, the
    privacy accounting continued where it stopped."""

    ROUNDS = 6
    KILL_AFTER_ROUND = 2
    WAIT_S = 240
    SETTINGS = dict(
        rounds=ROUNDS,
        clients_per_round=6,
        eval_every=3,
        embedding_dim=4,
        baselines=False,
        algorithm="fedavg_unweighted",
        server_learning_rate=1.0,
    )

    def setUp(self):
        super().setUp()
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        super().tearDown()

    def start(self, name, **settings) -> subprocess.Popen:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.train",
                *self.flags(experiment_name=name, **settings),
            ],
            cwd=base.REPO_ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def kill_after_round(self, name, **settings) -> None:
        """Starts a run and SIGKILLs it once its CSV has `KILL_AFTER_ROUND`."""
        process = self.start(name, **settings)
        metrics = self.run_dir(name) / "metrics.csv"
        deadline = time.monotonic() + self.WAIT_S
        while True:
            self.assertIsNone(process.poll(), "the run ended before it was killed")
            self.assertLess(time.monotonic(), deadline, "no round was written")
            if metrics.exists():
                rounds = [int(r["round"]) for r in base.read_rows(metrics)]
                if rounds and rounds[-1] >= self.KILL_AFTER_ROUND:
                    break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        self.assertEqual(process.wait(), -signal.SIGKILL)
        self.assertLess(len(base.read_rows(metrics)), self.ROUNDS)

    def resume(self, name, **settings) -> None:
        result = self.run_train(experiment_name=name, **settings)
        self.assert_ok(result)
        self.assertRegex(result.stderr, r"resuming from round \d+ of 6")
        rounds = [int(r["round"]) for r in self.rows(name)]
        self.assertEqual(rounds, list(range(1, self.ROUNDS + 1)))

    @pytest.mark.slow
    def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(self):
        reference = self.start("reference", dropout_rate=0.3)
        self.kill_after_round("resumed", dropout_rate=0.3)
        self.resume("resumed", dropout_rate=0.3)
        self.assertEqual(reference.wait(timeout=self.WAIT_S), 0)
        with (
            np.load(self.run_dir("reference") / "final_weights.npz") as expected,
            np.load(self.run_dir("resumed") / "final_weights.npz") as actual,
        ):
            self.assertEqual(sorted(expected), sorted(actual))
            for name in expected:
                np.testing.assert_allclose(actual[name], expected[name], atol=1e-6)
        for expected, actual in zip(
            self.rows("reference"), self.rows("resumed"), strict=True
        ):
            for key in ("clients", "clients_dropped", "train_loss", "test_rmse"):
                self.assertEqual(actual[key], expected[key], key)

    @pytest.mark.slow
    def test_killed_dp_run_continues_its_privacy_accounting(self):
        dp = dict(
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1.0,
            clip=0.5,
            client_sampling="poisson",
        )
        self.kill_after_round("dp", **dp)
        resumed = self.run_train(experiment_name="dp", **dp)
        self.assert_ok(resumed)
        restart = int(re.search(r"resuming from round (\d+)", resumed.stderr)[1])
        # Rounds released after the checkpoint and lost stay counted.
        lost = re.search(
            r"Privacy: (\d+) round\(s\) after the checkpoint", resumed.stderr
        )
        lost = 0 if lost is None else int(lost[1])
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=1.0,
            clients_per_round=6,
            num_clients=base.NUM_USERS,
            sampling="poisson",
        )
        rows = self.rows("dp")
        self.assertEqual([int(r["round"]) for r in rows], list(range(1, 7)))
        for k, row in enumerate(rows, start=1):
            counted = k if k <= restart else k + lost
            self.assertAlmostEqual(
                float(row["epsilon"]), accounting.epsilon(spec, counted), places=6
            )
        results = self.results("dp")
        self.assertAlmostEqual(
            results["epsilon"], accounting.epsilon(spec, self.ROUNDS + lost), places=6
        )
        self.assertGreaterEqual(results["epsilon"], accounting.epsilon(spec, 6))

    @pytest.mark.slow
    def test_other_settings_are_refused_and_fresh_starts_over(self):
        self.assert_ok(self.run_train(experiment_name="run", rounds=2))
        changed = self.run_train(experiment_name="run", rounds=3)
        self.assert_error(changed, "rounds: 2 -> 3")
        self.assertIn("--fresh", changed.stderr)
        fresh = self.run_train(experiment_name="run", rounds=3, fresh=True)
        self.assert_ok(fresh)
        self.assertNotIn("resuming", fresh.stderr)
        self.assertEqual([r["round"] for r in self.rows("run")], ["1", "2", "3"])
        checkpoints = sorted(
            p.name for p in (self.run_dir("run") / "checkpoints").iterdir()
        )
        self.assertEqual(checkpoints, ["program_state_2", "program_state_3"])


if __name__ == "__main__":
    absltest.main()


# A TensorFlow C++ log line (``2026-12-05 20:38:50.710226: E tensorflow/...``)
# or an absl / Python logging line (``I1205 20:38:55.819511 ... compiler.py:532]``,
# ``WARNING:tensorflow:...``).
_LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ "
    r"|(INFO|WARNING|ERROR):(tensorflow|absl|root))"
)


class OutputTest(base.PipelineTestCase):
    """What a user sees: the summary, progress and results, not TF's logs."""

    def log_lines(self, result) -> list[str]:
        lines = (result.stdout + result.stderr).splitlines()
        return [line for line in lines if _LOG_LINE.match(line)]

    def test_default_run_prints_no_tensorflow_logs(self):
        result = base.run_pipeline("train", *self.flags(rounds=2), default_logging=True)
        self.assert_ok(result)
        self.assertEqual(self.log_lines(result), [])
        self.assertRegex(result.stdout, r"(?m)^Data: csv, \d+ interactions")
        self.assertRegex(result.stdout, r"(?m)^Partition: user partition: ")
        self.assertRegex(result.stdout, r"(?m)^algorithm +test RMSE")
        self.assertRegex(result.stdout, r"(?m)^Wrote .+")
        progress = [
            line for line in result.stderr.splitlines() if line.startswith("round ")
        ]
        self.assertLen(progress, 2, result.stderr)
        self.assertRegex(progress[-1], r"^round 2/2 .* ETA .* train_loss=")

    def test_verbosity_brings_the_logs_back(self):
        result = base.run_pipeline(
            "train", *self.flags(rounds=1), "--verbosity=0", default_logging=True
        )
        self.assert_ok(result)
        logs = "\n".join(self.log_lines(result))
        self.assertIn("Using Grappler", logs)
        self.assertRegex(logs, r"(?m)^\d{4}-\d\d-\d\d .*: I tensorflow/")


class DpAlsTest(base.PipelineTestCase):
    SETTINGS = dict(rounds=3, clients_per_round=24, eval_every=1, baselines=False)

    def test_noise_free_run_fits_the_ratings(self):
        result = self.run_train(algorithm="dp_als", als_dim=2, experiment_name="als")
        self.assert_ok(result)
        results = self.results("als")
        self.assertEqual(results["algorithm"], "dp_als")
        self.assertLen(self.rows("als"), 3)
        self.assertNotIn("epsilon", results)
        # A sensible figure on the 1-5 scale (24 users, weak structure).
        self.assertLess(results["test_rmse"], 1.5)
        self.assertIn(
            "item_factors", np.load(self.run_dir("als") / "final_weights.npz")
        )

    def test_private_run_reports_the_epsilon_of_every_release(self):
        result = self.run_train(
            algorithm="dp_als",
            aggregator="dp_gaussian_fixed",
            noise_multiplier=1.2,
            clip=1.0,
            client_sampling="poisson",
            clients_per_round=12,
            experiment_name="dp_als",
        )
        self.assert_ok(result)
        results = self.results("dp_als")
        # Direct dp_accounting: three Poisson-sampled Gaussian sums.
        event = dp_accounting.PoissonSampledDpEvent(
            12 / base.NUM_USERS, dp_accounting.GaussianDpEvent(1.2)
        )
        accountant = dp_accounting.rdp.RdpAccountant()
        accountant.compose(event, 3)
        delta = 1 / base.NUM_USERS**1.1
        self.assertAlmostEqual(results["delta"], delta)
        self.assertAlmostEqual(
            results["epsilon"], accountant.get_epsilon(delta), delta=1e-6
        )
        self.assertEqual(results["noise_multiplier"], 1.2)
        self.assertTrue(np.isfinite(results["test_rmse"]))
        self.assertLess(results["test_rmse"], 2.0)

    def test_other_partitions_are_refused(self):
        self.assert_error(
            self.run_train(
                algorithm="dp_als", partition="iid", num_clients=4, clients_per_round=4
            ),
            "one client per user",
        )
