"""An in-process TFF execution context: no worker process, no gRPC, GPU-capable.

`InProcessContext` is a `tff.framework.SyncContext`: once installed
(`set_inprocess_execution_context`), invoking a TFF computation runs it here:

* a learning process's ``next`` (any ``(state@SERVER, data@CLIENTS) ->
  <@SERVER, @SERVER>`` computation with a MapReduce form: FedAvg,
  reconstruction, DP, secure and compressing aggregators) runs through
  `tff_rec.runtime.mapreduce.MapReduceRunner`, many clients per graph run;
* ``initialize`` (a no-argument computation placed at the server) and plain
  TensorFlow computations (``get_model_weights``...) run as one imported graph;
* anything else is handed to a fallback context, by default TFF's C++ runtime
  with a worker this process owns (`tff_rec.runtime.local_cpp`), started only
  if such a computation is ever invoked.

TensorFlow places the graphs on a GPU when one is visible, like any
`tf.compat.v1.Session`. Results match TFF's C++ runtime to float32 rounding
(the tests compare 5 rounds of each kind of process to 1e-5).

Example:
    from tff_rec.runtime import inprocess

    inprocess.set_inprocess_execution_context()
    state = process.initialize()
    output = process.next(state, client_datasets)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import tensorflow as tf
import tensorflow_federated as tff
from absl import logging
from tensorflow_federated.python.core.backends.mapreduce import (
    compiler as mapreduce_compiler,
)
from tensorflow_federated.python.core.impl.types import type_conversions

from tff_rec.runtime import graphs
from tff_rec.runtime import mapreduce

FallbackFn = Callable[[], tff.framework.SyncContext]


def flatten_value(value: object, type_spec: tff.Type) -> list:
    """The leaves of `value` in the order of `type_spec` (TFF's binding order).

    Tensors become numpy values; datasets stay datasets. A value placed at
    the clients is a list with one member per client: its leaves are a list of
    per-client leaf lists.

    Raises:
      TypeError: if `value` does not match `type_spec`.
    """
    if isinstance(type_spec, tff.FederatedType):
        if type_spec.placement is tff.CLIENTS and not type_spec.all_equal:
            if not isinstance(value, (list, tuple)):
                raise TypeError(
                    f"expected a list of client values for {type_spec}, got "
                    f"{type(value).__name__}"
                )
            return [[flatten_value(v, type_spec.member) for v in value]]
        return flatten_value(value, type_spec.member)
    if isinstance(type_spec, tff.StructType):
        if not isinstance(value, tff.structure.Struct):
            value = tff.structure.from_container(value)
        elements = tff.structure.to_elements(value)
        if len(elements) != len(type_spec):
            raise TypeError(
                f"expected {len(type_spec)} elements for {type_spec}, got "
                f"{len(elements)}"
            )
        names = dict(elements)
        leaves = []
        for (name, element_type), (_, element) in zip(
            tff.structure.iter_elements(type_spec), elements, strict=True
        ):
            if name is not None and name in names:
                element = names[name]
            leaves.extend(flatten_value(element, element_type))
        return leaves
    if isinstance(type_spec, tff.SequenceType):
        if not isinstance(value, tf.data.Dataset):
            raise TypeError(
                f"expected a tf.data.Dataset for {type_spec}, got "
                f"{type(value).__name__}"
            )
        return [value]
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    return [value]


def unflatten_value(leaves: list, type_spec: tff.Type) -> object:
    """Inverse of `flatten_value` for results: Python containers of numpy."""
    position = 0

    def build(t):
        nonlocal position
        if isinstance(t, tff.FederatedType):
            return build(t.member)
        if isinstance(t, tff.StructType):
            return tff.structure.Struct(
                [
                    (name, build(element))
                    for name, element in tff.structure.iter_elements(t)
                ]
            )
        leaf = leaves[position]
        position += 1
        return leaf

    struct = build(type_spec)
    if position != len(leaves):
        raise ValueError(f"{len(leaves)} leaves for a type with {position}")
    return type_conversions.type_to_py_container(struct, type_spec)


def _is_round_computation(type_signature: tff.FunctionType) -> bool:
    parameter, result = type_signature.parameter, type_signature.result
    if not isinstance(parameter, tff.StructType) or len(parameter) != 2:
        return False
    state, data = parameter
    return (
        isinstance(state, tff.FederatedType)
        and state.placement is tff.SERVER
        and isinstance(data, tff.FederatedType)
        and data.placement is tff.CLIENTS
        and isinstance(result, tff.StructType)
        and all(
            isinstance(r, tff.FederatedType) and r.placement is tff.SERVER
            for r in result
        )
    )


class _RoundRunner:
    def __init__(self, comp, max_slots, log_device_placement):
        self._type = comp.type_signature
        self._runner = mapreduce.MapReduceRunner(
            comp, max_slots=max_slots, log_device_placement=log_device_placement
        )

    @property
    def devices_used(self) -> set[str]:
        return self._runner.devices_used

    def __call__(self, arg):
        state_type, data_type = self._type.parameter
        if not isinstance(arg, tff.structure.Struct):
            arg = tff.structure.from_container(arg)
        (_, state), (_, data) = tff.structure.to_elements(arg)
        (clients,) = flatten_value(data, data_type)
        leaves = self._runner(flatten_value(state, state_type), clients)
        return unflatten_value(leaves, self._type.result)


class _GraphRunner:
    """Runs TensorFlow computation `comp`; arguments and results follow
    `type_signature` (by default `comp`'s own)."""

    def __init__(self, comp, log_device_placement, type_signature=None):
        self._type = comp.type_signature if type_signature is None else type_signature
        self._runner = graphs.GraphRunner(
            graphs.load(comp), log_device_placement=log_device_placement
        )

    def __call__(self, arg):
        leaves = (
            []
            if self._type.parameter is None
            else flatten_value(arg, self._type.parameter)
        )
        return unflatten_value(self._runner(leaves), self._type.result)


class InProcessContext(tff.framework.SyncContext):
    """Runs TFF computations in this process (see the module docstring).

    Args:
      max_slots: most clients trained by one graph run (a power of two).
        Larger values run more clients in parallel and take longer to build
        the first time.
      fallback_fn: builds the context for computations this runtime does not
        run; None means TFF's C++ runtime with an owned local worker.
      log_device_placement: log the device of every op (to check GPU use).
    """

    def __init__(
        self,
        *,
        max_slots: int = mapreduce.DEFAULT_MAX_SLOTS,
        fallback_fn: FallbackFn | None = None,
        log_device_placement: bool = False,
    ):
        self._max_slots = max_slots
        self._fallback_fn = fallback_fn
        self._fallback = None
        self._log = log_device_placement
        self._runners: dict[int, tuple[object, Callable]] = {}
        self._lock = threading.Lock()

    def _runner(self, comp) -> Callable | None:
        key = id(comp)
        with self._lock:
            if key in self._runners:
                return self._runners[key][1]
            runner = self._build_runner(comp)
            # Holding `comp` keeps its id from being reused.
            self._runners[key] = (comp, runner)
            return runner

    def _build_runner(self, comp) -> Callable | None:
        type_signature = comp.type_signature
        proto = comp.to_building_block().proto
        if proto.WhichOneof("computation") == "tensorflow":
            return _GraphRunner(comp, self._log)
        if _is_round_computation(type_signature):
            try:
                return _RoundRunner(comp, self._max_slots, self._log)
            except (
                TypeError,
                ValueError,
                mapreduce_compiler.MapReduceFormCompilationError,
            ) as e:
                logging.warning("No MapReduce form (%s); using the fallback.", e)
                return None
        result = type_signature.result
        if (
            type_signature.parameter is None
            and isinstance(result, tff.FederatedType)
            and result.placement is tff.SERVER
        ):
            # Compilation drops the result's Python containers: results are
            # built for `comp`'s own type.
            return _GraphRunner(
                tff.backends.mapreduce.get_state_initialization_computation(comp),
                self._log,
                type_signature,
            )
        return None

    def devices_used(self) -> set[str]:
        """Devices that ran client work so far; filled only when the context
        was created with ``log_device_placement=True``."""
        with self._lock:
            runners = [runner for _, runner in self._runners.values()]
        return set().union(
            *(r.devices_used for r in runners if isinstance(r, _RoundRunner))
        )

    def invoke(self, comp, arg):
        runner = self._runner(comp)
        if runner is None:
            return self._fallback_context().invoke(comp, arg)
        return runner(arg)

    def _fallback_context(self) -> tff.framework.SyncContext:
        if self._fallback is None:
            if self._fallback_fn is None:
                from tff_rec.runtime import local_cpp

                self._fallback = local_cpp.create_local_cpp_execution_context()
            else:
                self._fallback = self._fallback_fn()
        return self._fallback


def create_inprocess_execution_context(**kwargs) -> InProcessContext:
    """An `InProcessContext`; keyword arguments as for its constructor."""
    return InProcessContext(**kwargs)


def set_inprocess_execution_context(**kwargs) -> InProcessContext:
    """Installs an `InProcessContext` as TFF's default context and returns it.

    Like TFF's, the default context is per thread: call this in the thread
    that invokes computations. A worker that TFF's own default context had
    started is stopped.
    """
    from tff_rec.runtime import local_cpp

    context = create_inprocess_execution_context(**kwargs)
    local_cpp.install_stopping_tff_worker(context)
    return context


__all__ = [
    "InProcessContext",
    "create_inprocess_execution_context",
    "flatten_value",
    "set_inprocess_execution_context",
    "unflatten_value",
]
