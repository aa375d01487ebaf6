r"""Exports a finished training run as a SavedModel for TF Serving.

Reads a run directory written by `pipelines.train` and writes
``<export_dir>/<model_name>/<version>/`` (SavedModel with the signatures
``serving_default``, ``recommend``, ``recommend_from_history`` and
``score_from_history``, warmup requests in ``assets.extra/``, and
``model_card.json``). Prints the version folder written.

Train, export, inspect and serve:

  python -m pipelines.train --algorithm=fedrecon --experiment_name=ml100k_fedrecon
  python -m pipelines.export --run_dir=runs/ml100k_fedrecon \
      --export_dir=/tmp/models --model_name=movies
  saved_model_cli show --dir /tmp/models/movies/1 --all
  docker run -p 8501:8501 \
      --mount type=bind,source=/tmp/models/movies,target=/models/movies \
      -e MODEL_NAME=movies tensorflow/serving:2.14.1

Without --version the next free version is written (1 for a new model) and
older versions are kept. A bad run directory or version exits with status 2
and a one-line message.
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli

_RUN_DIR = flags.DEFINE_string(
    "run_dir", None, "Run directory: <root_output_dir>/<experiment_name>."
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Where <model_name>/<version>/ is written."
)
_MODEL_NAME = flags.DEFINE_string(
    "model_name", None, "Served model name; default: the run directory's name."
)
_VERSION = flags.DEFINE_integer(
    "version", None, "Version folder (>= 1); default: highest existing + 1."
)
flags.mark_flags_as_required(["run_dir", "export_dir"])


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        from tff_rec.export import exporter

        path = exporter.export_run(
            _RUN_DIR.value,
            _EXPORT_DIR.value,
            model_name=_MODEL_NAME.value,
            version=_VERSION.value,
        )
    print(path, flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
