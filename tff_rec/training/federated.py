"""The round loop: sample clients, run `process.next`, record, evaluate.

Works with any `tff.learning.templates.LearningProcess` whose `next` takes a
list of client values: `tf.data` datasets (`rating_datasets_fn`), or each
client's arrays for a process that batches them inside the round
(`batching_process` with `rating_tensors_fn`, what `pipelines.train` runs for
rating tasks; `tff_rec.training.ranking.batching_process` for implicit
ones). Which execution context runs it is chosen elsewhere
(`tff_rec.runtime`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping

import numpy as np
import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.compression import byte_counts
from tff_rec.data import client_data as client_data_lib
from tff_rec.metrics import flatten_metrics
from tff_rec.privacy import accounting
from tff_rec.training import attacks
from tff_rec.training import checkpoint as checkpoint_lib
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import progress as progress_lib

EvaluateFn = Callable[[object], Mapping[str, float]]
# (client indices, round number) -> the clients' datasets for that round.
ClientDatasetsFn = Callable[[np.ndarray, int], list]


@dataclasses.dataclass(frozen=True)
class _RoundInputs:
    """A round's sampled clients and (being built) datasets."""

    sampled: np.ndarray
    failed: np.ndarray
    clients: np.ndarray
    aborted: bool
    rng_state: dict
    datasets: concurrent.futures.Future | None


@dataclasses.dataclass(frozen=True)
class RoundSchedule:
    """How clients are sampled and their data prepared each round.

    Attributes:
      rounds: number of rounds.
      clients_per_round: clients sampled uniformly without replacement.
      batch_size: local batch size.
      client_epochs: passes over the local data (ignored by reconstruction,
        which sets its own epochs in the process).
      user_key: ``user`` or ``local_user``, see `client_data.preprocess`.
      seed: seeds client sampling and local shuffling.
      sampling: ``uniform`` (exactly `clients_per_round` clients, without
        replacement) or ``poisson`` (each client independently with
        probability ``clients_per_round / num_clients``, the sampling that
        DP accounting with amplification by sampling assumes).
      dropout_rate: probability that a sampled client fails during the round
        (its update never arrives), independently per client and round.
      min_clients: a round in which fewer clients report is aborted (the
        model is left unchanged). None means 1: a round in which no client
        reports is always aborted.
    """

    rounds: int
    clients_per_round: int
    batch_size: int
    client_epochs: int = 1
    user_key: str = "user"
    seed: int = 0
    sampling: str = "uniform"
    dropout_rate: float = 0.0
    min_clients: int | None = None


SAMPLING_METHODS = ("uniform", "poisson")


def sample_clients(
    rng: np.random.Generator, num_clients: int, k: int, sampling: str = "uniform"
) -> np.ndarray:
    """Client indices for one round.

    Args:
      rng: the sampling generator (its state is part of a run's state).
      num_clients: population size.
      k: clients per round (uniform) or expected clients per round (poisson).
      sampling: ``uniform`` or ``poisson``.

    Returns:
      Sorted client indices; with Poisson sampling the count varies and may
      be zero.
    """
    if sampling == "uniform":
        return np.sort(rng.choice(num_clients, size=k, replace=False))
    if sampling == "poisson":
        return np.flatnonzero(rng.random(num_clients) < k / num_clients)
    raise ValueError(f"unknown sampling {sampling!r}; allowed: {SAMPLING_METHODS}")


# Stream of numpy SeedSequence([seed, stream, round]), apart from sampling.
_DROPOUT_STREAM = 0x64726F70


def drop_out(
    clients: np.ndarray, rate: float, *, seed: int, round_num: int
) -> np.ndarray:
    """Which sampled clients fail during a round (their update never arrives).

    Each client fails independently with probability `rate`. The draw is
    seeded by the run seed and the round number alone, so a resumed run
    drops the same clients as an uninterrupted one.

    Args:
      clients: the round's sampled client indices.
      rate: failure probability in [0, 1).
      seed: the run seed.
      round_num: the round (1-based).

    Returns:
      A boolean mask over `clients`: True where the client failed.
    """
    if rate <= 0:
        return np.zeros(len(clients), dtype=bool)
    rng = np.random.default_rng([seed, _DROPOUT_STREAM, round_num])
    return rng.random(len(clients)) < rate


