r"""Top-K ranking on MovieLens-100K: centralized vs FedAvg vs reconstruction.

Implicit feedback (every rating is an interaction), leave-last-out split
(each user's latest interaction is the test item), 4 sampled negatives per
positive drawn on the client. Reports, for every configuration, the NCF
protocol's sampled metrics (the test item against 99 sampled negatives that
are none of the user's items: `sampled_hr@10`, `sampled_ndcg@10`) next to
full-ranking HR@10 and NDCG@10 over every item the user has not trained on.
The ``stores`` configuration is the ``ecommerce_stores`` scenario: global vs
personalized vs local-only. ``centralized_*_reconstructed`` trains the
centralized model, then discards its user embeddings and reconstructs them as
the federated reconstruction runs are evaluated: the part of the gap to
centralized that comes from evaluation by reconstruction, not from federated
training.

  python -m benchmarks.ranking_ml100k \
      --output_json=benchmarks/results/ranking_ml100k.json

``--configs`` runs a subset; results of configurations already in the
``--output_json`` file and not rerun are kept.
"""

from __future__ import annotations

import json
import pathlib
import tempfile

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.evaluation import scoring
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import scenarios

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_CONFIGS = flags.DEFINE_list("configs", None, "Subset of configurations to run.")
_ROUNDS = flags.DEFINE_integer("rounds", None, "Override the rounds of every run.")
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")
_CENTRALIZED_EPOCHS = flags.DEFINE_integer(
    "centralized_epochs", None, "Override the centralized models' epochs."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local copy of the dataset.")

COMMON = dict(
    task="implicit",
    split="leave_last_out",
    negatives=4,
    embedding_dim=32,
    l2=0.01,
    eval_every=25,
    baselines=False,
    centralized_epochs=20,
    centralized_learning_rate=0.002,
    centralized_batch_size=1280,
)
# The federated settings (and their reasons) are the library's, shared with
# the news_users scenario.
FEDRECON = scenarios.IMPLICIT_RECONSTRUCTION
FEDAVG = dict(scenarios.IMPLICIT_FEDERATED, algorithm="fedavg")
CONFIGS = {
    "centralized_gmf": dict(algorithm="centralized", model="gmf"),
    "centralized_neumf": dict(algorithm="centralized", model="neumf"),
    "fedavg_gmf": dict(FEDAVG, model="gmf"),
    "fedavg_neumf": dict(FEDAVG, model="neumf"),
    "fedrecon_gmf": dict(FEDRECON, model="gmf"),
    "fedrecon_neumf": dict(FEDRECON, model="neumf"),
}
# Suffix of the configurations that evaluate a centralized model by
# reconstruction (`_run_reconstructed`).
RECONSTRUCTED = "_reconstructed"
METRICS = ("sampled_hr@10", "sampled_ndcg@10", "hr@10", "ndcg@10", "recall@10")
STORE_PREFIXES = ("global", "personalized", "local_only", "centralized")


def _config(settings, name, root) -> config_lib.TrainConfig:
    if _CENTRALIZED_EPOCHS.value:
        settings = dict(settings, centralized_epochs=_CENTRALIZED_EPOCHS.value)
    return config_lib.TrainConfig.make(
        **settings,
        data_dir=_DATA_DIR.value,
        seed=_SEED.value,
        root_output_dir=root,
        experiment_name=name,
    )


def _task(config, data=None):
    """The implicit task of `config` (on `data`, or the data it names)."""
    from tff_rec.data import preparation
    from tff_rec.tasks import implicit

    if data is None:
        data = preparation.prepare(config.data, seed=config.seed)
    return implicit.ImplicitTask(config, data)


def _recorded_settings(config: config_lib.TrainConfig) -> dict[str, object]:
    return {k: v for k, v in config.flat().items() if k != "root_output_dir"}


def _run(name, root, common=None):
    common = COMMON if common is None else common
    from tff_rec.training import experiment

    if name == "popularity":
        config = _config({**common, "algorithm": "centralized"}, name, root)
        task = _task(config)
        metrics = task.evaluator.evaluate(
            scoring.popularity_score_fn(task.data.split.train.items, task.num_items)
        )
        return {"config": name, **{k: metrics[k] for k in METRICS}, "rounds": 0}
    if name.endswith(RECONSTRUCTED):
        return _run_reconstructed(name, root, common)
    if name == "stores":
        overrides = dict(
            data_dir=_DATA_DIR.value,
            seed=_SEED.value,
            root_output_dir=root,
            baselines=True,
        )
        if _ROUNDS.value:
            overrides["rounds"] = _ROUNDS.value
        config = scenarios.make_config("ecommerce_stores", overrides)
    else:
        settings = {**common, **CONFIGS[name]}
        if _ROUNDS.value and settings["algorithm"] != "centralized":
            settings["rounds"] = _ROUNDS.value
        config = _config(settings, name, root)
    results = experiment.run_experiment(config)
    row = {"config": name, **{k: results[k] for k in METRICS if k in results}}
    row["rounds"] = results["rounds"]
    row["settings"] = _recorded_settings(config)
    if "seconds_per_round" in results:
        row["seconds_per_round"] = results["seconds_per_round"]
    if name == "stores":
        for prefix in STORE_PREFIXES:
            row.update(
                {
                    f"{prefix}_{k}": results[f"{prefix}_{k}"]
                    for k in METRICS
                    if f"{prefix}_{k}" in results
                }
            )
    return row


def _run_reconstructed(name, root, common):
    """A centralized model evaluated the way FedRecon's server model is.

    Trains `name` without its suffix centrally, keeps its global (item-side)
    layers and reconstructs every user's layers from scratch with the
    reconstruction settings of ``fedrecon_*``: what evaluation by
    reconstruction costs a model, apart from federated training.
    """
    central_name = name[: -len(RECONSTRUCTED)]
    settings = {**common, **CONFIGS[central_name]}
    task = _task(_config(settings, name, root))
    central, info = task.centralized_model()
    recon_config = _config({**settings, **FEDRECON}, name, root)
    recon_task = _task(recon_config, task.data)
    metrics = recon_task.evaluate_model(recon_task.reconstructed_model(central))
    return {
        "config": name,
        **{k: metrics[k] for k in METRICS},
        "rounds": info["epochs"],
        "settings": _recorded_settings(recon_config),
    }


ALLOWED = (
    "popularity",
    *CONFIGS,
    *(name + RECONSTRUCTED for name in CONFIGS if name.startswith("centralized")),
    "stores",
)


def run_benchmark(common, allowed, prefix) -> dict[str, dict]:
    """Runs ``--configs`` (default `allowed`) with `common`; returns the rows.

    Rows already in ``--output_json`` and not rerun are kept; the file is
    rewritten after every configuration, so a crash loses at most one.
    """
    names = _CONFIGS.value or list(allowed)
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        cli.fail(f"unknown configs {unknown}; allowed: {list(allowed)}")
    selection.install_runtime()
    root = tempfile.mkdtemp(prefix=prefix)
    rows = {}
    if _OUTPUT_JSON.value and pathlib.Path(_OUTPUT_JSON.value).exists():
        rows = {
            r["config"]: r
            for r in json.loads(pathlib.Path(_OUTPUT_JSON.value).read_text())
        }
    for name in names:
        rows[name] = _run(name, root, common)
        if _OUTPUT_JSON.value:
            metrics_writer_lib.write_json(_OUTPUT_JSON.value, list(rows.values()))
    print_rows(rows)
    return rows


def print_rows(rows: dict[str, dict]) -> None:
    print(f"{'config':<32}" + "".join(f"{m:>17}" for m in METRICS) + f"{'rounds':>8}")
    for row in rows.values():
        print(
            f"{row['config']:<32}"
            + "".join(f"{row.get(m, float('nan')):>17.4f}" for m in METRICS)
            + f"{row['rounds']:>8}"
        )
    stores = rows.get("stores")
    if stores:
        for prefix in STORE_PREFIXES:
            print(
                f"{'stores ' + prefix:<32}"
                + "".join(
                    f"{stores.get(f'{prefix}_{m}', float('nan')):>17.4f}"
                    for m in METRICS
                )
            )


def main(argv):
    del argv
    run_benchmark(COMMON, ALLOWED, "ranking_ml100k_")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
