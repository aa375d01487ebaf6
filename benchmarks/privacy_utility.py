r"""Privacy-utility curve on MovieLens-100K with Federated Reconstruction.

Per-user 20% holdout, one client per user, Poisson client sampling, Gaussian
DP-FedAvg-style aggregation of the item-side updates (user factors never leave
the clients), delta = 1/N^1.1. For each target epsilon the noise multiplier
is calibrated so that `--rounds` rounds spend exactly the target (RDP
accountant); the run without DP uses the same settings with plain
aggregation. The floor is the non-personalized bias-only model (global mean +
user bias + item bias) trained centrally.

Beside the floor, a reference of what user-level DP costs even that model:
`tff_rec.privacy.bias_reference` releases its item biases once, at each target
epsilon, with the best clip and shrinkage of a small grid chosen on the test
split (rows with ``"model": "bias_only_dp"``; seconds to compute, and
``--nofederated`` computes only these rows).

Defaults, each measured against the alternatives at epsilon 5:
* every client in every round (q = 1): with 20 rounds the noise multipliers
  are too small for sampling to amplify privacy much, and at the same epsilon
  the noise on the mean is half that of 100 expected clients per round;
* embedding dimension 2: fewer noised coordinates per item, each carrying
  more of a client's clipped update;
* server Adam, step 0.03: its per-coordinate step suits item rows that few
  clients touch.

  python -m benchmarks.privacy_utility \
      --output_json=benchmarks/results/privacy_utility.json

Five runs of 20 rounds over all 943 clients: about 30 minutes on 2 CPU cores
with the in-process runtime.
"""

from __future__ import annotations

import json
import tempfile

import numpy as np
from absl import app
from absl import flags

from benchmarks import figures as figures_lib
from tff_rec import cli
from tff_rec.data import preparation
from tff_rec.privacy import bias_reference
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_EPSILONS = flags.DEFINE_list("epsilons", ["1", "2", "5", "8"], "Target epsilons.")
_ROUNDS = flags.DEFINE_integer("rounds", 20, "Rounds per run.")
_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "clients_per_round",
    None,
    "Expected clients per round (Poisson); default: every client (q = 1).",
)
_CLIP = flags.DEFINE_float("clip", 0.1, "L2 clip of a client's item update.")
_SERVER_OPTIMIZER = flags.DEFINE_string(
    "server_optimizer", "adam", "Server optimizer: sgd, adam, adagrad or yogi."
)
_SERVER_LR = flags.DEFINE_float("server_learning_rate", 0.03, "Server step size.")
_EMBEDDING_DIM = flags.DEFINE_integer("embedding_dim", 2, "Embedding size.")
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")
_FEDERATED = flags.DEFINE_bool(
    "federated",
    True,
    "Run the federated rows; --nofederated gives the references only.",
)
# The DP bias-only reference takes the best of this grid at each epsilon,
# chosen on the test split: an optimistic reference.
REFERENCE_CLIPS = (0.5, 1.0, 2.0, 4.0)
REFERENCE_ITEM_L2S = (1.0, 3.0, 10.0, 30.0)
_REFERENCE_DRAWS = flags.DEFINE_integer(
    "reference_draws", 5, "Noise draws averaged for the DP bias-only reference."
)