TRAIN_METRICS = ("loss", "rmse", "mae", "auc", "accuracy")
# Shown on the progress line when present: these, and the top-K hit rates
# for every K.
PROGRESS_METRICS = ("train_loss", "test_rmse")
PROGRESS_PREFIXES = ("hr@", "sampled_hr@")


def train_metrics(round_metrics: Mapping) -> dict[str, float]:
    """Picks the clients' training metrics of a round (loss, rmse, mae for
    ratings; loss, auc, accuracy for implicit feedback)."""
    train = round_metrics.get("client_work", {}).get("train", {})
    return {f"train_{k}": float(train[k]) for k in TRAIN_METRICS if k in train}


def clip_metric(round_metrics: Mapping) -> dict[str, float]:
    """The DP clip of a round, if the aggregator reports one."""
    flat = flatten_metrics(round_metrics.get("aggregator", {}))
    clips = [v for k, v in flat.items() if k.rsplit("/", 1)[-1] == "clip"]
    return {"clip": clips[0]} if clips else {}


def shuffle_seed(schedule: RoundSchedule, round_num: int) -> int:
    """The seed of every client's local shuffle in round `round_num`."""
    return schedule.seed * 1_000_003 + round_num


def rating_datasets_fn(
    data: client_data_lib.FederatedData, schedule: RoundSchedule
) -> ClientDatasetsFn:
    """The round loop's default client datasets: rating examples in batches
    of `schedule.batch_size`, reshuffled every round from the schedule's seed."""

    def build(clients: np.ndarray, round_num: int) -> list:
        return [
            client_data_lib.client_batches(
                data,
                k,
                batch_size=schedule.batch_size,
                epochs=schedule.client_epochs,
                shuffle_seed=shuffle_seed(schedule, round_num),
                user_key=schedule.user_key,
            )
            for k in clients
        ]

    return build


def rating_tensors_fn(
    data: client_data_lib.FederatedData, schedule: RoundSchedule
) -> ClientDatasetsFn:
    """Client data for a process made by `batching_process`: each client's
    arrays (`client_data.client_tensors`), which the process batches as
    `rating_datasets_fn` would."""

    def build(clients: np.ndarray, round_num: int) -> list:
        seed = shuffle_seed(schedule, round_num)
        return [
            client_data_lib.client_tensors(
                data, k, shuffle_seed=seed, user_key=schedule.user_key
            )
            for k in clients
        ]

    return build


def batching_process(
    process: tff.learning.templates.LearningProcess, schedule: RoundSchedule
) -> tff.learning.templates.LearningProcess:
    """`process` with each client's batching moved into the round.

    The returned process's ``next`` takes the clients' arrays
    (`rating_tensors_fn`) instead of their datasets, and builds on each
    client the batches `rating_datasets_fn` would have made (same elements,
    same order, hence the same rounds). It is faster: no `tf.data` pipeline is
    built in Python and serialized per client, and the in-process runtime
    feeds the arrays straight into the round's graph. `initialize`,
    `get_model_weights` and `set_model_weights` are `process`'s own.

    Raises:
      TypeError: if `process` does not take rating batches
        ``<x=<user=int32,item=int32>,y=float32[?,1]>``.
    """
    return tff.simulation.compose_dataset_computation_with_learning_process(
        client_data_lib.batches_computation(
            batch_size=schedule.batch_size, epochs=schedule.client_epochs
        ),
        process,
    )


