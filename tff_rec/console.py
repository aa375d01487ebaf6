"""Messages for the user on stderr, around a live progress bar.

stdout carries a run's results (tables, paths); stderr its messages and
progress. On a terminal the progress of a loop is one line rewritten in
place (`tff_rec.training.progress`); a message printed meanwhile goes above
it and the bar is drawn again below.
"""

from __future__ import annotations

import sys

# Clears from the cursor to the end of the line.
CLEAR_LINE = "\x1b[K"


class _LiveLine:
    def __init__(self, stream, text: str):
        self.stream = stream
        self.text = text


_live: _LiveLine | None = None


def draw_live(stream, text: str, *, done: bool = False) -> None:
    """Draws `text` as the live line of `stream`; `done` ends it (newline)."""
    global _live
    stream.write("\r" + text + CLEAR_LINE + ("\n" if done else ""))
    stream.flush()
    _live = None if done else _LiveLine(stream, text)


def end_live() -> None:
    """Ends the live line where it stands (a newline), if one is drawn."""
    global _live
    if _live is not None:
        _live.stream.write("\n")
        _live.stream.flush()
        _live = None


def announce(message: str) -> None:
    """Prints a message line on stderr, above the live line if one is drawn."""
    live = _live if _live is not None and _live.stream is sys.stderr else None
    if live is not None:
        sys.stderr.write("\r" + CLEAR_LINE)
    print(message, file=sys.stderr, flush=True)
    if live is not None:
        sys.stderr.write(live.text)
        sys.stderr.flush()
