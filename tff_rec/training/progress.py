"""Progress of long loops: ``round 12/100 0.21s/round ETA 19s train_loss=...``.

On a terminal the line is a live bar, rewritten in place; elsewhere (a file,
a pipe, CI) it is one line per step, so logs stay readable. Messages go
through `tff_rec.console.announce`, which keeps them above a live bar.
"""

from __future__ import annotations

import shutil
import sys
import time

from tff_rec import console

_BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Reports steps done with the mean step time and an ETA.

    Args:
      total: number of steps.
      label: what a step is called ("round").
      stream: where to print; None means stderr, so stdout stays parseable.
      start: index of the first step to be run (for resumed loops).
      live: rewrite one line in place (a bar) instead of printing one line per
        step. None means: when `stream` is a terminal.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "round",
        stream=None,
        start: int = 0,
        live: bool | None = None,
    ):
        self._total = total
        self._label = label
        self._stream = stream
        self._start_index = start
        self._start_time = time.perf_counter()
        self._live = _is_terminal(self.stream) if live is None else live

    @property
    def stream(self):
        return self._stream or sys.stderr

    def update(self, done: int, extra: str = "", *, final: bool = False) -> str:
        """Reports that `done` steps (1-based count) are complete.

        Args:
          done: steps complete.
          extra: appended to the line (the latest metrics).
          final: no step follows (the loop stopped early); ends a live bar.

        Returns:
          The progress line (without the live bar's drawing).
        """
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
        if not self._live:
            print(line, file=self.stream, flush=True)
            return line
        fraction = min(max(done / self._total, 0.0), 1.0) if self._total else 1.0
        filled = int(round(fraction * _BAR_WIDTH))
        bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {line}"
        width = shutil.get_terminal_size().columns - 1
        console.draw_live(self.stream, bar[:width], done=final or done >= self._total)
        return line
