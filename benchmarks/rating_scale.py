r"""The default run on data unlike MovieLens: dense, 100 items, ratings -10..10.

Writes a Jester-like table (`tff_rec.data.synthetic.write_wide_scale_csv`:
25,000 users rating 36 or more of 100 items, from -10 to 10) and trains the
default Federated Reconstruction on it, with the default server step
(derived from the data's item coverage) and with the fixed step of 25 that
suits sparse 1-5 star data. Prints each run's test RMSE (or the round it
diverged at) next to predicting the training mean.

  python -m benchmarks.rating_scale \
      --output_json=benchmarks/results/rating_scale.json

Takes about 15 minutes on 2 CPU cores (evaluating 25,000 users by
reconstruction is most of it).
"""

from __future__ import annotations

import json
import pathlib
import tempfile

import numpy as np
from absl import app
from absl import flags

from tff_rec import cli
from tff_rec import errors
from tff_rec.data import preparation
from tff_rec.data import synthetic
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import metrics_writer

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_NUM_USERS = flags.DEFINE_integer("num_users", 25_000, "Users of the table.")
_STEPS = flags.DEFINE_list(
    "server_learning_rates",
    ["default", "25"],
    "Server steps to run: 'default' (derived from the data) and numbers.",
)
_SEED = flags.DEFINE_integer("seed", 0, "Data, split, sampling and init seed.")


def main(argv):
    del argv
    with cli.user_errors_exit():
        selection.install_runtime()
        root = pathlib.Path(tempfile.mkdtemp(prefix="rating_scale_"))
        csv_path = synthetic.write_wide_scale_csv(
            root / "ratings.csv", num_users=_NUM_USERS.value, seed=_SEED.value
        )
        base = config_lib.TrainConfig.make(
            dataset="csv",
            data_dir=str(csv_path),
            seed=_SEED.value,
            root_output_dir=str(root / "runs"),
            baselines=False,
        )
        data = preparation.prepare(base.data, seed=base.seed)
        mean = float(np.mean(data.split.train.ratings))
        mean_rmse = float(np.sqrt(np.mean((data.split.test.ratings - mean) ** 2)))
        rows = [{"model": "training mean", "test_rmse": mean_rmse}]
        for step in _STEPS.value:
            value = None if step == "default" else float(step)
            config = base.replace(
                server_learning_rate=value, experiment_name=f"step_{step}"
            )
            row = {"model": f"fedrecon, server step {step}"}
            try:
                results = experiment.run_experiment(config)
                row.update(
                    server_learning_rate=results["server_learning_rate"],
                    test_rmse=results["test_rmse"],
                    rounds=results["rounds"],
                )
            except errors.TrainingDivergedError as e:
                row.update(diverged_round=e.round_num, message=str(e))
            rows.append(row)
            print(json.dumps(row), flush=True)
        summary = {
            "num_users": data.interactions.num_users,
            "num_items": data.interactions.num_items,
            "train_ratings": len(data.split.train.ratings),
            "rating_range": [
                float(data.split.train.ratings.min()),
                float(data.split.train.ratings.max()),
            ],
            "rating_std": float(data.split.train.ratings.std()),
            "item_coverage": data.federated.item_coverage(),
            "rows": rows,
        }
        print(f"{'model':<34}{'server step':>12}{'test RMSE':>11}")
        for row in rows:
            step = row.get("server_learning_rate")
            rmse = row.get("test_rmse")
            print(
                f"{row['model']:<34}{'-' if step is None else f'{step:g}':>12}"
                + (
                    f"{rmse:>11.4f}"
                    if rmse is not None
                    else f"  diverged at round {row['diverged_round']}"
                )
            )
        if _OUTPUT_JSON.value:
            metrics_writer.write_json(_OUTPUT_JSON.value, summary)
            print(f"Wrote {_OUTPUT_JSON.value}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
