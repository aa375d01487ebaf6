r"""Communication on MovieLens-100K: bytes per round against test RMSE.

Federated Reconstruction with the train pipeline's defaults (per-user 20%
holdout, one client per user, 50 clients per round, server SGD step 25) and
each upload compression, with and without an 8-bit broadcast, plus DP-FedAvg
style aggregation with and without compression. Bytes are those the
aggregator and the distributor count from the encoded tensors (see
`tff_rec.compression.byte_counts`), per round (summed over the round's
clients); the dense columns are the same updates and weights as float32.

  python -m benchmarks.communication \
      --output_json=benchmarks/results/communication.json

All configurations at 60 rounds take about an hour on 2 CPU cores; run a
subset with e.g. ``--configs=dense,sparse_q8_bq8 --rounds=10``.
"""

from __future__ import annotations

import json
import tempfile

from absl import app
from absl import flags

from benchmarks import figures as figures_lib
from tff_rec import cli
from tff_rec import errors
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib

_UPLOADS = {
    "dense": {},
    "q8": dict(quantize_bits=8),
    "q4": dict(quantize_bits=4),
    "sparse": dict(sparse_item_updates=True),
    "sparse_q8": dict(sparse_item_updates=True, quantize_bits=8),
    "topk": "topk",
}
_BROADCAST_BITS = 8


def _configurations(topk_fraction, clip, noise_multiplier, dp_server_lr):
    configs = {}
    for name, upload in _UPLOADS.items():
        if upload == "topk":
            upload = dict(topk_fraction=topk_fraction)
        configs[name] = dict(upload)
        configs[f"{name}_bq{_BROADCAST_BITS}"] = dict(
            upload, broadcast_quantize_bits=_BROADCAST_BITS
        )
    dp = dict(
        aggregator="dp_gaussian_fixed",
        clip=clip,
        noise_multiplier=noise_multiplier,
        server_learning_rate=dp_server_lr,
    )
    configs["dp"] = dp
    configs[f"dp_sparse_q8_bq{_BROADCAST_BITS}"] = dict(
        dp,
        sparse_item_updates=True,
        quantize_bits=8,
        broadcast_quantize_bits=_BROADCAST_BITS,
    )
    return configs


_ALL = list(_configurations(0.0, 0.0, 0.0, 0.0))

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_CONFIGS = flags.DEFINE_list("configs", _ALL, "Configurations to run.")
_ROUNDS = flags.DEFINE_integer("rounds", 60, "Rounds per configuration.")
_TOPK_FRACTION = flags.DEFINE_float(
    "topk_fraction", 0.02, "Fraction of each tensor's coordinates top-k sends."
)
_CLIP = flags.DEFINE_float("clip", 0.1, "L2 clip of the DP configurations.")
_NOISE_MULTIPLIER = flags.DEFINE_float(
    "noise_multiplier", 0.5, "Noise multiplier of the DP configurations."
)
_DP_SERVER_LR = flags.DEFINE_float(
    "dp_server_learning_rate", 10.0, "Server SGD step of the DP configurations."
)
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")


def _ratio(dense, sent):
    return dense / sent if sent else None


def main(argv):
    del argv
    with cli.user_errors_exit():
        unknown = [name for name in _CONFIGS.value if name not in _ALL]
        if unknown:
            raise errors.UserInputError(
                f"unknown configs {unknown}; allowed: {', '.join(_ALL)}"
            )
        configs = _configurations(
            _TOPK_FRACTION.value,
            _CLIP.value,
            _NOISE_MULTIPLIER.value,
            _DP_SERVER_LR.value,
        )
        selection.install_runtime()
        from tff_rec.training import experiment

        root = tempfile.mkdtemp(prefix="communication_")
        base = config_lib.TrainConfig.make(
            data_dir=_DATA_DIR.value,
            seed=_SEED.value,
            root_output_dir=root,
            rounds=_ROUNDS.value,
            eval_every=_ROUNDS.value,
            baselines=False,
        )
        rows = []
        for name in _CONFIGS.value:
            config = base.replace(experiment_name=name, **configs[name])
            results = experiment.run_experiment(config)
            row = {
                "config": name,
                "test_rmse": results["test_rmse"],
                "bytes_up_per_round": results["bytes_up_per_round"],
                "bytes_down_per_round": results["bytes_down_per_round"],
                "dense_bytes_up_per_round": results["dense_bytes_up_per_round"],
                "dense_bytes_down_per_round": results["dense_bytes_down_per_round"],
                "upload_reduction": _ratio(
                    results["dense_bytes_up_per_round"], results["bytes_up_per_round"]
                ),
                "broadcast_reduction": _ratio(
                    results["dense_bytes_down_per_round"],
                    results["bytes_down_per_round"],
                ),
                "rounds": results["rounds"],
                "seconds_per_round": results["seconds_per_round"],
                "settings": dict(configs[name]),
            }
            if "epsilon" in results:
                row["epsilon"] = results["epsilon"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    dense = {row["config"]: row["test_rmse"] for row in rows}
    print(
        f"{'config':<22}{'test RMSE':>10}{'vs dense':>9}{'up KB':>10}{'up x':>7}"
        f"{'down KB':>10}{'down x':>8}"
    )
    for row in rows:
        reference = dense.get("dp" if row["config"].startswith("dp") else "dense")
        change = (
            "-"
            if reference is None
            else f"{100 * (row['test_rmse'] / reference - 1):+.2f}%"
        )
        print(
            f"{row['config']:<22}{row['test_rmse']:>10.4f}{change:>9}"
            f"{row['bytes_up_per_round'] / 1e3:>10.1f}{row['upload_reduction']:>7.1f}"
            f"{row['bytes_down_per_round'] / 1e3:>10.1f}"
            f"{row['broadcast_reduction']:>8.2f}"
        )
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, rows)
        print(f"Wrote {_OUTPUT_JSON.value}")
        figures_lib.draw_beside("communication", rows, _OUTPUT_JSON.value)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
