"""What the round loop does besides running rounds: hooks, each testable alone.

`tff_rec.training.rounds.run_rounds` runs the rounds; everything optional
comes in as a `RoundHook`, in the spirit of `tff.program`'s program-state
and release managers. After each round every hook, in order, sees the
round's `RoundResult`: it may add cells to the round's row, or stop
training. The hooks here are the round loop's common ones; others live with
their concept (`tff_rec.training.budget.PrivacyBudget`,
`tff_rec.training.divergence.DivergenceGuard`,
`tff_rec.training.attacks.MaliciousClients`).

Order matters, and is the order of the list: hooks that may stop training
(budget, divergence) come before evaluation (which also runs on the last
round trained), which comes before the releases (which write the row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from tff_rec.compression import byte_counts
from tff_rec.metrics import flatten_metrics
from tff_rec.training import metrics_writer as metrics_writer_lib
from tff_rec.training import progress as progress_lib
from tff_rec.training import sampling

TRAIN_METRICS = ("loss", "rmse", "mae", "auc", "accuracy")
# Shown on the progress line when present: these, and the top-K hit rates
# for every K.
PROGRESS_METRICS = ("train_loss", "test_rmse", "epsilon")
PROGRESS_PREFIXES = ("hr@", "sampled_hr@")


@dataclasses.dataclass
class RoundResult:
    """A round that has run, as the hooks see it.

    Attributes:
      number: the round (1-based).
      state: the learning process state after the round.
      row: the round's metrics (``metrics.csv`` cells); hooks add to it.
      clients: the clients that reported.
      last: the schedule's last round.
      stop: set by a hook that ends training after this round: why.
      diverged: set by a hook that found the state unusable (non-finite):
        this round's state is not checkpointed nor evaluated.
    """

    number: int
    state: Any
    row: dict[str, float]
    clients: Any = ()
    last: bool = False
    stop: str | None = None
    diverged: bool = False

    @property
    def final(self) -> bool:
        """No round follows this one."""
        return self.last or self.stop is not None


class RoundHook:
    """A part of the round loop; every method is optional.

    Attributes:
      state_key: for a hook whose state must survive a restart: the name its
        `get_state` is checkpointed under.
    """

    state_key: str | None = None

    def start(self, done: int, rounds: int) -> str | None:
        """Called once before the first round to run (`done` are done).

        Returns:
          None to train, or why no round is left to run.
        """
        del done, rounds
        return None

    def client_data(self, round_: sampling.Round, data: list) -> list:
        """The round's client data as `process.next` will receive it."""
        del round_
        return data

    def after_round(self, result: RoundResult) -> None:
        """Called after each round, in the order of the hooks."""

    def get_state(self) -> Any:
        return None

    def set_state(self, state: Any) -> None:
        del state


def round_metrics(metrics: Mapping) -> dict[str, float]:
    """The row cells of a round's TFF metrics: the clients' training metrics
    (``train_loss``...), the DP clip if the aggregator reports one, and the
    bytes sent (`tff_rec.compression.byte_counts`)."""
    train = metrics.get("client_work", {}).get("train", {})
    row = {f"train_{k}": float(train[k]) for k in TRAIN_METRICS if k in train}
    flat = flatten_metrics(metrics.get("aggregator", {}))
    clips = [v for k, v in flat.items() if k.rsplit("/", 1)[-1] == "clip"]
    if clips:
        row["clip"] = clips[0]
    row.update(byte_counts.byte_metrics(metrics))
    return row


class PeriodicEvaluation(RoundHook):
    """Adds test metrics every `every` rounds and after the last round trained.

    Args:
      evaluate_fn: maps a process state to test metrics.
      every: evaluation period in rounds.
    """

    def __init__(self, evaluate_fn: Callable[[Any], Mapping[str, float]], every: int):
        self._evaluate_fn = evaluate_fn
        self._every = every

    def after_round(self, result: RoundResult) -> None:
        if result.diverged:
            return
        if result.number % self._every == 0 or result.final:
            result.row.update(self._evaluate_fn(result.state))


class MetricsRelease(RoundHook):
    """Writes each round's row to ``metrics.csv`` and TensorBoard."""

    def __init__(self, writer: metrics_writer_lib.MetricsWriter):
        self._writer = writer

    def after_round(self, result: RoundResult) -> None:
        self._writer.write_round(result.number, result.row)


class ProgressRelease(RoundHook):
    """Prints ``round n/N ... ETA`` with the latest headline metrics.

    A metric not measured this round (test metrics between evaluations)
    shows its latest value and the round it is from.
    """

    def __init__(self, *, stream=None):
        self._stream = stream
        self._progress = None
        self._latest: dict[str, tuple[float, int]] = {}

    def start(self, done: int, rounds: int) -> None:
        self._progress = progress_lib.Progress(rounds, start=done, stream=self._stream)

    def after_round(self, result: RoundResult) -> None:
        for k, v in result.row.items():
            if k in PROGRESS_METRICS or k.startswith(PROGRESS_PREFIXES):
                self._latest[k] = (v, result.number)
        shown = []
        for k, (v, number) in self._latest.items():
            since = "" if number == result.number else f" (round {number})"
            shown.append(f"{k}={v:.4f}{since}")
        self._progress.update(result.number, " ".join(shown), final=result.final)
