r"""Round speed of the in-process runtime against TFF's C++ runtime.

Trains biased matrix factorization with weighted FedAvg on MovieLens-100K
(per-user clients, 20% holdout), `--clients_per_round` clients per round for
`--rounds` rounds, once per runtime, in this one process, and prints the
median seconds per round, client updates per second and training examples
per second of each: for the whole round of the training loop (sampling,
building the clients' data, `process.next`) and for `process.next` alone
(the runtime's part).

The process and its client data are those `pipelines.train` runs: with
``--client_data=arrays`` (the default) each client's rows go into the round
as arrays and the client batches them inside the round
(`tff_rec.tasks.rating.batching_process`); with ``--client_data=datasets`` the process
is the one TFF's builders return, taking a `tf.data` dataset per client, made
and serialized in Python. Both give the same rounds. As the limit, it trains
the same Keras model on the pooled training data, with the clients' batch size
(`centralized_examples_per_second`) and with the centralized baseline's
batch size of 512, and prints its examples per second.

  python -m benchmarks.runtime_speed \
      --output_json=benchmarks/results/runtime_speed.json

The first round of each runtime includes compiling the process (and, in
process, building its graphs); the median is over all rounds. Takes about
3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
import time

import tensorflow as tf
from absl import app
from absl import flags

from benchmarks import figures as figures_lib
from tff_rec import cli
from tff_rec.data import preparation
from tff_rec.evaluation import baselines
from tff_rec.runtime import selection
from tff_rec.tasks import rating
from tff_rec.training import config as config_lib
from tff_rec.training import hooks
from tff_rec.training import process as process_lib
from tff_rec.training import rounds
from tff_rec.training import sampling

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_ROUNDS = flags.DEFINE_integer("rounds", 20, "Rounds per runtime.")
_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "clients_per_round", 100, "Clients per round."
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", 16, "Client and centralized batch size."
)
_RUNTIMES = flags.DEFINE_list(
    "runtimes", ["tff_cpp", "inprocess"], "Runtimes to time, in this order."
)
_CENTRALIZED_EPOCHS = flags.DEFINE_integer(
    "centralized_epochs", 3, "Epochs of the centralized Keras reference."
)
_CLIENT_DATA = flags.DEFINE_enum(
    "client_data",
    "arrays",
    ["arrays", "datasets"],
    "What the process takes per client: its rows as arrays, batched inside "
    "the round (as pipelines.train runs), or a tf.data dataset made in Python.",
)
_LOG_DEVICE_PLACEMENT = flags.DEFINE_bool(
    "log_device_placement",
    False,
    "In-process runtime: log each op's device and record the devices that "
    "ran client work (inprocess_devices_used); slows the rounds down.",
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")


def _config() -> config_lib.TrainConfig:
    return config_lib.TrainConfig.make(
        data_dir=_DATA_DIR.value,
        algorithm=config_lib.Algorithm.FEDAVG,
        rounds=_ROUNDS.value,
        clients_per_round=_CLIENTS_PER_ROUND.value,
        batch_size=_BATCH_SIZE.value,
        seed=_SEED.value,
    )


class _TimedProcess:
    """Passes `initialize` and `next` through, timing each `next` call."""

    def __init__(self, process):
        self._process = process
        self.next_seconds: list[float] = []

    def initialize(self):
        return self._process.initialize()

    def next(self, state, client_data):
        start = time.perf_counter()
        output = self._process.next(state, client_data)
        self.next_seconds.append(time.perf_counter() - start)
        return output


def time_runtime(runtime: str, config, data) -> dict[str, float]:
    """Runs the config's rounds on `runtime`; returns its speed figures."""
    context = selection.install_runtime(
        runtime=runtime, log_device_placement=_LOG_DEVICE_PLACEMENT.value
    )
    federated = config.federated
    task = rating.RatingTask(config, data)
    step, _ = process_lib.server_learning_rate(config, data)
    process, client_data = task.client_inputs(
        process_lib.build_run_process(
            config, task, data, spec=None, server_learning_rate=step
        ),
        attacked=_CLIENT_DATA.value == "datasets",
    )
    process = _TimedProcess(process)
    examples = {}

    def client_datasets(clients, round_num):
        examples[round_num] = sum(data.federated.client_size(k) for k in clients)
        return client_data(clients, round_num)

    sampler = sampling.ClientSampler(
        data.federated.num_clients,
        federated.clients_per_round,
        client_datasets,
        seed=config.seed,
    )
    start = time.perf_counter()
    history = rounds.run_rounds(
        process,
        sampler,
        rounds=federated.rounds,
        hooks=[hooks.ProgressRelease()],
    ).history
    total = time.perf_counter() - start
    seconds = [row["round_seconds"] for row in history]
    median = statistics.median(seconds)
    next_median = statistics.median(process.next_seconds)
    median_examples = statistics.median(examples.values())
    return {
        "median_round_seconds": median,
        "first_round_seconds": seconds[0],
        "total_seconds": total,
        "clients_per_second": federated.clients_per_round / median,
        "examples_per_second": median_examples / median,
        "median_next_seconds": next_median,
        "next_clients_per_second": federated.clients_per_round / next_median,
        "final_train_loss": history[-1].get("train_loss"),
        **(
            {"devices_used": sorted(context.devices_used())}
            if _LOG_DEVICE_PLACEMENT.value and hasattr(context, "devices_used")
            else {}
        ),
    }


