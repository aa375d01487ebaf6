r"""Stores (cross-silo) on MovieLens-100K: per-store gains, customer-level DP.

Two parts, both on the per-user 20% holdout split:

1. Without DP: FedAvg (weighted, every store every round, 3 local epochs,
   the server step from the data: the cross-silo defaults of
   `pipelines.train`) over stores made by zip-code prefix (11), and by iid
   and dirichlet (genre, alpha 0.5) partitions into 3 and 20 stores; for
   each, the per-store report (`tff_rec.evaluation.per_client`): every
   store's test RMSE with the global, its own local-only, the fine-tuned
   global and the centralized model.
2. Customer-level DP inside the stores (`tff_rec.algorithms.
   customer_dp_fedavg`) on the zip-prefix stores at each target epsilon
   (noise calibrated so that `--dp_rounds` rounds spend it, RDP, delta
   1/N^1.1 for N customers), the same algorithm without noise, and the
   non-private bias-only floor (global mean + user bias + item bias,
   trained centrally).

  nice -n 10 python -m benchmarks.stores \
      --output_json=benchmarks/results/stores.json

``--data_dir`` with ``--dataset=ml-1m`` runs part 1 by zip prefix on ML-1M.
"""

from __future__ import annotations

import json
import tempfile
import time

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.algorithms import customer_dp_fedavg
from tff_rec.data import config as data_config
from tff_rec.data import preparation
from tff_rec.data import rating_scale
from tff_rec.evaluation import per_client
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy import accounting
from tff_rec.privacy import bias_reference
from tff_rec.privacy import customer_dp
from tff_rec.training import config as config_lib
from tff_rec.training import experiment

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_DATASET = flags.DEFINE_string("dataset", "ml-100k", "ml-100k or ml-1m.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "The dataset's directory.")
_ROUNDS = flags.DEFINE_integer("rounds", 30, "FedAvg rounds (part 1).")
_PARTITIONS = flags.DEFINE_list(
    "partitions",
    ["zip_prefix", "iid:3", "dirichlet:3", "iid:20", "dirichlet:20"],
    "Stores of part 1: zip_prefix, or <iid|dirichlet>:<stores>.",
)
_EPSILONS = flags.DEFINE_list("epsilons", ["1", "2", "5", "8"], "Target epsilons.")
_DP_ROUNDS = flags.DEFINE_integer("dp_rounds", 30, "Rounds of the DP runs.")
_DP_STEPS = flags.DEFINE_integer("dp_local_steps", 5, "DP-SGD steps per round.")
_DP_SAMPLING = flags.DEFINE_float("dp_sampling_rate", 0.3, "Customer sampling q.")
_DP_CLIP = flags.DEFINE_float("dp_clip", 0.1, "Per-customer L2 clip.")
_DP_LR = flags.DEFINE_float("dp_learning_rate", 0.5, "Store SGD step (items).")
_SKIP_FEDAVG = flags.DEFINE_bool("skip_fedavg", False, "Only part 2.")


def _data_settings(name: str) -> dict:
    if name == "zip_prefix":
        return dict(partition="attribute", partition_attribute="zip_prefix")
    kind, stores = name.split(":")
    return dict(partition=kind, num_clients=int(stores))


def fedavg_row(name: str, root: str) -> dict:
    config = config_lib.TrainConfig.make(
        dataset=_DATASET.value,
        data_dir=_DATA_DIR.value,
        algorithm="fedavg",
        rounds=_ROUNDS.value,
        eval_every=_ROUNDS.value,
        root_output_dir=root,
        experiment_name=name.replace(":", "_"),
        checkpoint_every=_ROUNDS.value,
        **_data_settings(name),
    )
    results = experiment.run_experiment(config)
    report = results["per_client"]
    print(per_client.format_table(report), flush=True)
    return {
        "stores": name,
        "num_stores": results["num_clients"],
        "rounds": _ROUNDS.value,
        "test_rmse": results["test_rmse"],
        "local_only_test_rmse": results["local_only_test_rmse"],
        "centralized_test_rmse": results["centralized_test_rmse"],
        "stores_helped": sum(bool(r["federation_helps"]) for r in report),
        "wall_seconds": results["wall_seconds"],
        "per_client": report,
    }


def dp_rows() -> list[dict]:
    data = preparation.prepare(
        data_config.DataConfig(
            dataset=_DATASET.value,
            data_dir=_DATA_DIR.value,
            partition="attribute",
            partition_attribute="zip_prefix",
        ),
        seed=0,
    )
    train, test = data.split.train, data.split.test
    delta = accounting.default_delta(train.num_users)
    rounds, steps, q = _DP_ROUNDS.value, _DP_STEPS.value, _DP_SAMPLING.value
    rows = []
    for epsilon in [None, *map(float, _EPSILONS.value)]:
        z = (
            0.0
            if epsilon is None
            else customer_dp.calibrate_noise_multiplier(
                epsilon,
                rounds=rounds,
                sampling_rate=q,
                steps_per_round=steps,
                delta=delta,
            )
        )
        options = customer_dp_fedavg.StoreTraining(
            local_steps=steps,
            sampling_rate=q,
            clip=_DP_CLIP.value,
            noise_multiplier=z,
            learning_rate=_DP_LR.value,
        )
        state = customer_dp_fedavg.CustomerDpFedAvg.create(
            train,
            data.partition,
            embedding_dim=32,
            options=options,
            # The middle of the declared scale: public, unlike the mean rating.
            global_bias=rating_scale.public_offset(data.rating_scale),
        )
        spec = None if not z else customer_dp.CustomerDpSpec(q, z, steps, delta)
        per_round = []

        def on_round(round_num, spec=spec, per_round=per_round):
            per_round.append(None if spec is None else spec.epsilon(round_num))
            return True

        start = time.perf_counter()
        customer_dp_fedavg.train(state, rounds, on_round=on_round)
        rmse = rating_metrics.evaluate_global_model(state.weights(), test).rmse
        row = {
            "model": "customer_dp_fedavg",
            "target_epsilon": epsilon,
            "epsilon": per_round[-1],
            "epsilon_per_round": per_round,
            "delta": delta,
            "noise_multiplier": z,
            "test_rmse": rmse,
            "rounds": rounds,
            "local_steps": steps,
            "sampling_rate": q,
            "clip": _DP_CLIP.value,
            "learning_rate": _DP_LR.value,
            "wall_seconds": time.perf_counter() - start,
        }
        print(
            f"customer DP epsilon={epsilon} z={z:.3f} test RMSE {rmse:.4f}",
            flush=True,
        )
        rows.append(row)
    floor = bias_reference.bias_only_rmse(train, test)
    print(f"bias-only floor (non-private) test RMSE {floor:.4f}", flush=True)
    rows.append({"model": "bias_only", "test_rmse": floor})
    return rows


def main(argv):
    del argv
    with cli.user_errors_exit():
        output = {"dataset": _DATASET.value, "dp": dp_rows(), "fedavg": []}

        def write():
            if _OUTPUT_JSON.value:
                with open(_OUTPUT_JSON.value, "w") as f:
                    json.dump(output, f, indent=1)

        write()
        if not _SKIP_FEDAVG.value:
            with tempfile.TemporaryDirectory() as root:
                for name in _PARTITIONS.value:
                    output["fedavg"].append(fedavg_row(name, root))
                    write()


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
