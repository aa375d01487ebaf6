r"""Scale: MovieLens-1M end to end, rounds of 1,000 clients, 100,000 users.

Four stages, each printing its figures (``--stages`` picks some; figures of
stages not rerun are kept in ``--output_json``):

* ``quality``: ML-1M, per-user 20% holdout, seed 0, one client per user:
  reconstruction with both baselines (centralized, local-only), weighted and
  unweighted FedAvg; test RMSE/MAE, rounds, seconds per round (50 clients),
  wall time, and the seconds of one evaluation of every test user with the
  reconstruction model (``eval_seconds``, next to 3 training rounds).
* ``ranking``: `benchmarks.ranking_ml1m`'s GMF rows (federated reconstruction
  and the centralized model evaluated by reconstruction), in a separate
  process: sampled and full HR@10 / NDCG@10.
* ``rounds1000``: rounds of 1,000 clients of reconstruction on ML-1M with the
  in-process runtime and with TFF's C++ runtime, each in a fresh driver
  process: median seconds per round after the first (which compiles), their
  ratio, and each driver's peak RSS.
* ``population``: a 100,000-user population made of ML-1M users resampled
  under fresh ids (`tff_rec.data.population`), partitioned one client per
  user, rounds of 1,000 clients in-process; seconds per round and the peak
  RSS of a separate driver process doing only that. It measures systems
  cost, not quality: the population repeats ML-1M's users.

  python -m benchmarks.scale_ml1m --data_dir=DIR \
      --output_json=benchmarks/results/scale_ml1m.json

``--quick`` runs every stage reduced (fewer rounds) with the same keys.
``DIR`` holds ML-1M's ``ratings.dat`` (see the README for getting it).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.data import client_data
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import population as population_lib
from tff_rec.data import preparation
from tff_rec.data import splits
from tff_rec.evaluation import rating_metrics
from tff_rec.runtime import selection
from tff_rec.tasks import rating
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import hooks
from tff_rec.training import metrics_writer
from tff_rec.training import process as process_lib
from tff_rec.training import rounds as rounds_lib
from tff_rec.training import sampling

STAGES = ("quality", "ranking", "rounds1000", "population")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "ML-1M folder (ratings.dat).")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_STAGES = flags.DEFINE_list("stages", list(STAGES), "Stages to run.")
_QUICK = flags.DEFINE_bool("quick", False, "Reduced rounds, same keys.")
_ROUNDS = flags.DEFINE_integer("rounds", 300, "Rounds of each federated run.")
_FEDRECON_SERVER_LR = flags.DEFINE_float(
    "fedrecon_server_learning_rate", None, "Reconstruction's server step."
)
_CENTRALIZED_L2 = flags.DEFINE_float(
    "centralized_l2",
    0.05,
    "The centralized baseline's L2 (0.05 on ML-1M: test RMSE 0.8579, against "
    "0.8684 with the ML-100K value 0.1).",
)
_RANKING_JSON = flags.DEFINE_string(
    "ranking_json",
    None,
    "The ranking stage also keeps its rows here (benchmarks.ranking_ml1m's "
    "--output_json); by default a temporary file.",
)
_POPULATION = flags.DEFINE_integer("population", 100_000, "Users of the population.")
_LARGE_COHORT = flags.DEFINE_integer(
    "large_clients_per_round", 1000, "Clients per round of the timing stages."
)
_TIMED_ROUNDS = flags.DEFINE_integer(
    "timed_rounds", 4, "Rounds per timing (the first, compiling, is left out)."
)
# Internal: a timing's separate driver runs CHILD and writes its figures to
# PATH (`--child=CHILD:PATH`).
_CHILD = flags.DEFINE_string("child", None, "(internal) CHILD:PATH")
flags.mark_flag_as_required("data_dir")


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rounds() -> int:
    return 20 if _QUICK.value else _ROUNDS.value


def _timed_rounds() -> int:
    return 3 if _QUICK.value else _TIMED_ROUNDS.value


def quality(root: str) -> dict:
    """ML-1M runs of every algorithm (reconstruction with the baselines)."""
    results = {}
    for algorithm in ("fedrecon", "fedavg", "fedavg_unweighted"):
        settings = dict(
            dataset="ml-1m",
            data_dir=_DATA_DIR.value,
            algorithm=algorithm,
            rounds=_rounds(),
            eval_every=_rounds(),
            baselines=algorithm == "fedrecon",
            centralized_l2=_CENTRALIZED_L2.value,
            root_output_dir=root,
            experiment_name=f"ml1m_{algorithm}",
        )
        if algorithm == "fedrecon" and _FEDRECON_SERVER_LR.value is not None:
            settings["server_learning_rate"] = _FEDRECON_SERVER_LR.value
        config = config_lib.TrainConfig.make(**settings)
        _announce(f"ML-1M: {algorithm}, {_rounds()} rounds")
        run = experiment.run_experiment(config, fresh=True)
        results[f"{algorithm}_test_rmse"] = run["test_rmse"]
        results[f"{algorithm}_test_mae"] = run["test_mae"]
        results[f"{algorithm}_rounds"] = run["rounds"]
        results[f"{algorithm}_seconds_per_round"] = run["seconds_per_round"]
        results[f"{algorithm}_wall_seconds"] = run["wall_seconds"]
        results[f"{algorithm}_server_learning_rate"] = run["server_learning_rate"]
        if algorithm == "fedrecon":
            for key in ("centralized_test_rmse", "centralized_test_mae"):
                results[key] = run[key]
            results["local_only_test_rmse"] = run["local_only_test_rmse"]
            results["train_round_seconds"] = run["seconds_per_round"]
            results["eval_seconds"] = _eval_seconds(config)
            results["eval_in_train_rounds"] = (
                results["eval_seconds"] / results["train_round_seconds"]
            )
    results["fedavg_test_rmse_weighted"] = results["fedavg_test_rmse"]
    return results


def _eval_seconds(config) -> float:
    """Seconds of one evaluation of every test user with the final model."""
    data = preparation.prepare(config.data, seed=config.seed)
    task = experiment.make_task(config, data)
    arrays = np.load(
        os.path.join(
            config.root_output_dir,
            config.experiment_name,
            metrics_writer.WEIGHTS_FILE,
        )
    )
    weights = rating_metrics.MatrixFactorizationWeights(
        item_embedding=arrays["item_embedding"],
        item_bias=arrays["item_bias"],
        global_bias=float(arrays["global_bias"]),
    )
    start = time.perf_counter()
    task.evaluate_weights(weights)
    return time.perf_counter() - start


def time_rounds(config, data, *, runtime: str) -> float:
    """Median seconds of `config`'s rounds on `runtime`, the first left out."""
    selection.install_runtime(runtime=runtime)
    task = rating.RatingTask(config, data)
    step, _ = process_lib.server_learning_rate(config, data)
    process, client_data_fn = task.client_inputs(
        process_lib.build_run_process(
            config, task, data, spec=None, server_learning_rate=step
        ),
        attacked=False,
    )
    sampler = sampling.ClientSampler(
        data.federated.num_clients,
        config.federated.clients_per_round,
        client_data_fn,
        seed=config.seed,
    )
    history = rounds_lib.run_rounds(
        process, sampler, rounds=_timed_rounds(), hooks=[hooks.ProgressRelease()]
    ).history
    return statistics.median(row["round_seconds"] for row in history[1:])