def main(argv):
    del argv
    config = _config()
    data = preparation.prepare(config.data, seed=config.seed)
    results = {
        "rounds": config.federated.rounds,
        "clients_per_round": config.federated.clients_per_round,
        "batch_size": config.federated.batch_size,
        "client_data": _CLIENT_DATA.value,
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }
    for runtime in _RUNTIMES.value:
        print(f"Timing runtime {runtime}...", file=sys.stderr, flush=True)
        figures = time_runtime(runtime, config, data)
        for key, value in figures.items():
            results[f"{runtime}_{key}"] = value

    def centralized_speed(batch_size):
        return baselines.train_centralized(
            data.split.train,
            data.split.test,
            embedding_dim=config.model.embedding_dim,
            epochs=_CENTRALIZED_EPOCHS.value,
            batch_size=batch_size,
            seed=config.seed,
        ).examples_per_second

    results["centralized_examples_per_second"] = centralized_speed(
        config.federated.batch_size
    )
    results["centralized_large_batch_size"] = baselines.DEFAULT_BATCH_SIZE
    results["centralized_large_batch_examples_per_second"] = centralized_speed(
        baselines.DEFAULT_BATCH_SIZE
    )
    print(format_table(results))
    if _OUTPUT_JSON.value:
        path = pathlib.Path(_OUTPUT_JSON.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        figures_lib.draw_beside("runtime_speed", results, path)


def format_table(results: dict) -> str:
    lines = [
        "| runtime | median s/round | client updates/s | examples/s "
        "| median s in process.next | client updates/s in process.next |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for runtime in ("tff_cpp", "inprocess"):
        if f"{runtime}_median_round_seconds" not in results:
            continue
        lines.append(
            f"| {runtime} | {results[f'{runtime}_median_round_seconds']:.3f} | "
            f"{results[f'{runtime}_clients_per_second']:.1f} | "
            f"{results[f'{runtime}_examples_per_second']:.0f} | "
            f"{results[f'{runtime}_median_next_seconds']:.3f} | "
            f"{results[f'{runtime}_next_clients_per_second']:.1f} |"
        )
    lines.append(
        f"| centralized Keras, batch {results['batch_size']} | - | - | "
        f"{results['centralized_examples_per_second']:.0f} | - | - |"
    )
    lines.append(
        f"| centralized Keras, batch {results['centralized_large_batch_size']} "
        f"| - | - | {results['centralized_large_batch_examples_per_second']:.0f} "
        "| - | - |"
    )
    if "tff_cpp_clients_per_second" in results and (
        "inprocess_clients_per_second" in results
    ):
        speedup = (
            results["inprocess_clients_per_second"]
            / results["tff_cpp_clients_per_second"]
        )
        limit = (
            results["centralized_examples_per_second"]
            / results["inprocess_examples_per_second"]
        )
        lines.append(
            f"\ninprocess / tff_cpp: {speedup:.1f}x; centralized / inprocess "
            f"examples/s: {limit:.2f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
