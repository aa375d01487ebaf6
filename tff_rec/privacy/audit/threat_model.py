"""Who sees what: the parties of a federated run and what each receives.

The audit's attacks are each run as one party, and may read only what that
party receives under the run's configuration (`visible`, enforced by
`tff_rec.privacy.audit.observations.Observations`):

* the **server** (the aggregator) runs the rounds: it holds every broadcast
  model and receives each sampled client's message, or, with secure
  aggregation, only the cohort's sum (plus, with sparse rows, each
  message's row indices, which travel in the clear).
* the **model holder** is anyone holding the released model or its
  SavedModel.
* **other clients** receive every round's broadcast model.
* a **network observer** sees the sizes of the messages (their contents are
  encrypted by the transport, which a deployment must provide: TFF does not).

The initial model is drawn from the run's seed, without data, so every party
but the network observer can recompute it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


class Party(enum.Enum):
    """Who attacks."""

    SERVER = "server"
    MODEL_HOLDER = "model_holder"
    OTHER_CLIENTS = "other_clients"
    NETWORK_OBSERVER = "network_observer"


class Observation(enum.Enum):
    """A tensor a party may receive."""

    CLIENT_UPLOAD = "client_upload"
    """One client's message, decoded: its (encoded, clipped) update."""
    CLIENT_ROW_INDICES = "client_row_indices"
    """The rows a sparse message carries (rated items, plus decoys)."""
    SECURE_SUM = "secure_sum"
    """The sum of the cohort's decoded messages (all the server learns from
    them under secure aggregation)."""
    BROADCAST = "broadcast"
    """The model a round starts from."""
    INITIAL_MODEL = "initial_model"
    """The model before training (a function of the seed)."""
    RELEASED_MODEL = "released_model"
    """The trained model (DP-noised when the run is private)."""
    MESSAGE_BYTES = "message_bytes"
    """The size of each client's message."""


@dataclasses.dataclass(frozen=True)
class Configuration:
    """A privacy-relevant way to run, as the audit names it.

    Attributes:
      name: the audit's name for it (``audit.json``'s ``config``).
      description: in words.
      settings: the run settings it sets (`TrainConfig.make` names).
    """

    name: str
    description: str
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def secure(self) -> bool:
        return bool(self.settings.get("secure_aggregation", False))

    @property
    def sparse_rows(self) -> bool:
        return bool(self.settings.get("sparse_item_updates", False))

    @property
    def is_dp(self) -> bool:
        return self.settings.get("aggregator", "mean") != "mean"


def _dp(aggregator: str, **more) -> dict[str, Any]:
    return {"aggregator": aggregator, **more}


DEFAULT_DECOYS = (10, 100, 500)
SECURE_COHORTS = (1, 10, 50, 100)

CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration("mean", "plain mean, float32 updates"),
    Configuration(
        "quantized_8bit", "updates quantized to 8 bits", {"quantize_bits": 8}
    ),
    Configuration(
        "topk_10pct", "top 10% of each update tensor", {"topk_fraction": 0.1}
    ),
    Configuration(
        "sparse_rows", "only the touched item rows", {"sparse_item_updates": True}
    ),
    *(
        Configuration(
            f"sparse_rows_decoys{d}_secure",
            f"touched rows plus {d} decoy rows, values securely summed",
            {"sparse_item_updates": True, "decoy_rows": d, "secure_aggregation": True},
        )
        for d in DEFAULT_DECOYS
    ),
    Configuration(
        "secure_aggregation",
        "secure summation of updates",
        {"secure_aggregation": True},
    ),
    Configuration(
        "dp_gaussian_fixed",
        "central DP, Gaussian noise, fixed L2 clip",
        _dp("dp_gaussian_fixed"),
    ),
    Configuration(
        "dp_gaussian_adaptive",
        "central DP, Gaussian noise, adaptive L2 clip",
        _dp("dp_gaussian_adaptive"),
    ),
    Configuration(
        "dp_laplace", "central DP, Laplace noise, L1 clip", _dp("dp_laplace")
    ),
    Configuration(
        "dp_gaussian_fixed_secure",
        "central DP (fixed clip) over a secure sum",
        _dp("dp_gaussian_fixed", secure_aggregation=True),
    ),
)


def configuration(name: str) -> Configuration:
    """The configuration named `name`."""
    for config in CONFIGURATIONS:
        if config.name == name:
            return config
    raise KeyError(
        f"unknown audit configuration {name!r}; known: "
        + ", ".join(c.name for c in CONFIGURATIONS)
    )


def visible(party: Party, config: Configuration) -> frozenset[Observation]:
    """What `party` receives in a run configured as `config`."""
    if party is Party.NETWORK_OBSERVER:
        return frozenset({Observation.MESSAGE_BYTES})
    public = {Observation.INITIAL_MODEL, Observation.RELEASED_MODEL}
    if party is Party.MODEL_HOLDER:
        return frozenset(public)
    if party is Party.OTHER_CLIENTS:
        return frozenset(public | {Observation.BROADCAST})
    seen = public | {Observation.BROADCAST, Observation.MESSAGE_BYTES}
    if config.sparse_rows:
        seen.add(Observation.CLIENT_ROW_INDICES)
    seen.add(Observation.SECURE_SUM)
    if not config.secure:
        seen.add(Observation.CLIENT_UPLOAD)
    return frozenset(seen)
