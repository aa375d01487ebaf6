"""The wall time of a run over all its attempts (the first and its resumes).

A run killed and resumed reports the time of every attempt, not only of the
last: the clock's total and the attempt count are written to the run folder
after every round (``run_clock.json``) and picked up by the next attempt.

Example:
    clock = run_clock.RunClock(output_dir, resumed=True)
    ...  # rounds; the round loop calls `after_round` (a round hook)
    results["wall_seconds"], results["resumes"] = clock.seconds(), clock.resumes
"""

from __future__ import annotations

import json
import pathlib
import time

from tff_rec.training import hooks
from tff_rec.training import metrics_writer

CLOCK_FILE = "run_clock.json"


class RunClock(hooks.RoundHook):
    """Wall seconds and attempts of a run; a round hook that saves them.

    Args:
      output_dir: the run folder.
      resumed: this attempt continues an earlier one (from its checkpoint);
        False starts the clock at zero.
      started: `time.perf_counter()` when this attempt began; None: now.
    """

    def __init__(
        self, output_dir: pathlib.Path, *, resumed: bool, started: float | None = None
    ):
        self._path = pathlib.Path(output_dir) / CLOCK_FILE
        self._start = time.perf_counter() if started is None else started
        before, attempts = 0.0, 0
        if resumed and self._path.exists():
            try:
                saved = json.loads(self._path.read_text())
                before, attempts = float(saved["seconds"]), int(saved["attempts"])
            except (ValueError, KeyError, TypeError):
                pass  # A damaged clock loses the earlier attempts' time only.
        self._before = before
        self.attempts = attempts + 1

    @property
    def resumes(self) -> int:
        """Attempts after the first."""
        return self.attempts - 1

    def seconds(self) -> float:
        """Wall seconds of all attempts so far."""
        return self._before + time.perf_counter() - self._start

    def save(self) -> None:
        metrics_writer.write_json(
            self._path, {"seconds": self.seconds(), "attempts": self.attempts}
        )

    def after_round(self, result: hooks.RoundResult) -> None:
        del result
        self.save()
