r"""Privacy-utility curve: user-level DP on MovieLens-100K or MovieLens-1M.

Per-user 20% holdout (seed 0), one client per user, Poisson client sampling,
Gaussian noise, delta = 1/N^1.1, the RDP accountant. For each target epsilon
(and without DP) each algorithm of `--algorithms` runs `--seeds` times; the
split, sampling and initialization are seed 0 every time, so the repeats
differ only in the DP noise (TFF's Gaussian sum draws it afresh each run). A
row gives the mean test RMSE and its standard deviation over the repeats.

* ``dp_als`` (`tff_rec.algorithms.dp_als`): private alternating least
  squares; every client in every round (q = 1), `--als_rounds` alternations,
  each one release of the clipped per-item sufficient statistics.
* ``fedrecon``: DP Federated Reconstruction (DP-FedAvg-style aggregation of
  the item updates; user factors never leave the clients), `--rounds` rounds
  of `--clients_per_round` expected clients (default: every client up to
  1,000, else 1,000), server Adam. `--clip_quantile` sets the clip from the
  update-norm distribution (TFF's private adaptive clipping,
  ``dp_gaussian_adaptive``, tracking that quantile); without it the clip is
  `--clip`.

For each target epsilon the noise multiplier is calibrated so that the run's
rounds spend exactly the target. The floor is the non-personalized bias-only
model (global mean + user bias + item bias) trained centrally without DP
(``"model": "bias_only"``). Beside it, a reference of what user-level DP
costs even that model: `tff_rec.privacy.bias_reference` releases its item
biases once, at each target epsilon, with the best clip and shrinkage of a
small grid chosen on the test split (``"model": "bias_only_dp"``; seconds to
compute, and ``--nofederated`` computes only these rows).

ML-100K defaults, each measured against the alternatives at epsilon 5: every
client in every round, embedding dimension 2, server Adam with step 0.03,
clip 0.1 (see docs/privacy.md).

  python -m benchmarks.privacy_utility --dataset=ml-1m --data_dir=DIR \
      --output_json=benchmarks/results/privacy_utility_ml1m.json

`--quick` runs one repeat of each point with fewer reconstruction rounds.
The figures, their timings and the command are in docs/privacy.md.
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
from tff_rec.data import rating_scale
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
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local copy of the dataset.")
_DATASET = flags.DEFINE_string("dataset", "ml-100k", "ml-100k or ml-1m.")
_ALGORITHMS = flags.DEFINE_list(
    "algorithms", ["dp_als", "fedrecon"], "Algorithms: dp_als, fedrecon."
)
_SEEDS = flags.DEFINE_integer("seeds", 3, "Repeats (noise draws) per point.")
_FEDRECON_SEEDS = flags.DEFINE_integer(
    "fedrecon_seeds", None, "Repeats per fedrecon point; default --seeds."
)
_QUICK = flags.DEFINE_bool(
    "quick", False, "One repeat per point, at most 5 reconstruction rounds."
)
_CLIP_QUANTILE = flags.DEFINE_float(
    "clip_quantile",
    None,
    "fedrecon: set the clip privately from the update-norm distribution "
    "(adaptive clipping tracking this quantile) instead of --clip.",
)
_ALS_ROUNDS = flags.DEFINE_integer("als_rounds", 2, "dp_als alternations.")
_ALS_DIM = flags.DEFINE_integer("als_dim", 4, "dp_als latent dimension.")
_ALS_CLIP = flags.DEFINE_float(
    "als_clip", 1.0, "dp_als: L2 clip of a user's statistics."
)
_ALS_USER_L2 = flags.DEFINE_float("als_user_l2", 5.0, "dp_als: user ridge weight.")
_ALS_ITEM_L2 = flags.DEFINE_float("als_item_l2", 4.0, "dp_als: item ridge weight.")
_ALS_GRAM_WEIGHT = flags.DEFINE_float(
    "als_gram_weight", 0.5, "dp_als: weight of the Gram statistics."
)
_ALS_FACTOR_WEIGHT = flags.DEFINE_float(
    "als_factor_weight",
    2.0,
    "dp_als: weight of the latent rating-weighted statistics.",
)
# Above this population, fedrecon's default cohort stops growing.
MAX_DEFAULT_COHORT = 1000
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


def _private_references(data, epsilons) -> list[dict[str, object]]:
    """`bias_reference.private_bias_only_rmse` at each epsilon, mean of draws.

    Each row is the best of `REFERENCE_CLIPS` x `REFERENCE_ITEM_L2S`.
    """
    from tff_rec.privacy import accounting
    from tff_rec.privacy import calibration

    train, test = data.split.train, data.split.test
    # The middle of the declared scale: public, unlike the private ratings.
    prior = rating_scale.public_offset(data.rating_scale)
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


def _config(base, algorithm: str, target: float | None, num_clients: int):
    """The run of `algorithm` at `target` epsilon (None: no DP)."""
    name = f"{algorithm}_{'no_dp' if target is None else f'eps_{target:g}'}"
    if algorithm == "dp_als":
        config = base.replace(
            experiment_name=name,
            algorithm="dp_als",
            rounds=_ALS_ROUNDS.value,
            clients_per_round=num_clients,
            als_dim=_ALS_DIM.value,
            als_user_l2=_ALS_USER_L2.value,
            als_item_l2=_ALS_ITEM_L2.value,
            als_gram_weight=_ALS_GRAM_WEIGHT.value,
            als_factor_weight=_ALS_FACTOR_WEIGHT.value,
            eval_every=_ALS_ROUNDS.value,
        )
        if target is None:
            return config
        return config.replace(
            aggregator="dp_gaussian_fixed", clip=_ALS_CLIP.value, target_epsilon=target
        )
    rounds = min(_ROUNDS.value, 5) if _QUICK.value else _ROUNDS.value
    config = base.replace(
        experiment_name=name,
        rounds=rounds,
        eval_every=rounds,
        clients_per_round=_CLIENTS_PER_ROUND.value
        or min(num_clients, MAX_DEFAULT_COHORT),
    )
    if target is None:
        return config
    if _CLIP_QUANTILE.value is not None:
        return config.replace(
            aggregator="dp_gaussian_adaptive",
            target_quantile=_CLIP_QUANTILE.value,
            initial_clip=_CLIP.value,
            target_epsilon=target,
        )
    return config.replace(
        aggregator="dp_gaussian_fixed", clip=_CLIP.value, target_epsilon=target
    )


def _point(experiment, config, algorithm: str, target, repeats: int) -> dict:
    """One point of the curve: `repeats` runs, their mean and spread."""
    runs = [experiment.run_experiment(config, fresh=True) for _ in range(repeats)]
    rmses = [r["test_rmse"] for r in runs]
    last = runs[-1]
    row = {
        "algorithm": algorithm,
        "epsilon": last.get("epsilon"),
        "target_epsilon": target,
        "delta": last.get("delta"),
        "noise_multiplier": last.get("noise_multiplier"),
        "clients_per_round": config.federated.clients_per_round,
        "rounds": last["rounds"],
        "clip": last.get("clip"),
        "test_rmse": float(np.mean(rmses)),
        "test_rmse_std": float(np.std(rmses)),
        "test_rmses": rmses,
        "repeats": repeats,
        "seconds_per_run": float(np.mean([r["wall_seconds"] for r in runs])),
    }
    if algorithm == "dp_als":
        row["als_gram_weight"] = config.federated.als_gram_weight
        row["als_factor_weight"] = config.federated.als_factor_weight
    return row


def main(argv):
    del argv
    selection.install_runtime()
    from tff_rec.training import experiment

    root = tempfile.mkdtemp(prefix="privacy_utility_")
    base = config_lib.TrainConfig.make(
        dataset=_DATASET.value,
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
    num_clients = data.federated.num_clients
    epsilons = [float(e) for e in _EPSILONS.value]
    seeds = 1 if _QUICK.value else _SEEDS.value
    fedrecon_seeds = 1 if _QUICK.value else (_FEDRECON_SEEDS.value or seeds)
    rows = []
    for algorithm in _ALGORITHMS.value if _FEDERATED.value else []:
        repeats = seeds if algorithm == "dp_als" else fedrecon_seeds
        for target in [None, *epsilons]:
            config = _config(base, algorithm, target, num_clients)
            rows.append(_point(experiment, config, algorithm, target, repeats))
            print(json.dumps(rows[-1]), flush=True)
    floor = bias_reference.bias_only_rmse(data.split.train, data.split.test)
    rows.append({"model": "bias_only", "test_rmse": floor})
    rows.extend(_private_references(data, epsilons))
    print(
        f"{'algorithm':>10}{'epsilon':>9}{'delta':>11}{'noise':>8}{'cohort':>8}"
        f"{'test RMSE':>11}{'std':>8}"
    )
    for row in (r for r in rows if "model" not in r):
        eps = "no DP" if row["epsilon"] is None else f"{row['epsilon']:.3g}"
        delta = "-" if row["delta"] is None else f"{row['delta']:.2e}"
        noise = (
            "-" if row["noise_multiplier"] is None else f"{row['noise_multiplier']:.3g}"
        )
        print(
            f"{row['algorithm']:>10}{eps:>9}{delta:>11}{noise:>8}"
            f"{row['clients_per_round']:>8}{row['test_rmse']:>11.4f}"
            f"{row['test_rmse_std']:>8.4f}"
        )
    print(f"{'bias-only floor':>46}{floor:>11.4f}")
    for row in rows:
        if row.get("model") == "bias_only_dp":
            label = f"bias-only, DP eps {row['epsilon']:.3g}"
            print(f"{label:>46}{row['test_rmse']:>11.4f}")
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, rows)
        print(f"Wrote {_OUTPUT_JSON.value}")
        figures_lib.draw_beside("privacy_utility", rows, _OUTPUT_JSON.value)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
