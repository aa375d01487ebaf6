r"""Robustness on MovieLens-100K: malicious clients, failing clients, --robust.

Federated Reconstruction with the tuned settings of `quality_ml100k` (50
single-user clients per round, per-user 20% holdout, seed 0), run clean, with
10% of the clients malicious (sending NaN updates, or their update scaled
100x), each without and with `--robust`, and with 30% of the sampled clients
failing every round. Prints test RMSE next to the clean run's.

  python -m benchmarks.robustness \
      --output_json=benchmarks/results/robustness.json

Seven runs of `--rounds` rounds: about 10 minutes per 100 rounds each on 2 CPU
cores (TFF's C++ runtime).
"""

from __future__ import annotations

import json
import tempfile

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_ROUNDS = flags.DEFINE_integer("rounds", 100, "Rounds per run.")
_MALICIOUS_FRACTION = flags.DEFINE_float(
    "malicious_fraction", 0.1, "Fraction of malicious clients in the attacked runs."
)
_DROPOUT_RATE = flags.DEFINE_float(
    "dropout_rate", 0.3, "Client failure rate of the dropout run."
)
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling, init and attack seed.")
_RUN_INDICES = flags.DEFINE_list(
    "run_indices", None, "Run only these entries of RUNS (0-based); default all."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")

# (name, changes to the base configuration).
RUNS = (
    ("clean", {}),
    ("clean, robust", {"robust": True}),
    ("nan", {"attack": "nan"}),
    ("nan, robust", {"attack": "nan", "robust": True}),
    ("scale x100", {"attack": "scale"}),
    ("scale x100, robust", {"attack": "scale", "robust": True}),
    ("dropout", {"dropout_rate": None}),
)


def main(argv):
    del argv
    selection.install_runtime()
    from tff_rec.training import experiment

    root = tempfile.mkdtemp(prefix="robustness_")
    base = config_lib.TrainConfig.make(
        data_dir=_DATA_DIR.value,
        seed=_SEED.value,
        root_output_dir=root,
        rounds=_ROUNDS.value,
        eval_every=_ROUNDS.value,
        clients_per_round=50,
        client_learning_rate=0.1,
        server_learning_rate=25.0,
        reconstruction_epochs=2,
        baselines=False,
    )
    rows = []
    chosen = (
        range(len(RUNS))
        if _RUN_INDICES.value is None
        else sorted({int(i) for i in _RUN_INDICES.value})
    )
    for index in chosen:
        name, changes = RUNS[index]
        changes = dict(changes)
        if "attack" in changes:
            changes["malicious_fraction"] = _MALICIOUS_FRACTION.value
        if "dropout_rate" in changes:
            changes["dropout_rate"] = _DROPOUT_RATE.value
        config = base.replace(experiment_name=f"run_{index}", **changes)
        results = experiment.run_experiment(config, fresh=True)
        rows.append(
            {
                "run": name,
                "robust": config.reliability.robust,
                "attack": changes.get("attack"),
                "malicious_fraction": config.reliability.malicious_fraction,
                "dropout_rate": config.reliability.dropout_rate,
                "test_rmse": results["test_rmse"],
                "rounds": results["rounds"],
                "seconds_per_round": results["seconds_per_round"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    clean = next((r["test_rmse"] for r in rows if r["run"] == "clean"), None)
    print(f"{'run':<22}{'test RMSE':>11}{'vs clean':>10}{'s/round':>9}")
    for row in rows:
        if clean is not None:
            row["vs_clean_percent"] = 100.0 * (row["test_rmse"] - clean) / clean
        versus = (
            f"{row['vs_clean_percent']:>+9.1f}%" if clean is not None else f"{'-':>10}"
        )
        print(
            f"{row['run']:<22}{row['test_rmse']:>11.4f}"
            f"{versus}{row['seconds_per_round']:>9.2f}"
        )
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, rows)
        print(f"Wrote {_OUTPUT_JSON.value}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
