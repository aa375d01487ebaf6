"""`python -m pipelines.audit`, run as a user runs it, on a small synthetic CSV."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from absl.testing import parameterized

from tests.pipelines import base
from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import threat_model

# A small audit: 12 member clients of 24 users, 2 rounds.
TINY = dict(
    algorithms="fedrecon",
    rounds=2,
    clients_per_round=4,
    audited_clients=4,
    shadow_clients=4,
    cohorts="1,4",
    epsilons="5",
    canaries=4,
    held_out_canaries=20,
    bootstrap=20,
    configurations="mean,sparse_rows_decoys10_secure,secure_aggregation,dp_laplace",
)


class AuditPipelineTest(base.PipelineTestCase):
    def run_audit(self, **settings):
        flags = base.as_flags(
            {
                "dataset": "csv",
                "data_dir": self.csv,
                "rating_scale": "1,5",
                "output_dir": self.tmp / "audit",
                **TINY,
                **settings,
            }
        )
        return base.run_pipeline("audit", *flags)

    def test_writes_the_audit(self):
        result = self.run_audit()
        self.assert_ok(result)
        document = json.loads((self.tmp / "audit" / "audit.json").read_text())
        rows = document["rows"]
        self.assertTrue(document["complete"])
        self.assertTrue((self.tmp / "audit" / "audit.png").stat().st_size > 0)
        self.assertIn("| fedrecon | mean | interaction |", result.stdout)
        for row in rows:
            self.assertContainsSubset(report.ROW_KEYS, row.keys())
        by_attack = {}
        for row in rows:
            by_attack.setdefault(row["attack"], []).append(row)
        self.assertEqual(
            set(by_attack),
            {"interaction", "rating_value", "membership", "canary_epsilon"},
        )
        # A single plain upload is non-zero exactly at the client's items.
        (plain,) = (r for r in by_attack["interaction"] if r["config"] == "mean")
        self.assertEqual(plain["auc"], 1.0)
        self.assertEqual(plain["precision"], 1.0)
        secure = [
            r for r in by_attack["interaction"] if r["config"] == "secure_aggregation"
        ]
        self.assertEqual(sorted(r["cohort"] for r in secure), [1, 4])
        # Sums of more than the target come with the sum of the others alone.
        self.assertEqual(
            {r["cohort"]: r.get("auc_without_target") is not None for r in secure},
            {1: False, 4: True},
        )
        for row in by_attack["interaction"]:
            self.assertLessEqual(row["auc_ci_low"], row["auc"])
            self.assertLessEqual(row["auc"], row["auc_ci_high"])
        # What each attack read is what its party receives.
        for row in rows:
            if row["config"] in document["threat_model"][row["party"]]:
                allowed = document["threat_model"][row["party"]][row["config"]]
            else:  # a trained run's released model
                allowed = ["initial_model", "released_model"]
            self.assertContainsSubset(row["tensors_read"] or [], allowed)
        self.assertNotIn(
            "client_upload",
            sum((r["tensors_read"] or [] for r in secure), []),
        )
        (canary,) = by_attack["canary_epsilon"]
        self.assertEqual(canary["config"], "dp_gaussian_fixed_eps5")
        self.assertAlmostEqual(canary["epsilon_accountant"], 5.0, delta=0.05)
        self.assertFalse(canary["broken_dp"])
        self.assertEqual(
            [r["epsilon_accountant"] for r in by_attack["membership"]], [None, 5.0]
        )
        self.assertEqual(
            document["threat_model"]["server"]["secure_aggregation"],
            sorted(
                o.value
                for o in threat_model.visible(
                    threat_model.Party.SERVER,
                    threat_model.configuration("secure_aggregation"),
                )
            ),
        )

    @parameterized.named_parameters(
        ("nan_epsilon", dict(epsilons="nan"), "epsilons must be finite"),
        ("word_epsilon", dict(epsilons="five"), "--epsilons: 'five' is not a float"),
        ("unknown_config", dict(configurations="mean,bogus"), "bogus"),
        ("centralized", dict(algorithms="centralized"), "is not federated"),
        ("cohort_too_big", dict(cohorts="1,40"), "a secure sum of 40 clients"),
        ("too_many_audited", dict(audited_clients=20), "exceeds the 12 training"),
        ("fraction", dict(non_member_fraction=1.5), "non_member_fraction must be in"),
    )
    def test_bad_flags(self, settings, message):
        self.assert_error(self.run_audit(**settings), message)

    @pytest.mark.slow
    def test_killed_audit_keeps_the_stages_it_finished(self):
        flags = base.as_flags(
            {
                "dataset": "csv",
                "data_dir": self.csv,
                "rating_scale": "1,5",
                "output_dir": self.tmp / "audit",
                **TINY,
                "epsilons": "1,5,8",
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.audit", *flags],
            cwd=base.REPO_ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        path = self.tmp / "audit" / "audit.json"
        deadline = time.monotonic() + base.DEFAULT_TIMEOUT_S
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        self.assertEqual(process.wait(), -signal.SIGKILL)
        document = json.loads(path.read_text())
        self.assertFalse(document["complete"])
        self.assertNotEmpty(document["rows"])
        self.assertNotIn(
            "dp_gaussian_fixed_eps8", [r["config"] for r in document["rows"]]
        )

    def test_output_dir_that_is_a_file(self):
        path = self.tmp / "a_file"
        path.write_text("x")
        self.assert_error(self.run_audit(output_dir=path), "is not a folder")
