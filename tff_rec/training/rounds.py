"""The round loop: sample clients, run `process.next`, hand the result to hooks.

`run_rounds` works with any `tff.learning.templates.LearningProcess` whose
`next` takes a list of client values (what `ClientSampler`'s data function
builds: `tf.data` datasets, or each client's arrays for a process that
batches them inside the round). Which execution context runs it is chosen
elsewhere (`tff_rec.runtime`). Everything optional is a hook
(`tff_rec.training.hooks`); checkpoints are a `CheckpointManager`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import tensorflow_federated as tff

from tff_rec import console
from tff_rec.training import checkpoint as checkpoint_lib
from tff_rec.training import hooks as hooks_lib
from tff_rec.training import sampling


@dataclasses.dataclass(frozen=True)
class RoundsOutcome:
    """What `run_rounds` returns.

    Attributes:
      state: the last state trained (of the last finite round, if training
        diverged).
      history: one row per round run by this call (``round`` first).
      stopped: why training stopped before the last round, if it did.
      diverged_round: the round whose state was not finite, if any.
    """

    state: Any
    history: list[dict[str, float]]
    stopped: str | None = None
    diverged_round: int | None = None


def _resume(state, sampler, hooks, checkpoints, rounds) -> tuple[Any, int]:
    """The state to start from and the rounds already done (0 for a new run)."""
    if checkpoints is None:
        return state, 0
    for path in checkpoints.remove_partial():
        console.announce(f"Checkpoint: removed {path}, left by an interrupted save")
    restored = checkpoints.load_latest(state)
    if restored is None:
        return state, 0
    sampler.set_state(restored.rng_state)
    for hook in hooks:
        if hook.state_key is not None:
            hook.set_state(restored.hook_states.get(hook.state_key))
    console.announce(
        f"Checkpoint: resuming from round {restored.round_num} of {rounds} "
        f"({checkpoints.path(restored.round_num)})"
    )
    return restored.state, restored.round_num


def run_rounds(
    process: tff.learning.templates.LearningProcess,
    sampler: sampling.ClientSampler,
    *,
    rounds: int,
    hooks: Sequence[hooks_lib.RoundHook] = (),
    checkpoints: checkpoint_lib.CheckpointManager | None = None,
) -> RoundsOutcome:
    """Runs rounds 1..`rounds` of `process` (resuming from `checkpoints`).

    Each round takes the sampler's next `sampling.Round`; unless it is
    aborted (too few clients reported; the state is kept) its clients' data,
    passed through every hook's `client_data`, goes to `process.next`. The
    round's row then holds the clients' training metrics (`hooks.
    round_metrics`), the client counts and ``round_seconds``; every hook's
    `after_round` sees it in order, and the round is checkpointed unless a
    hook found it diverged.

    Args:
      process: the learning process.
      sampler: draws each round's clients and builds their data.
      rounds: the last round.
      hooks: the optional parts, in order (see `tff_rec.training.hooks`).
      checkpoints: saves the state after rounds and, if it holds a
        checkpoint, the loop resumes from it (process state, sampler and
        stateful hooks restored).

    Returns:
      The `RoundsOutcome`: a resumed loop's history has the rounds after its
      checkpoint only.
    """
    state, done = _resume(process.initialize(), sampler, hooks, checkpoints, rounds)
    history = []
    for reason in (hook.start(done, rounds) for hook in hooks):
        if reason is not None:
            return RoundsOutcome(state, history, stopped=reason)
    result = None
    for round_ in sampler.rounds(done + 1, rounds):
        start = time.perf_counter()
        row: dict[str, float] = {}
        last_state = state
        if round_.aborted:
            console.announce(round_.abort_notice(sampler.min_clients))
        else:
            data = round_.client_data()
            for hook in hooks:
                data = hook.client_data(round_, data)
            output = process.next(state, data)
            state = output.state
            row.update(hooks_lib.round_metrics(output.metrics))
        row.update(round_.row(), round_seconds=time.perf_counter() - start)
        result = hooks_lib.RoundResult(
            round_.number, state, row, round_.clients, last=round_.number == rounds
        )
        for hook in hooks:
            hook.after_round(result)
        history.append({"round": round_.number, **row})
        if result.diverged:
            return RoundsOutcome(last_state, history, result.stop, round_.number)
        if checkpoints is not None and checkpoints.should_save(
            round_.number, last=result.final
        ):
            checkpoints.save(
                checkpoint_lib.RoundCheckpoint(
                    round_.number,
                    state,
                    round_.rng_state,
                    {h.state_key: h.get_state() for h in hooks if h.state_key},
                )
            )
        if result.stop is not None:
            break
    return RoundsOutcome(state, history, None if result is None else result.stop)
