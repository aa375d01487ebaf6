r"""Draws a run's curves (loss, test metrics, epsilon, bytes) from its metrics.csv.

  python -m pipelines.train --rounds=20
  python -m pipelines.report --run_dir=runs/ml100k_fedrecon

Writes ``<run_dir>/curves.png`` (or ``--output_png``); works on a run that
is still going. A folder without ``metrics.csv`` exits with status 2 and a
one-line message.
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli

_RUN_DIR = flags.DEFINE_string(
    "run_dir", None, "Run directory: <root_output_dir>/<experiment_name>."
)
_OUTPUT_PNG = flags.DEFINE_string(
    "output_png", None, "Where to write the figure; default: <run_dir>/curves.png."
)
flags.mark_flags_as_required(["run_dir"])


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        from tff_rec.training import curves

        path = curves.draw_run_curves(_RUN_DIR.value, _OUTPUT_PNG.value)
    print(f"Wrote {path}", flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