def _large_config(**settings) -> config_lib.TrainConfig:
    return config_lib.TrainConfig.make(
        clients_per_round=_LARGE_COHORT.value, rounds=_timed_rounds(), **settings
    )


def _peak_rss_bytes() -> int:
    """This process's peak resident set size, in bytes.

    Linux's `ru_maxrss` survives `exec`: a child started from a large parent
    reports the parent's peak. `VmHWM` belongs to the process's own address
    space, so it is read where the kernel provides it.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def runtime_figures(runtime: str) -> dict:
    """In this process: rounds of 1,000 ML-1M clients on `runtime`."""
    config = _large_config(dataset="ml-1m", data_dir=_DATA_DIR.value)
    data = preparation.prepare(config.data, seed=config.seed)
    seconds = time_rounds(config, data, runtime=runtime)
    return {
        f"{runtime}_round_seconds_1000": seconds,
        f"{runtime}_peak_rss_bytes_1000": _peak_rss_bytes(),
    }


def _in_child(child: str, *extra: str) -> dict:
    """Runs `child` in a fresh driver process and returns its figures.

    Each timing gets a process of its own, so its peak RSS is its own and no
    runtime's threads, worker or caches are left over to slow down the next.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, f"{child}.json")
        command = [
            sys.executable,
            "-m",
            "benchmarks.scale_ml1m",
            f"--data_dir={_DATA_DIR.value}",
            f"--child={child}:{path}",
            f"--large_clients_per_round={_LARGE_COHORT.value}",
            f"--timed_rounds={_timed_rounds()}",
            *extra,
        ]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
        with open(path) as f:
            return json.load(f)


