"""Progress lines for long loops: ``round 12/100 ... ETA 3m05s``."""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Prints one line per step with the mean step time and an ETA.

    Args:
      total: number of steps.
      label: what a step is called ("round").
      stream: where to print; None means stderr, so stdout stays parseable.
      start: index of the first step to be run (for resumed loops).
    """

    def __init__(
        self, total: int, *, label: str = "round", stream=None, start: int = 0
    ):
        self._total = total
        self._label = label
        self._stream = stream
        self._start_index = start
        self._start_time = time.perf_counter()

    def update(self, done: int, extra: str = "") -> str:
        """Reports that `done` steps (1-based count) are complete."""
        elapsed = time.perf_counter() - self._start_time
        steps = max(done - self._start_index, 1)
        per_step = elapsed / steps
        eta = per_step * (self._total - done)
        line = (
            f"{self._label} {done}/{self._total} "
            f"{per_step:.2f}s/{self._label} ETA {format_duration(eta)}"
        )
        if extra:
            line = f"{line} {extra}"
        print(line, file=self._stream or sys.stderr, flush=True)
        return line
