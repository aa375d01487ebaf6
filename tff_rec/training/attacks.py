"""Simulated malicious clients whose poisoned updates go through aggregation.

A seeded fraction of the population is malicious for the whole run. A
malicious client trains like every other client, then replaces its model
update before sending it (its reported weight is unchanged):

* ``nan``: every coordinate is NaN (a crashed or corrupted client);
* ``scale``: the update times `DEFAULT_SCALE` (100), the explicit boosting of
  Bhagoji, Chakraborty, Mittal and Calo, "Analyzing Federated Learning through
  an Adversarial Lens", ICML 2019, arXiv:1811.12470;
* ``random``: every coordinate drawn from N(0, `DEFAULT_RANDOM_STDDEV`^2).

How the attack reaches the update. The poison is applied inside the learning
process, on the client, between local training and aggregation, so the
aggregator (and any robust wrapper) receives it like any other update:

* `attack_client_work` wraps a `tff.learning.templates.ClientWorkProcess`. Its
  client data is ``OrderedDict(data=<the client's batches>, attack=<a
  one-element dataset: OrderedDict(malicious=bool, seed=int64[2])>)``: TFF's
  client work accepts sequences only, so the client's flag travels as a
  one-element sequence next to its batches. The wrapped client work trains on
  ``data`` with the algorithm's own client work, then maps the update of a
  client flagged malicious. TFF's client work zeroes non-finite updates of
  honest clients; a malicious client skips that, so its NaN update reaches the
  aggregator.
* TFF 0.87's algorithm builders take no client-work argument, so
  `build_attacked_process` calls a builder while TFF's
  `compose_learning_process` is replaced by one that wraps the client work,
  and checks that the built process takes the attacked client data.
* `MaliciousClients` picks the malicious clients and builds each round's
  client data (`client_inputs`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from tensorflow_federated.python.learning.templates import composers

from tff_rec import errors
from tff_rec.training import hooks
from tff_rec.training import sampling

DEFAULT_SCALE = 100.0
DEFAULT_RANDOM_STDDEV = 1.0
# Streams of numpy SeedSequence([seed, stream, ...]), apart from client sampling.
_MALICIOUS_STREAM = 0x6D616C
_RANDOM_UPDATE_STREAM = 0x726E64


class AttackType(enum.Enum):
    """What a malicious client sends instead of its update."""

    NAN = "nan"
    SCALE = "scale"
    RANDOM = "random"


def _replacement_fn(attack: AttackType, scale: float, stddev: float):
    def replacement(tensors, seed):
        if attack is AttackType.NAN:
            return [tf.fill(tf.shape(t), tf.constant(np.nan, t.dtype)) for t in tensors]
        if attack is AttackType.SCALE:
            return [t * tf.constant(scale, t.dtype) for t in tensors]
        return [
            tf.random.stateless_normal(
                tf.shape(t),
                seed=tf.random.experimental.stateless_fold_in(seed, i),
                stddev=stddev,
                dtype=t.dtype,
            )
            for i, t in enumerate(tensors)
        ]

    return replacement


def attack_client_work(
    client_work: tff.learning.templates.ClientWorkProcess,
    attack: AttackType | str,
    *,
    scale: float | None = None,
    stddev: float | None = None,
) -> tff.learning.templates.ClientWorkProcess:
    """Wraps `client_work` so that clients flagged malicious poison their update.

    Args:
      client_work: the algorithm's client work.
      attack: what a malicious client sends (`AttackType` or its value).
      scale: the factor of ``scale``; None means `DEFAULT_SCALE`.
      stddev: the noise of ``random``; None means `DEFAULT_RANDOM_STDDEV`.

    Returns:
      A `ClientWorkProcess` with the same state, result and measurements whose
      client data is ``OrderedDict(data=..., attack=...)`` (module docstring).
    """
    attack = errors.parse_enum(AttackType, attack, "attack")
    scale = DEFAULT_SCALE if scale is None else float(scale)
    stddev = DEFAULT_RANDOM_STDDEV if stddev is None else float(stddev)
    return replace_updates(client_work, _replacement_fn(attack, scale, stddev))


def read_marker(marker: tf.data.Dataset) -> collections.OrderedDict:
    """The ``OrderedDict(malicious=, seed=)`` of a client's one-element marker."""
    return marker.reduce(
        collections.OrderedDict(
            malicious=tf.constant(False), seed=tf.zeros([2], tf.int64)
        ),
        lambda _, element: element,
    )


