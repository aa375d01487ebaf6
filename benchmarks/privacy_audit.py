r"""The privacy audit on MovieLens-100K, plus a deliberately broken DP run.

Runs `pipelines.audit`'s audit (same flags and defaults: reconstruction and
FedAvg, 50 clients per round, every configuration's server view, membership
inference without DP and at epsilon 1, 5 and 8, canary epsilon of each DP
run) and adds, per algorithm, one DP run whose process adds a tenth of the
noise its accountant is told of (``"broken_dp": true``): the canary estimate
must then exceed the claimed epsilon, i.e. the audit catches the bug. That
broken mechanism exists only here and in the audit's tests.

  python -m benchmarks.privacy_audit \
      --output_json=benchmarks/results/privacy_audit.json

Writes the rows (a JSON list, see `tff_rec.privacy.audit.report.ROW_KEYS`),
the Markdown table beside it (``.md``) and the utility/leakage figure
(``.png``). About 8 minutes on 2 CPU cores with the default flags.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags

from pipelines import audit as audit_pipeline
from tff_rec import cli
from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import runner
from tff_rec.runtime import selection

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the rows here.")
_BROKEN_EPSILON = flags.DEFINE_float(
    "broken_epsilon",
    1.0,
    "Epsilon the accountant claims for the broken run (its noise is 10x less).",
)
_BROKEN_NOISE_FACTOR = 0.1
flags.mark_flag_as_required("output_json")
# The audit's own --output_dir is not used here.
flags.FLAGS.set_default("output_dir", "unused")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        options = audit_pipeline.options_from_flags()
        selection.install_runtime()

        def broken(audit: runner.Audit) -> list[dict]:
            return audit.dp_rows(
                _BROKEN_EPSILON.value, noise_factor=_BROKEN_NOISE_FACTOR
            )

        rows = runner.run_audit(options, extra=broken)
        path = _OUTPUT_JSON.value
        stem = os.path.splitext(path)[0]
        report.write_text(
            path, json.dumps(report.clean_rows(rows), indent=1, allow_nan=False) + "\n"
        )
        table = report.format_table(rows)
        report.write_text(stem + ".md", table)
        report.plot_utility_vs_leakage(rows, stem + ".png")
        print(table, flush=True)
        print(f"Wrote {path}, {stem}.md and {stem}.png", flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
