"""The privacy budget as a round hook: epsilon per round, and the stop.

`PrivacyBudget` composes one DP round per round run (aborted rounds
included: their clients were sampled, see the README), writes ``epsilon``
and ``delta`` into every row, and stops training before the first round
that would spend more than the target epsilon. Its accountant's state is
checkpointed, so a resumed run keeps counting where it stopped.
"""

from __future__ import annotations

from typing import Any

from tff_rec import errors
from tff_rec.privacy import accounting
from tff_rec.training import hooks


class PrivacyBudget(hooks.RoundHook):
    """Accounts each round and enforces `target_epsilon`.

    Args:
      accountant: the run's accountant.
      target_epsilon: the budget; None only accounts.
    """

    state_key = "accountant"

    def __init__(
        self, accountant: accounting.PrivacyAccountant, target_epsilon: float | None
    ):
        self._accountant = accountant
        self._target = target_epsilon
        self._rounds = 0

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
        self._accountant.step()
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