def run_rounds(
    process: tff.learning.templates.LearningProcess,
    data: client_data_lib.FederatedData,
    schedule: RoundSchedule,
    *,
    evaluate_fn: EvaluateFn | None = None,
    eval_every: int = 10,
    writer: metrics_writer_lib.MetricsWriter | None = None,
    show_progress: bool = True,
    accountant: accounting.PrivacyAccountant | None = None,
    target_epsilon: float | None = None,
    checkpoint: checkpoint_lib.CheckpointManager | None = None,
    malicious: attacks.MaliciousClients | None = None,
    client_datasets_fn: ClientDatasetsFn | None = None,
):
    """Runs `schedule.rounds` rounds of `process` on `data`.

    Each round samples clients, drops those that fail
    (`schedule.dropout_rate`), and runs `process.next` on the datasets of the
    clients that report, unless fewer than `schedule.min_clients` do: then the
    round is aborted, the state is kept, and the run goes on with the next
    round. Rows have ``clients`` (clients that reported), ``clients_dropped``
    and ``aborted`` (1 or 0).

    Args:
      process: the learning process.
      data: the clients' training data.
      schedule: rounds, sampling, failures and local-data settings.
      evaluate_fn: maps the process state to test metrics (``test_rmse``...);
        called every `eval_every` rounds and after the last round.
      eval_every: evaluation period in rounds.
      writer: receives one row per round.
      show_progress: print ``round n/N ... ETA`` lines to stderr.
      accountant: composes one DP round per round run (aborted rounds
        included, see the README); its ``epsilon`` and ``delta`` go into every
        row.
      target_epsilon: privacy budget. Training stops before the first round
        that would spend more (the remaining rounds are not run), saying so.
      checkpoint: saves the state after rounds (see `CheckpointManager.every`)
        and, if it holds a checkpoint, the loop resumes from it: the process
        state, the client-sampling generator and the accountant are restored
        and the loop continues with the next round. Folders of interrupted
        saves are deleted first.
      malicious: the malicious clients of a process built by
        `attacks.build_attacked_process`; rows then have
        ``clients_malicious``.
      client_datasets_fn: builds the reporting clients' data of a round, as
        `process.next` takes it; None means `rating_datasets_fn(data,
        schedule)`.

    Returns:
      ``(state, history)``: the final state and the list of rows of the rounds
      run by this call (a resumed loop returns only the rounds after its
      checkpoint; fewer than `schedule.rounds` if the budget stopped training).

    Raises:
      ValueError: if more clients per round are asked for than exist.
      tff_rec.errors.UserInputError: if not even one round fits the budget.
    """
    if schedule.clients_per_round > data.num_clients:
        raise ValueError(
            f"clients_per_round={schedule.clients_per_round} exceeds the "
            f"{data.num_clients} clients in the data"
        )
    budget = target_epsilon is not None and accountant is not None
    rng = np.random.default_rng(schedule.seed)
    state = process.initialize()
    done = 0
    restored = None
    if checkpoint is not None:
        for path in checkpoint.remove_partial():
            print(
                f"Checkpoint: removed {path}, left by an interrupted save",
                file=sys.stderr,
                flush=True,
            )
        restored = checkpoint.load_latest(state)
    if restored is not None:
        state = restored.state
        rng.bit_generator.state = restored.rng_state
        if accountant is not None:
            if restored.accountant_state is None:
                raise errors.UserInputError(
                    f"the checkpoint {checkpoint.path(restored.round_num)} is of "
                    "a run without differential privacy; this run is private"
                )
            accountant.set_state(restored.accountant_state)
        done = restored.round_num
        print(
            f"Checkpoint: resuming from round {done} of {schedule.rounds} "
            f"({checkpoint.path(done)})",
            file=sys.stderr,
            flush=True,
        )
    if budget and accountant.epsilon_if_step() > target_epsilon:
        if done == 0:
            raise errors.UserInputError(
                f"target_epsilon={target_epsilon} is below the epsilon of a single "
                f"round ({accountant.epsilon_if_step():.4g}); raise the noise "
                "multiplier or the budget"
            )
        print(
            f"Privacy budget: round {done + 1} would reach "
            f"{accountant.epsilon_if_step():.4g} > target_epsilon={target_epsilon}; "
            "no round left to run",
            file=sys.stderr,
            flush=True,
        )
        return state, []
    min_clients = max(1, schedule.min_clients or 1)
    progress = (
        progress_lib.Progress(schedule.rounds, start=done) if show_progress else None
    )

    build_datasets = client_datasets_fn or rating_datasets_fn(data, schedule)

    def sample(round_num) -> _RoundInputs:
        sampled = sample_clients(
            rng, data.num_clients, schedule.clients_per_round, schedule.sampling
        )
        failed = drop_out(
            sampled, schedule.dropout_rate, seed=schedule.seed, round_num=round_num
        )
        clients = sampled[~failed]
        aborted = len(clients) < min_clients
        return _RoundInputs(
            sampled=sampled,
            failed=failed,
            clients=clients,
            aborted=aborted,
            rng_state=rng.bit_generator.state,
            datasets=None
            if aborted
            else prefetcher.submit(build_datasets, clients, round_num),
        )

    # The next round's clients are sampled and their datasets built on a
    # background thread while `process.next` runs this round's (the sampling
    # order, hence every round's clients, is unchanged; checkpoints keep the
    # sampler's state as of the round they save).
    prefetcher = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    history = []
    upcoming = sample(done + 1) if done < schedule.rounds else None
    try:
        for round_num in range(done + 1, schedule.rounds + 1):
            start = time.perf_counter()
            inputs = upcoming
            upcoming = sample(round_num + 1) if round_num < schedule.rounds else None
            sampled, failed, clients = inputs.sampled, inputs.failed, inputs.clients
            row = {}
            aborted = inputs.aborted
            if aborted:
                print(
                    f"Round {round_num} aborted: {len(clients)} of {len(sampled)} "
                    f"sampled clients reported ({int(failed.sum())} failed), fewer "
                    f"than min_clients_per_round={min_clients}; the model is unchanged",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                datasets = inputs.datasets.result()
                if malicious is not None:
                    datasets = malicious.client_inputs(datasets, clients, round_num)
                output = process.next(state, datasets)
                state = output.state
                row.update(train_metrics(output.metrics))
                row.update(clip_metric(output.metrics))
                row.update(byte_counts.byte_metrics(output.metrics))
            row["clients"] = len(clients)
            row["clients_dropped"] = int(failed.sum())
            row["aborted"] = int(aborted)
            if malicious is not None:
                row["clients_malicious"] = int(malicious.is_malicious(clients).sum())
            row["round_seconds"] = time.perf_counter() - start
            stop = False
            if accountant is not None:
                accountant.step()
                row["epsilon"] = accountant.epsilon()
                row["delta"] = accountant.spec.delta
                stop = (
                    budget
                    and round_num < schedule.rounds
                    and (accountant.epsilon_if_step() > target_epsilon)
                )
            if evaluate_fn is not None and (
                round_num % eval_every == 0 or round_num == schedule.rounds or stop
            ):
                row.update(evaluate_fn(state))
            history.append({"round": round_num, **row})
            if writer is not None:
                writer.write_round(round_num, row)
            if checkpoint is not None and checkpoint.should_save(
                round_num, last=stop or round_num == schedule.rounds
            ):
                checkpoint.save(
                    checkpoint_lib.RoundCheckpoint(
                        round_num=round_num,
                        state=state,
                        rng_state=inputs.rng_state,
                        accountant_state=None
                        if accountant is None
                        else accountant.get_state(),
                    )
                )
            if progress is not None:
                shown = {
                    k: v
                    for k, v in row.items()
                    if k in PROGRESS_METRICS or k.startswith(PROGRESS_PREFIXES)
                }
                progress.update(
                    round_num, " ".join(f"{k}={v:.4f}" for k, v in shown.items())
                )
            if stop:
                print(
                    f"Privacy budget: stopping after round {round_num} of "
                    f"{schedule.rounds}: epsilon={accountant.epsilon():.4g}, and "
                    f"round {round_num + 1} would reach "
                    f"{accountant.epsilon_if_step():.4g} > "
                    f"target_epsilon={target_epsilon}",
                    file=sys.stderr,
                    flush=True,
                )
                break
    finally:
        prefetcher.shutdown(wait=False, cancel_futures=True)
    return state, history