def replace_updates(
    client_work: tff.learning.templates.ClientWorkProcess,
    replacement: Callable[[list[tf.Tensor], tf.Tensor], list[tf.Tensor]],
) -> tff.learning.templates.ClientWorkProcess:
    """Wraps `client_work` so that flagged clients send another update.

    Args:
      client_work: the algorithm's client work.
      replacement: ``(update tensors, seed) -> tensors`` (TensorFlow code,
        the same shapes and dtypes): what a flagged client sends instead of
        its trained update; ``seed`` is the client's int64[2] marker seed.

    Returns:
      A `ClientWorkProcess` with the same state, result and measurements whose
      client data is ``OrderedDict(data=..., attack=...)`` (module docstring).
    """
    _, weights_type, data_type = client_work.next.type_signature.parameter
    update_type = client_work.next.type_signature.result.result.member.update
    marker_type = tff.SequenceType(
        tff.StructWithPythonType(
            [
                ("malicious", tff.TensorType(np.bool_)),
                ("seed", tff.TensorType(np.int64, [2])),
            ],
            collections.OrderedDict,
        )
    )
    client_data_type = tff.FederatedType(
        tff.StructWithPythonType(
            [("data", data_type.member), ("attack", marker_type)],
            collections.OrderedDict,
        ),
        tff.CLIENTS,
    )

    def poison(update, marker):
        flag = read_marker(marker)
        tensors = tf.nest.flatten(update)
        sent = tf.cond(
            flag["malicious"],
            lambda: replacement(tensors, flag["seed"]),
            lambda: tensors,
        )
        return tf.nest.pack_sequence_as(update, sent)

    poison = tff.tensorflow.computation(poison, update_type, marker_type)

    @tff.federated_computation(
        client_work.initialize.type_signature.result, weights_type, client_data_type
    )
    def next_fn(state, weights, client_data):
        output = client_work.next(state, weights, client_data.data)
        update = tff.federated_map(poison, (output.result.update, client_data.attack))
        result = tff.federated_zip(
            tff.learning.templates.ClientResult(
                update=update, update_weight=output.result.update_weight
            )
        )
        return tff.templates.MeasuredProcessOutput(
            state=output.state, result=result, measurements=output.measurements
        )

    return tff.learning.templates.ClientWorkProcess(
        client_work.initialize,
        next_fn,
        get_hparams_fn=client_work.get_hparams,
        set_hparams_fn=client_work.set_hparams,
    )


def _takes_attacked_data(process: tff.learning.templates.LearningProcess) -> bool:
    member = process.next.type_signature.parameter[1].member
    return isinstance(member, tff.StructType) and "attack" in dir(member)


@contextlib.contextmanager
def _composing_with(wrap) -> Iterator[None]:
    original = composers.compose_learning_process

    def compose(
        initial_model_weights_fn,
        model_weights_distributor,
        client_work,
        model_update_aggregator,
        model_finalizer,
    ):
        return original(
            initial_model_weights_fn,
            model_weights_distributor,
            wrap(client_work),
            model_update_aggregator,
            model_finalizer,
        )

    # TFF's builders call it through `composers`; code composing its own
    # process calls the public alias.
    bindings = (composers, tff.learning.templates)
    for module in bindings:
        module.compose_learning_process = compose
    try:
        yield
    finally:
        for module in bindings:
            module.compose_learning_process = original


