"""Tests of the audit's outputs: strict JSON, the Markdown table, the plot."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
from matplotlib import axes

from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import threat_model


@dataclasses.dataclass(frozen=True)
class _Options:
    epsilons: tuple[float, ...] = (1.0, math.inf)
    delta: float | None = None
    seed: int = 3


def _strict_loads(text: str):
    """json.loads that rejects NaN and Infinity (what other parsers do)."""

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


class WriteJsonTest(parameterized.TestCase):
    def test_strict_json_with_nulls(self):
        rows = [
            {
                "algorithm": "fedrecon",
                "epsilon_accountant": math.inf,
                "auc": math.nan,
                "epsilon_empirical_ci_high": -math.inf,
                "tensors_read": ("broadcast", "client_upload"),
                "nested": {1: [0.5, math.inf]},
                "members": 12,
                "broken_dp": True,
            }
        ]
        path = os.path.join(self.create_tempdir().full_path, report.JSON_FILE)
        report.write_json(path, rows, _Options())
        with open(path) as f:
            document = _strict_loads(f.read())
        self.assertEqual(
            list(document), ["complete", "options", "threat_model", "rows"]
        )
        self.assertEqual(
            document["rows"],
            [
                {
                    "algorithm": "fedrecon",
                    "epsilon_accountant": None,
                    "auc": None,
                    "epsilon_empirical_ci_high": None,
                    "tensors_read": ["broadcast", "client_upload"],
                    "nested": {"1": [0.5, None]},
                    "members": 12,
                    "broken_dp": True,
                }
            ],
        )
        self.assertEqual(
            document["options"], {"epsilons": [1.0, None], "delta": None, "seed": 3}
        )
        # The caller's rows are left as they were.
        self.assertEqual(rows[0]["epsilon_accountant"], math.inf)

    def test_threat_model_and_no_options(self):
        directory = self.create_tempdir().full_path
        path = os.path.join(directory, report.JSON_FILE)
        with open(path, "w") as f:
            f.write("stale")
        report.write_json(path, [])
        with open(path) as f:
            document = _strict_loads(f.read())
        self.assertIsNone(document["options"])
        self.assertEqual(document["rows"], [])
        self.assertTrue(document["complete"])
        report.write_json(path, [], complete=False)
        with open(path) as f:
            self.assertFalse(_strict_loads(f.read())["complete"])
        self.assertEqual(document["threat_model"], report.threat_model_dict())
        server = document["threat_model"]["server"]
        self.assertIn("client_upload", server["mean"])
        self.assertNotIn("client_upload", server["secure_aggregation"])
        self.assertEqual(
            document["threat_model"]["network_observer"]["mean"], ["message_bytes"]
        )
        self.assertEqual(
            set(document["threat_model"]), {p.value for p in threat_model.Party}
        )
        # Written through a temporary file, which is gone.
        self.assertEqual(os.listdir(directory), [report.JSON_FILE])


class FormatTableTest(parameterized.TestCase):
    _ROWS = (
        {
            "algorithm": "fedavg_unweighted",
            "config": "sparse_rows_decoys100_secure",
            "attack": "interaction",
            "auc": 0.75,
            "auc_ci_low": 0.7,
            "auc_ci_high": 0.8,
            "precision": 0.5,
            "precision_ci_low": 0.4,
            "precision_ci_high": 0.6,
            "cohort": 50,
            "decoy_rows": 100,
        },
        {
            "algorithm": "fedrecon",
            "config": "mean",
            "attack": "interaction",
            "auc": 1.0,
            "precision": 0.9,
            "cohort": None,
            "decoy_rows": 0,
        },
        {
            "algorithm": "fedrecon",
            "config": "secure_aggregation",
            "attack": "rating_value",
            "note": "no single client's upload reaches the server",
        },
        {
            "algorithm": "fedrecon",
            "config": "mean",
            "attack": "rating_value",
            "rmse": 0.4,
            "rmse_ci_low": 0.3,
            "rmse_ci_high": 0.5,
            "rmse_user_mean": 1.0,
        },
        {
            "algorithm": "fedrecon",
            "config": "dp_eps1",
            "attack": "membership",
            "auc": 0.5134,
            "tpr_at_0.01_fpr": 0.02,
            "tpr_at_0.001_fpr": 0.0,
            "tpr_at_0.01_fpr_dp_bound": 0.0372,
            "epsilon_accountant": 1.0,
        },
        {
            "algorithm": "fedrecon",
            "config": "dp_eps1_broken",
            "attack": "canary_epsilon",
            "canaries_inserted": 100,
            "broken_dp": True,
            "epsilon_accountant": math.inf,
            "epsilon_empirical": 8.0,
            "epsilon_empirical_ci_low": 6.0,
            "epsilon_empirical_ci_high": math.inf,
        },
    )
    _LINES = (
        "| fedavg_unweighted | sparse_rows_decoys100_secure | interaction "
        "| 0.750 [0.700, 0.800] | precision 0.50 [0.40, 0.60]; sum of 50; "
        "100 decoys | – | – |",
        "| fedrecon | mean | interaction | 1.000 | precision 0.90 | – | – |",
        "| fedrecon | secure_aggregation | rating_value | – "
        "| no single client's upload reaches the server | – | – |",
        "| fedrecon | mean | rating_value | – "
        "| RMSE 0.40 [0.30, 0.50] vs user mean 1.00 | – | – |",
        "| fedrecon | dp_eps1 | membership | 0.513 "
        "| TPR@1% 0.020, TPR@0.1% 0.000 (DP bound 0.037) | 1.00 | – |",
        "| fedrecon | dp_eps1_broken | canary_epsilon | – "
        "| 100 canaries, noise 10x below the accountant's | ∞ | 8.00 [6.00, ∞] |",
    )

    def test_one_line_per_row_plus_header(self):
        table = report.format_table(self._ROWS)
        self.assertTrue(table.endswith("\n"))
        lines = table.splitlines()
        self.assertLen(lines, len(self._ROWS) + 2)
        self.assertEqual(
            lines[0],
            "| algorithm | configuration | attack | AUC [95% CI] | detail "
            "| accountant ε | empirical ε [95% CI] |",
        )
        self.assertEqual(lines[1], "|---|---|---|---|---|---|---|")
        # The header and every row have seven cells.
        for line in lines[:1] + lines[2:]:
            self.assertEqual(line.count(" | "), 6, line)

    @parameterized.parameters(*range(len(_LINES)))
    def test_row(self, index):
        table = report.format_table([self._ROWS[index]])
        self.assertEqual(table.splitlines()[2], self._LINES[index])

    def test_empty(self):
        self.assertLen(report.format_table([]).splitlines(), 2)


class NewRowTest(parameterized.TestCase):
    def test_has_every_key(self):
        row = report.new_row(
            "fedrecon", "mean", "interaction", threat_model.Party.SERVER
        )
        self.assertEqual(tuple(row), report.ROW_KEYS)
        self.assertEqual(
            (row["algorithm"], row["config"], row["attack"], row["party"]),
            ("fedrecon", "mean", "interaction", "server"),
        )
        self.assertIs(row["broken_dp"], False)
        self.assertIsNone(row["auc"])


class PlotTest(parameterized.TestCase):
    _ROWS = (
        {
            "algorithm": "fedavg_unweighted",
            "attack": "membership",
            "auc": 0.61,
            "test_rmse": 0.95,
            "epsilon_accountant": None,
        },
        {
            "algorithm": "fedrecon",
            "attack": "membership",
            "auc": 0.55,
            "test_rmse": 1.01,
            "epsilon_accountant": None,
        },
        {
            "algorithm": "fedrecon",
            "attack": "membership",
            "auc": 0.51,
            "test_rmse": 1.12,
            "epsilon_accountant": 1.0,
        },
        # Without a test RMSE: not plotted.
        {"algorithm": "fedrecon", "attack": "membership", "auc": 0.9},
        {
            "algorithm": "fedrecon",
            "attack": "canary_epsilon",
            "epsilon_accountant": 1.0,
            "epsilon_empirical": 0.5,
            "epsilon_empirical_ci_low": 0.25,
            "epsilon_empirical_ci_high": 1.5,
            "broken_dp": False,
        },
        {
            "algorithm": "fedrecon",
            "attack": "canary_epsilon",
            "epsilon_accountant": 5.0,
            "epsilon_empirical": 8.0,
            "epsilon_empirical_ci_low": 6.0,
            "epsilon_empirical_ci_high": 9.0,
            "broken_dp": True,
        },
        {"algorithm": "fedrecon", "attack": "interaction", "auc": 1.0},
    )

    def test_writes_png(self):
        path = os.path.join(self.create_tempdir().full_path, report.PLOT_FILE)
        report.plot_utility_vs_leakage(self._ROWS, path)
        with open(path, "rb") as f:
            header = f.read(24)
        self.assertEqual(header[:8], b"\x89PNG\r\n\x1a\n")
        # 11 x 4.2 inches at 120 dpi.
        self.assertEqual(struct.unpack(">II", header[16:24]), (1320, 504))

    def test_plots_membership_and_canary_rows(self):
        path = os.path.join(self.create_tempdir().full_path, report.PLOT_FILE)
        with (
            mock.patch.object(
                axes.Axes, "scatter", autospec=True, side_effect=axes.Axes.scatter
            ) as scatter,
            mock.patch.object(
                axes.Axes, "errorbar", autospec=True, side_effect=axes.Axes.errorbar
            ) as errorbar,
        ):
            report.plot_utility_vs_leakage(self._ROWS, path)
        self.assertTrue(os.path.exists(path))
        points = {
            call.kwargs["label"]: (list(call.args[1]), list(call.args[2]))
            for call in scatter.call_args_list
        }
        self.assertEqual(
            points,
            {
                "fedavg_unweighted": ([0.61], [0.95]),
                "fedrecon": ([0.55, 0.51], [1.01, 1.12]),
            },
        )
        self.assertLen(errorbar.call_args_list, 2)
        honest, broken = errorbar.call_args_list
        self.assertEqual((honest.args[1], honest.args[2]), ([1.0], [0.5]))
        self.assertEqual(honest.kwargs["yerr"], [[0.25], [1.0]])
        self.assertEqual(honest.kwargs["label"], "fedrecon")
        self.assertIsNone(honest.kwargs["color"])
        self.assertEqual((broken.args[1], broken.args[2]), ([5.0], [8.0]))
        self.assertEqual(broken.kwargs["yerr"], [[2.0], [1.0]])
        self.assertEqual(broken.kwargs["label"], "fedrecon (broken: noise / 10)")
        self.assertEqual(broken.kwargs["color"], "tab:red")

    def test_interval_ends_at_zero_and_infinity(self):
        rows = [
            {
                "algorithm": "fedrecon",
                "attack": "canary_epsilon",
                "epsilon_accountant": 1.0,
                "epsilon_empirical": 0.5,
                "epsilon_empirical_ci_low": 0.0,
                "epsilon_empirical_ci_high": float("inf"),
                "broken_dp": False,
            }
        ]
        path = os.path.join(self.create_tempdir().full_path, report.PLOT_FILE)
        with mock.patch.object(
            axes.Axes, "errorbar", autospec=True, side_effect=axes.Axes.errorbar
        ) as errorbar:
            report.plot_utility_vs_leakage(rows, path)
        # Down to 0; an infinite top is drawn at twice the estimate.
        self.assertEqual(errorbar.call_args.kwargs["yerr"], [[0.5], [0.5]])


if __name__ == "__main__":
    absltest.main()