def rounds1000() -> dict:
    """Rounds of 1,000 ML-1M clients, in process and on TFF's C++ runtime."""
    results = {}
    for runtime in ("tff_cpp", "inprocess"):
        _announce(f"Rounds of {_LARGE_COHORT.value} clients: {runtime}")
        results.update(_in_child(runtime))
    results["inprocess_speedup_1000"] = (
        results["tff_cpp_round_seconds_1000"] / results["inprocess_round_seconds_1000"]
    )
    return results


def population_figures() -> dict:
    """In this process: the population's preparation and rounds."""
    start = time.perf_counter()
    base = loaders.load_dataset("ml-1m", _DATA_DIR.value)
    interactions = population_lib.resample_users(base, _POPULATION.value, seed=0)
    split = splits.make_split(interactions, "holdout", seed=0)
    partition = partition_lib.make_partition(split.train, "user", seed=0)
    data = preparation.PreparedData(
        interactions=interactions,
        split=split,
        partition=partition,
        federated=client_data.build_federated_data(split.train, partition),
    )
    prepare_seconds = time.perf_counter() - start
    config = _large_config(dataset="ml-1m", data_dir=_DATA_DIR.value)
    seconds = time_rounds(config, data, runtime="inprocess")
    peak = _peak_rss_bytes()
    return {
        "population_users": interactions.num_users,
        "population_ratings": len(interactions),
        "population_prepare_seconds": prepare_seconds,
        "population_100k_round_seconds_1000": seconds,
        "population_100k_peak_rss_bytes": peak,
    }


def ranking() -> dict:
    """`benchmarks.ranking_ml1m`'s GMF rows, run in a separate process."""
    configs = ["fedrecon_gmf", "centralized_gmf_reconstructed"]
    with tempfile.TemporaryDirectory() as scratch:
        path = _RANKING_JSON.value or os.path.join(scratch, "ranking.json")
        command = [
            sys.executable,
            "-m",
            "benchmarks.ranking_ml1m",
            f"--data_dir={_DATA_DIR.value}",
            f"--output_json={path}",
            f"--configs={','.join(configs)}",
        ]
        if _QUICK.value:
            command += ["--rounds=20", "--centralized_epochs=3"]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
        with open(path) as f:
            rows = {row["config"]: row for row in json.load(f)}
    results = {}
    for config, prefix in (
        ("fedrecon_gmf", "fedrecon_gmf"),
        ("centralized_gmf_reconstructed", "centralized_reconstructed"),
    ):
        for metric in ("sampled_hr@10", "sampled_ndcg@10", "hr@10", "ndcg@10"):
            key = metric.replace("@", "")
            results[f"{prefix}_{key}"] = rows[config][metric]
    return results


def population() -> dict:
    """The population stage in a separate driver, so its peak RSS is its own."""
    _announce(f"Population of {_POPULATION.value:,} users")
    return _in_child("population", f"--population={_POPULATION.value}")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        if _CHILD.value:
            child, path = _CHILD.value.split(":", 1)
            children = {
                "population": population_figures,
                "tff_cpp": lambda: runtime_figures("tff_cpp"),
                "inprocess": lambda: runtime_figures("inprocess"),
            }
            with open(path, "w") as f:
                json.dump(children[child](), f)
            return
        unknown = sorted(set(_STAGES.value) - set(STAGES))
        if unknown:
            cli.fail(f"--stages: unknown {unknown[0]!r}; known: {', '.join(STAGES)}")
        results: dict = {}
        if _OUTPUT_JSON.value and os.path.exists(_OUTPUT_JSON.value):
            # Figures of the stages not rerun are kept.
            with open(_OUTPUT_JSON.value) as f:
                results = json.load(f)
        results["quick"] = _QUICK.value
        with tempfile.TemporaryDirectory() as root:
            stages = {
                "quality": lambda: quality(root),
                "ranking": ranking,
                "rounds1000": rounds1000,
                "population": population,
            }
            for stage in _STAGES.value:
                results.update(stages[stage]())
                print(json.dumps(results, indent=1), flush=True)
                if _OUTPUT_JSON.value:
                    metrics_writer.write_json(_OUTPUT_JSON.value, results)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
