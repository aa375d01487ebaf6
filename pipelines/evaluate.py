r"""Scores a finished rating run's saved model on its held-out ratings.

Reads a run directory written by `pipelines.train`, remakes the run's seeded
split from its data and settings, and prints the test RMSE and MAE of the
saved model next to those the run recorded. Reconstruction runs are scored as
in training: each test user's factors are first reconstructed from that
user's own training ratings.

  python -m pipelines.train --algorithm=fedrecon --experiment_name=ml100k_fedrecon
  python -m pipelines.evaluate --run_dir=runs/ml100k_fedrecon

--data_dir points at the run's data when it has moved; other data (different
users or items) is refused. A bad run directory exits with status 2 and a
one-line message.
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli

_RUN_DIR = flags.DEFINE_string(
    "run_dir", None, "Run directory: <root_output_dir>/<experiment_name>."
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Where the run's data is now; default: where it was read."
)
_OUTPUT_JSON = flags.DEFINE_string(
    "output_json", None, "Also write the metrics to this JSON file."
)
flags.mark_flags_as_required(["run_dir"])


def _format(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        from tff_rec.evaluation import rescoring
        from tff_rec.training import metrics_writer

        metrics = rescoring.evaluate_run(_RUN_DIR.value, data_dir=_DATA_DIR.value)
        if _OUTPUT_JSON.value:
            metrics_writer.write_json(_OUTPUT_JSON.value, metrics.as_dict())
    print(
        f"{metrics.num_test_ratings} test ratings\n"
        f"{'metric':<10}{'evaluated':>10}{'recorded':>10}\n"
        f"{'test RMSE':<10}{_format(metrics.rmse):>10}"
        f"{_format(metrics.recorded_rmse):>10}\n"
        f"{'test MAE':<10}{_format(metrics.mae):>10}"
        f"{_format(metrics.recorded_mae):>10}",
        flush=True,
    )


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
