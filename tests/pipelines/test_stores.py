"""The documented stores commands converge: each beats the local-only
baseline on MovieLens-100K (run at fewer rounds, from the download cache)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex

import dp_accounting
import pytest
from dp_accounting import rdp

from tests import synthetic
from tests.pipelines import base

DOC = base.REPO_ROOT / "docs" / "stores.md"
CACHE = pathlib.Path(
    os.environ.get("TFF_REC_CACHE", pathlib.Path.home() / ".cache" / "tff_rec")
)
ROUNDS = 10


def documented_commands() -> list[list[str]]:
    """The train commands of docs/stores.md and of the pipeline's docstring
    that use a cross-silo partition, without customer-level DP (whose cost
    the docs report as measured; its accounting is tested below)."""
    text = DOC.read_text() + (base.REPO_ROOT / "pipelines" / "train.py").read_text()
    text = text.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("python -m pipelines.train") and re.search(
            r"--partition=(attribute|iid|dirichlet)", line
        ):
            flags = shlex.split(line)[3:]
            if "--privacy_unit=customer" in flags:
                continue
            if flags not in commands:
                commands.append(flags)
    return commands


def test_the_docs_hold_the_stores_commands():
    commands = documented_commands()
    assert len(commands) >= 3
    assert any("--partition=attribute" in c for c in commands)


@pytest.mark.slow
@pytest.mark.skipif(
    not (CACHE / "ml-100k").exists(), reason="MovieLens-100K not in the cache"
)
@pytest.mark.parametrize("flags", documented_commands())
def test_documented_stores_command_beats_local_only(flags, tmp_path):
    flags = [f for f in flags if not f.startswith("--rounds=")]
    result = base.run_pipeline(
        "train",
        *flags,
        f"--rounds={ROUNDS}",
        f"--root_output_dir={tmp_path}",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test_rmse"] < results["local_only_test_rmse"]
    report = results["per_client"]
    assert len(report) == results["num_clients"]
    for key in (
        "client_id",
        "num_users",
        "num_examples",
        "global_test_rmse",
        "local_test_rmse",
        "finetuned_test_rmse",
    ):
        assert key in report[0]


class CustomerDpPipelineTest(base.PipelineTestCase):
    def test_reports_the_accountants_customer_level_epsilon_every_round(self):
        data_dir = synthetic.write_ml100k(self.tmp / "ml", num_users=44)
        result = base.run_pipeline(
            "train",
            *base.as_flags(
                {
                    "dataset": "ml-100k",
                    "data_dir": data_dir,
                    "root_output_dir": self.tmp / "runs",
                    "experiment_name": "cdp",
                    "algorithm": "fedavg",
                    "partition": "attribute",
                    "rounds": 3,
                    "embedding_dim": 4,
                    "centralized_epochs": 2,
                    "privacy_unit": "customer",
                    "customer_epsilon": 4.0,
                }
            ),
        )
        self.assert_ok(result)
        results = json.loads((self.run_dir("cdp") / "results.json").read_text())
        steps = results["customer_steps"]
        accountant = rdp.RdpAccountant()
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(
                results["customer_sampling_rate"],
                dp_accounting.GaussianDpEvent(results["noise_multiplier"]),
            ),
            3 * steps,
        )
        self.assertAlmostEqual(
            results["epsilon"], accountant.get_epsilon(results["delta"]), delta=1e-6
        )
        self.assertLessEqual(results["epsilon"], 4.0)
        epsilons = [float(r["epsilon"]) for r in self.rows("cdp")]
        self.assertLen(epsilons, 3)
        self.assertEqual(epsilons, sorted(epsilons))
        self.assertIn("per_client", results)

    def test_customer_unit_refuses_a_dp_aggregator(self):
        result = self.run_train(
            privacy_unit="customer",
            algorithm="fedavg_unweighted",
            aggregator="dp_gaussian_fixed",
        )
        self.assert_error(result, "use aggregator='mean'")
