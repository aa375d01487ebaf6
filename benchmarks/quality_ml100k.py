r"""Quality on MovieLens-100K: centralized vs local-only vs FedAvg vs reconstruction.

All runs share one per-user 20% holdout split and seed. Prints a table of
test RMSE, seconds per round and client updates per second; records each
federated run's test RMSE every `--eval_every` rounds (``curves``) and draws
them against the two baselines (``.png`` next to the JSON).

  python -m benchmarks.quality_ml100k \
      --output_json=benchmarks/results/quality_ml100k.json

About 4 minutes on 2 CPU cores (in-process runtime).
"""

from __future__ import annotations

import pathlib
import tempfile

from absl import app
from absl import flags

from benchmarks import figures as figures_lib
from tff_rec import cli
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_RECON_ROUNDS = flags.DEFINE_integer("fedrecon_rounds", 150, "Reconstruction rounds.")
_FEDAVG_ROUNDS = flags.DEFINE_integer("fedavg_rounds", 150, "FedAvg rounds.")
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")
_EVAL_EVERY = flags.DEFINE_integer(
    "eval_every", 10, "Rounds between test evaluations (the curves' points)."
)

# Tuned settings (see README): both algorithms sample 50 single-user clients
# per round; the server step of 50 turns the mean of the sparse item-row
# updates back into their sum.
FEDRECON = dict(
    algorithm="fedrecon",
    clients_per_round=50,
    client_learning_rate=0.1,
    server_learning_rate=25.0,
    reconstruction_epochs=2,
)
FEDAVG = dict(
    algorithm="fedavg_unweighted",
    clients_per_round=50,
    client_learning_rate=0.1,
    server_learning_rate=50.0,
)


def main(argv):
    del argv
    selection.install_runtime()
    from tff_rec.training import experiment

    root = tempfile.mkdtemp(prefix="quality_ml100k_")
    base = config_lib.TrainConfig.make(
        data_dir=_DATA_DIR.value,
        seed=_SEED.value,
        root_output_dir=root,
        eval_every=_EVAL_EVERY.value,
    )
    recon = experiment.run_experiment(
        base.replace(
            **FEDRECON,
            rounds=_RECON_ROUNDS.value,
            experiment_name="fedrecon",
            baselines=True,
        )
    )
    fedavg = experiment.run_experiment(
        base.replace(
            **FEDAVG,
            rounds=_FEDAVG_ROUNDS.value,
            experiment_name="fedavg",
            baselines=False,
        )
    )
    figures = {
        "centralized_test_rmse": recon["centralized_test_rmse"],
        "local_only_test_rmse": recon["local_only_test_rmse"],
        "fedavg_test_rmse": fedavg["test_rmse"],
        "fedrecon_test_rmse": recon["test_rmse"],
        "seconds_per_round": {
            "fedavg": fedavg["seconds_per_round"],
            "fedrecon": recon["seconds_per_round"],
        },
        "client_updates_per_second": {
            "fedavg": fedavg["client_updates_per_second"],
            "fedrecon": recon["client_updates_per_second"],
        },
        "rounds": {"fedavg": fedavg["rounds"], "fedrecon": recon["rounds"]},
        "clients_per_round": FEDRECON["clients_per_round"],
        "curves": {
            name: _test_curve(pathlib.Path(root) / name)
            for name in ("fedavg", "fedrecon")
        },
    }
    print(f"{'model':<28}{'test RMSE':>10}{'s/round':>9}{'clients/s':>11}")
    print(f"{'centralized':<28}{figures['centralized_test_rmse']:>10.4f}")
    print(f"{'local-only':<28}{figures['local_only_test_rmse']:>10.4f}")
    for name in ("fedavg", "fedrecon"):
        label = f"{name} ({figures['rounds'][name]} rounds)"
        print(
            f"{label:<28}{figures[f'{name}_test_rmse']:>10.4f}"
            f"{figures['seconds_per_round'][name]:>9.2f}"
            f"{figures['client_updates_per_second'][name]:>11.1f}"
        )
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, figures)
        print(f"Wrote {_OUTPUT_JSON.value}")
        figures_lib.draw_beside("quality_ml100k", figures, _OUTPUT_JSON.value)


def _test_curve(run_dir: pathlib.Path) -> dict[str, list]:
    """``{"round": [...], "test_rmse": [...]}`` from a run's metrics.csv."""
    rows = metrics_writer_lib.read_rows(run_dir / metrics_writer_lib.METRICS_FILE)
    rows = [row for row in rows if "test_rmse" in row]
    return {
        "round": [row["round"] for row in rows],
        "test_rmse": [row["test_rmse"] for row in rows],
    }


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
