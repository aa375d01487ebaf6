r"""Host memory over a long run: does RSS keep growing round after round?

Runs Federated Reconstruction on MovieLens-100K for `--rounds` rounds (500 by
default) and prints the resident set size of the driver (this Python process)
and of TFF's C++ worker process at rounds 10, 100, 250 and 500, and the
growth from round 100 to the last round. TFF users report unbounded host
memory growth over long simulations (tensorflow-federated issue 4590).

  python -m benchmarks.memory --output_json=benchmarks/results/memory.json

Takes about 15-25 minutes on 2 CPU cores with the default 10 clients per round.
"""

from __future__ import annotations

import time

import psutil
from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import hooks
from tff_rec.training import metrics_writer as metrics_writer_lib

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_ROUNDS = flags.DEFINE_integer("rounds", 500, "Rounds to run.")
_CLIENTS_PER_ROUND = flags.DEFINE_integer("clients_per_round", 10, "Clients per round.")
_REPORT_AT = flags.DEFINE_list(
    "report_at", ["10", "100", "250", "500"], "Rounds at which RSS is printed."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")
_SEED = flags.DEFINE_integer("seed", 0, "Split, sampling and init seed.")
_RUNTIME = flags.DEFINE_enum(
    "runtime",
    "tff_cpp",
    [runtime.value for runtime in selection.RuntimeType],
    "Runtime to measure; tff_cpp (the default here) has the worker process "
    "whose growth the recorded results track.",
)

_MIB = 1024 * 1024


def rss_mib() -> dict[str, float]:
    """RSS in MiB of this process and of the TFF workers it started."""
    from tff_rec.runtime import worker_processes

    driver = psutil.Process().memory_info().rss / _MIB
    worker = 0.0
    for pid in worker_processes.worker_pids(running_only=True):
        try:
            worker += psutil.Process(pid).memory_info().rss / _MIB
        except psutil.NoSuchProcess:
            continue
    return {"driver_rss_mib": driver, "worker_rss_mib": worker}


class _RssRecorder(hooks.RoundHook):
    """A round hook that samples RSS at chosen rounds."""

    def __init__(self, report_at: set[int]):
        self._report_at = report_at
        self.samples: list[dict[str, float]] = []
        self._start = time.perf_counter()

    def after_round(self, result: hooks.RoundResult) -> None:
        round_num = result.number
        if round_num in self._report_at:
            sample = {
                "round": round_num,
                "elapsed_seconds": time.perf_counter() - self._start,
                **rss_mib(),
            }
            self.samples.append(sample)
            print(
                f"round {round_num:>4}: driver RSS {sample['driver_rss_mib']:8.1f} "
                f"MiB, worker RSS {sample['worker_rss_mib']:8.1f} MiB",
                flush=True,
            )


def main(argv):
    del argv
    selection.install_runtime(runtime=_RUNTIME.value)
    from tff_rec.data import preparation
    from tff_rec.tasks import rating
    from tff_rec.training import process as process_lib
    from tff_rec.training import rounds
    from tff_rec.training import sampling

    config = config_lib.TrainConfig.make(
        data_dir=_DATA_DIR.value,
        seed=_SEED.value,
        rounds=_ROUNDS.value,
        clients_per_round=_CLIENTS_PER_ROUND.value,
        # The default step (25 for 50 clients) restores the sum of sparse
        # item-row updates from their mean; keep that ratio.
        server_learning_rate=0.5 * _CLIENTS_PER_ROUND.value,
        baselines=False,
    )
    federated = config.federated
    report_at = {int(r) for r in _REPORT_AT.value if int(r) <= federated.rounds}
    report_at.add(federated.rounds)
    data = preparation.prepare(config.data, seed=config.seed)
    task = rating.RatingTask(config, data)
    process = process_lib.build_run_process(
        config,
        task,
        data,
        spec=None,
        server_learning_rate=federated.server_learning_rate,
    )
    # Clients fed `tf.data` datasets, the path the recorded results measured.
    process, client_data_fn = task.client_inputs(process, attacked=True)
    sampler = sampling.ClientSampler(
        data.federated.num_clients,
        federated.clients_per_round,
        client_data_fn,
        seed=config.seed,
    )
    recorder = _RssRecorder(report_at)
    rounds.run_rounds(process, sampler, rounds=federated.rounds, hooks=[recorder])
    samples = recorder.samples
    by_round = {s["round"]: s for s in samples}
    summary = {"rounds": federated.rounds, "samples": samples}
    if 100 in by_round and federated.rounds > 100:
        last = by_round[federated.rounds]
        for key in ("driver_rss_mib", "worker_rss_mib"):
            base = by_round[100][key]
            growth = (last[key] - base) / base if base else 0.0
            summary[f"{key.removesuffix('_mib')}_growth_100_to_last"] = growth
            print(
                f"{key.split('_')[0]} RSS growth from round 100 to "
                f"{federated.rounds}: {100 * growth:+.1f}%"
            )
    if _OUTPUT_JSON.value:
        metrics_writer_lib.write_json(_OUTPUT_JSON.value, summary)
        print(f"Wrote {_OUTPUT_JSON.value}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
