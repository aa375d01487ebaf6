"""Checkpoints of a training run, so that a killed run resumes where it stopped.

A checkpoint is one version of a `tff.program.FileProgramStateManager`,
numbered by the round it follows, holding everything the round loop needs to
continue exactly as if it had not stopped:

* ``state``: the learning process state (model, optimizer and aggregator
  states, DP clip included);
* ``round_num``: the last round completed;
* ``rng_state``: the client-sampling `numpy.random.Generator`'s
  ``bit_generator.state``, as JSON;
* ``hook_states``: the states of the round loop's stateful hooks by name
  (the privacy budget's accountant), as JSON.

Everything else a round draws (local shuffles, dropouts, the malicious
clients and their random updates) is seeded from the run seed and the round
number, so it needs no state.

`FileProgramStateManager` writes a version to ``program_state_<N>_temp<k>``
and renames it to ``program_state_<N>`` when complete: a folder with the final
name is always whole. A run killed mid-save leaves the temporary folder;
`CheckpointManager.remove_partial` deletes such folders.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import pathlib
import re
import shutil
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow_federated as tff
from absl import logging as absl_logging

from tff_rec import errors

DEFAULT_EVERY = 1
DEFAULT_KEEP_TOTAL = 2
PREFIX = "program_state_"
_PARTIAL = re.compile(rf"^{PREFIX}\d+_temp\d*$")


@dataclasses.dataclass(frozen=True)
class RoundCheckpoint:
    """What the round loop saves after a round.

    Attributes:
      round_num: the last round completed (>= 1).
      state: the learning process state after that round.
      rng_state: the client-sampling generator's ``bit_generator.state``.
      hook_states: the states of the round loop's stateful hooks, by their
        `state_key` (see `tff_rec.training.hooks.RoundHook`).
    """

    round_num: int
    state: Any
    rng_state: Mapping[str, Any]
    hook_states: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class CheckpointManager:
    """Saves and restores `RoundCheckpoint`s in a folder.

    Args:
      root_dir: the checkpoint folder (created on the first save).
      every: save after every `every`-th round (and after the last round the
        loop runs); None means `DEFAULT_EVERY`.
      keep_total: complete checkpoints kept, newest first; None means
        `DEFAULT_KEEP_TOTAL`.

    Raises:
      ValueError: if `every` or `keep_total` is below 1.
    """

    def __init__(
        self,
        root_dir: str | pathlib.Path,
        *,
        every: int | None = None,
        keep_total: int | None = None,
    ):
        every = DEFAULT_EVERY if every is None else every
        keep_total = DEFAULT_KEEP_TOTAL if keep_total is None else keep_total
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if keep_total < 1:
            raise ValueError(f"keep_total must be >= 1, got {keep_total}")
        self._root = pathlib.Path(root_dir)
        self._every = int(every)
        self._keep_total = int(keep_total)

    @property
    def root_dir(self) -> pathlib.Path:
        return self._root

    @property
    def every(self) -> int:
        return self._every

    def _manager(self) -> tff.program.FileProgramStateManager:
        return tff.program.FileProgramStateManager(
            str(self._root),
            prefix=PREFIX,
            keep_total=self._keep_total,
            keep_first=False,
        )

    def path(self, round_num: int) -> pathlib.Path:
        """The folder of the checkpoint after `round_num`."""
        return self._root / f"{PREFIX}{round_num}"

    def remove_partial(self) -> list[pathlib.Path]:
        """Deletes the temporary folders of interrupted saves; returns them."""
        if not self._root.is_dir():
            return []
        partial = sorted(p for p in self._root.iterdir() if _PARTIAL.match(p.name))
        for path in partial:
            shutil.rmtree(path, ignore_errors=True)
        return partial

    def rounds(self) -> list[int]:
        """The rounds of the complete checkpoints, oldest first."""
        if not self._root.is_dir():
            return []
        versions = _run(self._manager().get_versions())
        return list(versions or [])

    def latest_round(self) -> int:
        """The round of the newest complete checkpoint; 0 if there is none."""
        rounds = self.rounds()
        return rounds[-1] if rounds else 0

    def should_save(self, round_num: int, *, last: bool = False) -> bool:
        """Whether the loop saves after `round_num` (`last`: its final round)."""
        return last or round_num % self._every == 0

    def save(self, checkpoint: RoundCheckpoint) -> pathlib.Path:
        """Saves `checkpoint` as version ``checkpoint.round_num``; returns its path.

        Older checkpoints beyond `keep_total` are deleted.
        """
        payload = collections.OrderedDict(
            state=checkpoint.state,
            round_num=np.int64(checkpoint.round_num),
            rng_state=json.dumps(checkpoint.rng_state),
            hook_states=json.dumps(dict(checkpoint.hook_states)),
        )
        with _quiet_logs():
            _run(self._manager().save(payload, int(checkpoint.round_num)))
        return self.path(checkpoint.round_num)

    def load_latest(self, state_structure: Any) -> RoundCheckpoint | None:
        """The newest complete checkpoint, or None if there is none.

        Args:
          state_structure: a learning process state of the same process (e.g.
            ``process.initialize()``), giving the structure to restore.
        """
        if not self.rounds():
            return None
        structure = collections.OrderedDict(
            state=state_structure,
            round_num=np.int64(0),
            rng_state="",
            hook_states="",
        )
        try:
            with _quiet_logs():
                loaded, _ = _run(self._manager().load_latest(structure))
        except (ValueError, TypeError, KeyError) as e:
            raise errors.UserInputError(
                f"the checkpoints in {self._root} do not hold this run's state "
                f"({type(e).__name__}); they were written by another version or "
                "process: pass --fresh to start over"
            ) from None
        if loaded is None:
            return None
        return RoundCheckpoint(
            round_num=int(loaded["round_num"]),
            state=loaded["state"],
            rng_state=json.loads(_text(loaded["rng_state"])),
            hook_states=json.loads(_text(loaded["hook_states"])),
        )

    def remove_all(self) -> None:
        """Deletes the checkpoint folder and everything in it."""
        shutil.rmtree(self._root, ignore_errors=True)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Silences the INFO lines of SavedModel writing and TFF's state manager."""
    tf_logger = logging.getLogger("tensorflow")
    tf_level, absl_level = tf_logger.level, absl_logging.get_verbosity()
    tf_logger.setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)
    try:
        yield
    finally:
        tf_logger.setLevel(tf_level)
        absl_logging.set_verbosity(absl_level)


def _run(coroutine):
    """Runs a coroutine to completion, also when called from an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.item()
    return value.decode() if isinstance(value, bytes) else str(value)
