r"""Chaos: SIGKILL the driver and its remote worker at random moments.

Federated Reconstruction on MovieLens-100K (Poisson sampling, a checkpoint
after every round) trains on one remote worker (``python -m
pipelines.worker``). The benchmark kills, at random moments, either the
driver (``python -m pipelines.train``) or the worker, restarts whatever died
and reruns the same command, until the run finishes; then it compares with an
uninterrupted run of the same command. Two scenarios:

* ``plain`` (no DP, `--kills` kills): the final weights must equal the
  reference's (largest absolute difference <= 1e-5).
* ``dp`` (DP-FedAvg's Gaussian noise, `--dp_kills` kills): epsilon must never
  be under-counted: at least the reference's, and exactly the epsilon of
  every round released, lost ones included (the privacy ledger's count).
  Its weights differ from the reference's by design: TFF's DP aggregator
  draws fresh noise in every run, and a redone round is a new release.

Each kill is classified by what the run folder shows right after it: during
a checkpoint save (a temporary checkpoint folder was left), after a release
and before its checkpoint (the ledger counts more rounds than the newest
checkpoint), or elsewhere (start-up, evaluation, between rounds). A killed
worker must stop the driver with exit status 4.

  python -m benchmarks.chaos --output_json=benchmarks/results/chaos.json

About 30 minutes for 20 + 10 kills on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.training import metrics_writer as metrics_writer_lib

_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")
_KILLS = flags.DEFINE_integer(
    "kills", 20, "SIGKILLs (driver and worker) of the run without DP."
)
_DP_KILLS = flags.DEFINE_integer("dp_kills", 10, "SIGKILLs of the DP run.")
_ROUNDS = flags.DEFINE_integer("rounds", 30, "Rounds of each run.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill moments and victims.")
_MAX_DELAY = flags.DEFINE_float(
    "max_delay", 40.0, "Kills land uniformly in [4, max_delay] s after a start."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local ML-100K copy.")

_REPO = pathlib.Path(__file__).resolve().parents[1]
_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
_WORKER_EXIT = cli.WORKER_UNAVAILABLE_EXIT_CODE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_command(root: pathlib.Path, port: int | None, dp: bool) -> list[str]:
    flags_ = [
        "--algorithm=fedrecon",
        "--client_sampling=poisson",
        "--clients_per_round=20",
        f"--rounds={_ROUNDS.value}",
        "--eval_every=10",
        "--nobaselines",
        f"--root_output_dir={root}",
        "--experiment_name=chaos",
    ]
    if dp:
        flags_ += [
            "--aggregator=dp_gaussian_fixed",
            "--noise_multiplier=1.0",
            "--clip=0.5",
            "--server_learning_rate=1.0",
        ]
    if _DATA_DIR.value:
        flags_.append(f"--data_dir={_DATA_DIR.value}")
    flags_.append(f"--workers=127.0.0.1:{port}" if port else "--runtime=tff_cpp")
    return [sys.executable, "-m", "pipelines.train", *flags_]


class _Worker:
    def __init__(self, port: int):
        self.port = port
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.worker", f"--port={self.port}"],
            cwd=_REPO,
            env=_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline()
        if "serving on" not in line:
            raise RuntimeError(f"the worker did not start: {line!r}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def _state(run_dir: pathlib.Path) -> dict[str, object]:
    checkpoints = run_dir / "checkpoints"
    names = [p.name for p in checkpoints.iterdir()] if checkpoints.exists() else []
    done = [int(n.split("_")[2]) for n in names if n.count("_") == 2]
    ledger = run_dir / "privacy_ledger.json"
    return {
        "checkpoint_round": max(done, default=0),
        "partial_save": any("_temp" in n for n in names),
        "ledger_rounds": json.loads(ledger.read_text())["rounds"]
        if ledger.exists()
        else 0,
    }


def _where(state: dict[str, object]) -> str:
    if state["partial_save"]:
        return "during a checkpoint save"
    if state["ledger_rounds"] > state["checkpoint_round"]:
        return "after a release, before its checkpoint"
    return "elsewhere"


def _results(run_dir: pathlib.Path) -> tuple[dict, dict[str, np.ndarray]]:
    results = json.loads((run_dir / metrics_writer_lib.RESULTS_FILE).read_text())
    with np.load(run_dir / metrics_writer_lib.WEIGHTS_FILE) as weights:
        return results, {k: weights[k] for k in weights.files}


def _scenario(name: str, dp: bool, num_kills: int, rng, root, worker) -> dict:
    """One reference run, then `num_kills` kills of the same command."""
    root = root / name
    start = time.perf_counter()
    if not worker.alive():
        worker.start()
    reference = subprocess.run(
        _train_command(root / "reference", worker.port, dp),
        cwd=_REPO,
        env=_ENV,
        capture_output=True,
        text=True,
    )
    if reference.returncode != 0:
        cli.fail(f"the reference run failed: {reference.stderr[-500:]}", 1)
    reference_seconds = time.perf_counter() - start
    print(f"{name}: reference run {reference_seconds:.0f} s", flush=True)

    run_dir = root / "chaos" / "chaos"
    kills, attempts = [], 0
    while True:
        if not worker.alive():
            worker.start()
        attempts += 1
        driver = subprocess.Popen(
            _train_command(root / "chaos", worker.port, dp),
            cwd=_REPO,
            env=_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if len(kills) >= num_kills:
            _, stderr = driver.communicate()
            if driver.returncode != 0:
                cli.fail(f"the final attempt failed: {stderr[-500:]}", 1)
            break
        delay = rng.uniform(4.0, _MAX_DELAY.value)
        try:
            driver.wait(delay)
            # Finished before the kill: start over to kill again.
            shutil.rmtree(root / "chaos")
            continue
        except subprocess.TimeoutExpired:
            pass
        victim = rng.choice(("driver", "worker"))
        if victim == "driver":
            driver.kill()
            driver.wait()
            driver_status = -signal.SIGKILL
            stopped_after = 0.0
        else:
            worker.kill()
            killed_at = time.perf_counter()
            try:
                driver.wait(120)
            except subprocess.TimeoutExpired:
                driver.kill()
                driver.wait()
            driver_status = driver.returncode
            stopped_after = time.perf_counter() - killed_at
        if (run_dir / metrics_writer_lib.RESULTS_FILE).exists():
            # The run had finished (the worker was no longer needed): the kill
            # interrupted nothing; start over to kill again.
            shutil.rmtree(root / "chaos")
            continue
        state = _state(run_dir)
        kill = {
            "victim": victim,
            "after_seconds": round(delay, 2),
            "driver_status": driver_status,
            "driver_stopped_after_seconds": round(stopped_after, 2),
            "where": _where(state),
            **state,
        }
        kills.append(kill)
        print(json.dumps({"scenario": name, **kill}), flush=True)
        if victim == "worker" and driver_status != _WORKER_EXIT:
            cli.fail(f"the driver did not stop with status 4: {kill}", 1)

    expected, expected_weights = _results(root / "reference" / "chaos")
    actual, actual_weights = _results(run_dir)
    max_difference = max(
        float(np.max(np.abs(actual_weights[k] - expected_weights[k])))
        for k in expected_weights
    )
    summary = {
        "scenario": name,
        "dp": dp,
        "kills": len(kills),
        "driver_kills": sum(k["victim"] == "driver" for k in kills),
        "worker_kills": sum(k["victim"] == "worker" for k in kills),
        "kills_by_where": {
            where: sum(k["where"] == where for k in kills)
            for where in sorted({k["where"] for k in kills})
        },
        "attempts": attempts,
        "rounds": _ROUNDS.value,
        "max_abs_weight_difference": max_difference,
        "weights_equal": max_difference <= 1e-5,
        "reference_test_rmse": expected["test_rmse"],
        "test_rmse": actual["test_rmse"],
        "worst_driver_stop_after_worker_kill_seconds": max(
            (
                k["driver_stopped_after_seconds"]
                for k in kills
                if k["victim"] == "worker"
            ),
            default=None,
        ),
        "resumes": actual.get("resumes"),
        "reference_seconds": reference_seconds,
        "seconds": time.perf_counter() - start,
        "kill_log": kills,
    }
    if dp:
        from tff_rec.privacy import accounting

        report = actual["privacy"]
        spec = accounting.PrivacySpec(
            **{
                k: report[k]
                for k in (
                    "mechanism",
                    "noise_multiplier",
                    "clients_per_round",
                    "num_clients",
                    "delta",
                    "sampling",
                    "accountant",
                )
            }
        )
        released = _state(run_dir)["ledger_rounds"]
        summary.update(
            reference_epsilon=expected["epsilon"],
            epsilon=actual["epsilon"],
            rounds_released=released,
            rounds_accounted=report["rounds"],
            epsilon_of_rounds_released=accounting.epsilon(spec, released),
            epsilon_not_under_counted=actual["epsilon"] >= expected["epsilon"],
        )
    print(json.dumps({k: v for k, v in summary.items() if k != "kill_log"}, indent=2))
    return summary


def main(argv):
    del argv
    rng = random.Random(_SEED.value)
    root = pathlib.Path(tempfile.mkdtemp(prefix="chaos_"))
    worker = _Worker(_free_port())
    try:
        scenarios = [
            _scenario("plain", False, _KILLS.value, rng, root, worker),
            _scenario("dp", True, _DP_KILLS.value, rng, root, worker),
        ]
        if _OUTPUT_JSON.value:
            metrics_writer_lib.write_json(_OUTPUT_JSON.value, {"scenarios": scenarios})
            print(f"Wrote {_OUTPUT_JSON.value}")
    finally:
        worker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