def build_attacked_process(
    build_fn: Callable[[], tff.learning.templates.LearningProcess],
    attack: AttackType | str,
    *,
    scale: float | None = None,
    stddev: float | None = None,
) -> tff.learning.templates.LearningProcess:
    """Builds a learning process whose malicious clients poison their updates.

    Args:
      build_fn: builds the process (e.g. ``lambda: build_fed_recon(...)``); it
        must compose it with TFF's `compose_learning_process`, as TFF's
        FedAvg and reconstruction builders do.
      attack, scale, stddev: as for `attack_client_work`.

    Returns:
      The process, whose `next` takes `MaliciousClients.client_inputs`.

    Raises:
      TypeError: if `build_fn` did not compose its process with TFF's
        `compose_learning_process`, so the attack could not be installed.
    """
    return build_replacing_process(
        build_fn,
        lambda work: attack_client_work(work, attack, scale=scale, stddev=stddev),
    )


def build_replacing_process(
    build_fn: Callable[[], tff.learning.templates.LearningProcess],
    wrap: Callable[
        [tff.learning.templates.ClientWorkProcess],
        tff.learning.templates.ClientWorkProcess,
    ],
) -> tff.learning.templates.LearningProcess:
    """Builds a process whose client work is wrapped by `wrap`
    (`attack_client_work`, or `replace_updates` with another replacement).

    Raises:
      TypeError: as `build_attacked_process`.
    """
    with _composing_with(wrap):
        process = build_fn()
    if not _takes_attacked_data(process):
        raise TypeError(
            "the process was not built with tff.learning.templates."
            "compose_learning_process, so its client work could not be attacked"
        )
    return process


@dataclasses.dataclass(frozen=True, eq=False)
class MaliciousClients(hooks.RoundHook):
    """The malicious clients of a run, fixed for the whole run.

    As a round-loop hook it turns each round's client data into the attacked
    process's (`client_inputs`) and counts ``clients_malicious`` per row.

    Attributes:
      indices: sorted client indices of the malicious clients.
      num_clients: the population.
      seed: seeds the malicious clients' random updates.
    """

    indices: np.ndarray
    num_clients: int
    seed: int = 0

    @classmethod
    def sample(cls, num_clients: int, fraction: float, seed: int) -> MaliciousClients:
        """Draws ``round(fraction * num_clients)`` (at least one) clients.

        Args:
          num_clients: the population.
          fraction: in (0, 1).
          seed: the run seed (the draw uses its own stream of it).

        Raises:
          UserInputError: if `fraction` is not in (0, 1).
        """
        if not 0 < fraction < 1:
            raise errors.UserInputError(
                f"malicious_fraction must be in (0, 1), got {fraction}"
            )
        count = max(1, int(round(fraction * num_clients)))
        rng = np.random.default_rng([seed, _MALICIOUS_STREAM])
        indices = np.sort(rng.choice(num_clients, size=count, replace=False))
        return cls(indices=indices, num_clients=num_clients, seed=seed)

    def is_malicious(self, clients: Sequence[int]) -> np.ndarray:
        """Boolean mask: which of `clients` are malicious."""
        return np.isin(np.asarray(clients), self.indices)

    def client_inputs(
        self,
        datasets: Sequence[tf.data.Dataset],
        clients: Sequence[int],
        round_num: int,
    ) -> list[collections.OrderedDict]:
        """The client data of an attacked process for one round.

        Args:
          datasets: the clients' preprocessed datasets.
          clients: their client indices, in the same order.
          round_num: the round (seeds the random updates).

        Returns:
          One ``OrderedDict(data=..., attack=...)`` per client.
        """
        flags = self.is_malicious(clients)
        inputs = []
        for dataset, client, flag in zip(datasets, clients, flags, strict=True):
            seed = np.random.default_rng(
                [self.seed, _RANDOM_UPDATE_STREAM, round_num, int(client)]
            ).integers(0, 2**62, size=2, dtype=np.int64)
            marker = tf.data.Dataset.from_tensors(
                collections.OrderedDict(malicious=np.bool_(flag), seed=seed)
            )
            inputs.append(collections.OrderedDict(data=dataset, attack=marker))
        return inputs

    def client_data(self, round_: sampling.Round, data: list) -> list:
        return self.client_inputs(data, round_.clients, round_.number)

    def after_round(self, result: hooks.RoundResult) -> None:
        result.row["clients_malicious"] = int(self.is_malicious(result.clients).sum())
