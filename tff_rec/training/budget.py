"""The privacy budget as a round hook: epsilon per round, and the stop.

`PrivacyBudget` composes one DP round per round run (aborted rounds
included: their clients were sampled, see the README), writes ``epsilon``
and ``delta`` into every row, and stops training before the first round
that would spend more than the target epsilon. Its accountant's state is
checkpointed, so a resumed run keeps counting where it stopped.

A round is counted before its noised aggregate exists: the accountant steps,
and its state is written durably to the run's privacy ledger, before the
round's clients are handed to the process. A crash between a release and
the next checkpoint therefore never lowers the count: a run resumed from
an older checkpoint takes the ledger's count, which includes the lost
release, and the redone round (fresh noise, a new release) is counted again.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from tff_rec import console
from tff_rec import errors
from tff_rec.privacy import accounting
from tff_rec.training import hooks


class PrivacyBudget(hooks.RoundHook):
    """Accounts each round and enforces `target_epsilon`.

    Args:
      accountant: the run's accountant.
      target_epsilon: the budget; None only accounts.
      ledger_path: where the accountant's state is written before each
        release (see the module docstring); None keeps no ledger.
    """

    state_key = "accountant"

    def __init__(
        self,
        accountant: accounting.PrivacyAccountant,
        target_epsilon: float | None,
        ledger_path: os.PathLike | str | None = None,
    ):
        self._accountant = accountant
        self._target = target_epsilon
        self._rounds = 0
        self._ledger = None if ledger_path is None else pathlib.Path(ledger_path)
        self._counted_early = False

    def client_data(self, round_, data: list) -> list:
        """Counts the round, durably, before its clients train."""
        self._accountant.step()
        self._counted_early = True
        if self._ledger is not None:
            _write_durably(self._ledger, self._accountant.get_state())
        return data

    @property
    def accountant(self) -> accounting.PrivacyAccountant:
        return self._accountant

    def _next_exceeds(self) -> bool:
        return (
            self._target is not None
            and self._accountant.epsilon_if_step() > self._target
        )

    def start(self, done: int, rounds: int) -> str | None:
        """Refuses a budget below one round; says if none is left to run.

        Raises:
          tff_rec.errors.UserInputError: if not even the first round fits.
        """
        self._rounds = rounds
        if done == 0:
            self._count_releases_without_checkpoint()
        if not self._next_exceeds():
            return None
        next_epsilon = self._accountant.epsilon_if_step()
        if done == 0:
            raise errors.UserInputError(
                f"target_epsilon={self._target} is below the epsilon of a single "
                f"round ({next_epsilon:.4g}); raise the noise multiplier or the "
                "budget"
            )
        return (
            f"Privacy budget: round {done + 1} would reach {next_epsilon:.4g} > "
            f"target_epsilon={self._target}; no round left to run"
        )

    def after_round(self, result: hooks.RoundResult) -> None:
        if not self._counted_early:
            # An aborted round: no release, but its clients were sampled.
            self._accountant.step()
        self._counted_early = False
        result.row["epsilon"] = self._accountant.epsilon()
        result.row["delta"] = self._accountant.spec.delta
        if result.last or result.stop is not None or not self._next_exceeds():
            return
        result.stop = (
            f"Privacy budget: stopping after round {result.number} of "
            f"{self._rounds}: epsilon={self._accountant.epsilon():.4g}, and round "
            f"{result.number + 1} would reach "
            f"{self._accountant.epsilon_if_step():.4g} > "
            f"target_epsilon={self._target}"
        )

    def get_state(self) -> dict[str, Any]:
        return self._accountant.get_state()

    def set_state(self, state: dict[str, Any] | None) -> None:
        """Restores the accountant (of a checkpoint of this run).

        Raises:
          tff_rec.errors.UserInputError: the checkpoint has no accountant
            state: it is of a run without differential privacy.
        """
        if state is None:
            raise errors.UserInputError(
                "the checkpoint is of a run without differential privacy; this "
                "run is private"
            )
        self._accountant.set_state(state)
        ledger = self._read_ledger()
        if ledger is not None and ledger["rounds"] > state["rounds"]:
            lost = ledger["rounds"] - state["rounds"]
            self._accountant.set_state(ledger)
            console.announce(
                f"Privacy: {lost} round(s) after the checkpoint were released "
                "before the interruption; they stay counted (epsilon="
                f"{self._accountant.epsilon():.4g} so far)"
            )

    def _count_releases_without_checkpoint(self) -> None:
        """A run killed before its first checkpoint released rounds all the
        same: a rerun in the same folder starts with them counted."""
        ledger = self._read_ledger()
        if ledger is None or ledger["rounds"] == 0:
            return
        try:
            self._accountant.set_state(ledger)
        except errors.UserInputError:
            raise errors.UserInputError(
                f"{self._ledger} records rounds released with other privacy "
                "settings; pass --fresh to start over, or another --experiment_name"
            ) from None
        console.announce(
            f"Privacy: {ledger['rounds']} round(s) were released before an "
            "interruption with no checkpoint; they stay counted (epsilon="
            f"{self._accountant.epsilon():.4g} so far)"
        )

    def _read_ledger(self) -> dict[str, Any] | None:
        if self._ledger is None or not self._ledger.exists():
            return None
        try:
            ledger = json.loads(self._ledger.read_text())
            accounting.PrivacySpec.from_dict(dict(ledger["spec"]))
            rounds = ledger["rounds"]
        except (ValueError, KeyError, TypeError, errors.UserInputError):
            raise errors.UserInputError(
                f"{self._ledger} is damaged; it records the privacy spent before "
                "an interruption: restore it, or pass --fresh to start over"
            ) from None
        if not isinstance(rounds, int):
            raise errors.UserInputError(f"{self._ledger}: rounds is not an integer")
        return ledger


def _write_durably(path: pathlib.Path, payload: dict[str, Any]) -> None:
    """Writes JSON atomically and flushes it to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
