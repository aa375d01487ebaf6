"""What an attack may read: the tensors its party receives, and no others.

An attack gets an `Observations`, which hands out only the tensors that
`tff_rec.privacy.audit.threat_model.visible` grants its party under the
run's configuration, and records which ones it read (``audit.json`` lists
them per row). Reading anything else raises `NotVisibleError`: an attack
cannot use more than its attacker has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tff_rec.privacy.audit import threat_model

Observation = threat_model.Observation


class NotVisibleError(LookupError):
    """An attack asked for a tensor its party does not receive."""


class Observations:
    """The tensors a party receives.

    Args:
      party: who attacks.
      config: the configuration of the run.
      tensors: every tensor the harness has (by `Observation`); only the
        visible ones can be read.
    """

    def __init__(
        self,
        party: threat_model.Party,
        config: threat_model.Configuration,
        tensors: Mapping[Observation, Any],
    ):
        self.party = party
        self.config = config
        self._granted = threat_model.visible(party, config)
        self._tensors = dict(tensors)
        self._read: set[Observation] = set()

    def has(self, name: Observation) -> bool:
        """Whether `name` is visible to the party and was provided."""
        return name in self._granted and name in self._tensors

    def __getitem__(self, name: Observation) -> Any:
        if name not in self._granted:
            raise NotVisibleError(
                f"{self.party.value} does not receive {name.value} under "
                f"configuration {self.config.name!r}"
            )
        if name not in self._tensors:
            raise KeyError(f"{name.value} was not recorded for this attack")
        self._read.add(name)
        return self._tensors[name]

    @property
    def read(self) -> tuple[str, ...]:
        """The tensors read so far, sorted by name."""
        return tuple(sorted(o.value for o in self._read))