def _private_references(split, epsilons) -> list[dict[str, object]]:
    """`bias_reference.private_bias_only_rmse` at each epsilon, mean of draws.

    Each row is the best of `REFERENCE_CLIPS` x `REFERENCE_ITEM_L2S`.
    """
    from tff_rec.privacy import accounting
    from tff_rec.privacy import calibration

    train, test = split.train, split.test
    prior = float((np.min(train.ratings) + np.max(train.ratings)) / 2)
    num_users = train.num_users
    rows = []
    for target in epsilons:
        z = calibration.calibrate_noise_multiplier(
            target_epsilon=target,
            rounds=1,
            clients_per_round=num_users,
            num_clients=num_users,
        )
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=z,
            clients_per_round=num_users,
            num_clients=num_users,
        )
        best = None
        for clip in REFERENCE_CLIPS:
            for item_l2 in REFERENCE_ITEM_L2S:
                rmse = np.mean(
                    [
                        bias_reference.private_bias_only_rmse(
                            train,
                            test,
                            noise_multiplier=z,
                            clip=clip,
                            prior=prior,
                            item_l2=item_l2,
                            rng=np.random.default_rng([_SEED.value, draw]),
                        )
                        for draw in range(_REFERENCE_DRAWS.value)
                    ]
                )
                if best is None or rmse < best[0]:
                    best = (float(rmse), clip, item_l2)
        rows.append(
            {
                "model": "bias_only_dp",
                "epsilon": accounting.epsilon(spec, 1),
                "target_epsilon": target,
                "delta": spec.delta,
                "noise_multiplier": z,
                "clip": best[1],
                "item_l2": best[2],
                "draws": _REFERENCE_DRAWS.value,
                "test_rmse": best[0],
            }
        )
    return rows


def main(argv):
    del argv
    selection.install_runtime()
    from tff_rec.training import experiment

    root = tempfile.mkdtemp(prefix="privacy_utility_")
    base = config_lib.TrainConfig.make(
        data_dir=_DATA_DIR.value,
        seed=_SEED.value,
        root_output_dir=root,
        rounds=_ROUNDS.value,
        client_sampling="poisson",
        server_optimizer=_SERVER_OPTIMIZER.value,
        server_learning_rate=_SERVER_LR.value,
        embedding_dim=_EMBEDDING_DIM.value,
        eval_every=_ROUNDS.value,
        baselines=False,
    )
    data = preparation.prepare(base.data, seed=base.seed)
    base = base.replace(
        clients_per_round=_CLIENTS_PER_ROUND.value or data.federated.num_clients,
    )
    epsilons = [float(e) for e in _EPSILONS.value]
    rows = []
    for target in [None, *epsilons] if _FEDERATED.value else []:
        if target is None:
            config = base.replace(experiment_name="no_dp")
        else:
            config = base.replace(
                experiment_name=f"eps_{target:g}",
                aggregator="dp_gaussian_fixed",
                clip=_CLIP.value,
                target_epsilon=target,
            )
        results = experiment.run_experiment(config)
        rows.append(
            {
                "epsilon": results.get("epsilon"),
                "target_epsilon": target,
                "delta": results.get("delta"),
                "noise_multiplier": results.get("noise_multiplier"),
                "test_rmse": results["test_rmse"],
                "rounds": results["rounds"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    floor = bias_reference.bias_only_rmse(data.split.train, data.split.test)
    rows.append({"model": "bias_only", "test_rmse": floor})
    rows.extend(_private_references(data.split, epsilons))
    print(f"{'epsilon':>10}{'delta':>11}{'noise':>8}{'test RMSE':>11}")
    for row in (r for r in rows if "model" not in r):
        eps = "no DP" if row["epsilon"] is None else f"{row['epsilon']:.3g}"
        delta = "-" if row["delta"] is None else f"{row['delta']:.2e}"
        noise = (
            "-" if row["noise_multiplier"] is None else f"{row['noise_multiplier']:.3g}"
        )
        print(f"{eps:>10}{delta:>11}{noise:>8}{row['test_rmse']:>11.4f}")
    print(f"{'bias-only floor':>29}{floor:>11.4f}")
    for row in rows:
        if row.get("model") == "bias_only_dp":
            label = f"bias-only, DP eps {row['epsilon']:.3g}"
            print(f"{label:>29}{row['test_rmse']:>11.4f}")
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, rows)
        print(f"Wrote {_OUTPUT_JSON.value}")
        figures_lib.draw_beside("privacy_utility", rows, _OUTPUT_JSON.value)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
