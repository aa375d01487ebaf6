"""Runs one round of a TFF computation through its `MapReduceForm`, in-process.

`tff.backends.mapreduce.get_map_reduce_form_for_computation` compiles a
``(state@SERVER, data@CLIENTS) -> <state@SERVER, metrics@SERVER>`` computation
(a learning process's ``next``, with plain, DP, secure or compressing
aggregators) into TensorFlow parts with fixed roles. A round is:

    broadcast = prepare(state)
    acc = zero()
    for each client: acc = accumulate(acc, work(data, broadcast).update)
    aggregate = report(acc)           # plus the three secure sums of work's
    state, metrics = update(state, (aggregate, secure sums))   # other outputs

TFF's C++ runtime does the same, one gRPC call per client. Here the clients of
a round run in chunks: one `tf.Graph` holds ``slots`` copies of ``work`` (each
with its own variables, so its own copy of the model) chained through
``accumulate``, and a single `tf.compat.v1.Session.run` trains them all, so
TensorFlow runs the copies in parallel on its thread pool (or GPU). Chunk
graphs are built for powers of two up to `max_slots`, and a round of ``n``
clients runs as the binary decomposition of ``n``, so a handful of graphs
serve any number of clients. The accumulator is carried from chunk to chunk,
so clients are accumulated in the same order as by TFF; the serialized
datasets of the next chunk are prepared while the current one trains.

Secure sums (``federated_secure_sum_bitwidth``, ``federated_secure_sum``,
``federated_secure_modular_sum``) are computed in the clear, as TFF's
simulation of secure aggregation does.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import verbosity
from tff_rec.runtime import dataset_graphs
from tff_rec.runtime import graphs

DEFAULT_MAX_SLOTS = 8


def _leaf_types(type_spec: tff.Type) -> list[tff.Type]:
    """The non-struct leaves of `type_spec` (members of federated types)."""
    if isinstance(type_spec, tff.StructType):
        return [leaf for t in type_spec for leaf in _leaf_types(t)]
    if isinstance(type_spec, tff.FederatedType):
        return _leaf_types(type_spec.member)
    return [type_spec]


def _tensor_specs(type_spec: tff.Type) -> list[tff.TensorType]:
    leaves = _leaf_types(type_spec)
    for leaf in leaves:
        if not isinstance(leaf, tff.TensorType):
            raise TypeError(f"expected tensors, found {leaf}")
    return leaves


def chunk_sizes(num_clients: int, max_slots: int) -> list[int]:
    """Splits `num_clients` into chunks of `max_slots`, then powers of two."""
    sizes = [max_slots] * (num_clients // max_slots)
    rest = num_clients % max_slots
    bit = 1 << max(0, max_slots.bit_length() - 1)
    while rest:
        if rest >= bit:
            sizes.append(bit)
            rest -= bit
        bit >>= 1
    return sizes


class _WorkChunk:
    """``slots`` copies of ``work`` chained through ``accumulate``, one graph."""

    def __init__(
        self,
        form,
        work: graphs.Computation,
        accumulate: graphs.Computation,
        slots: int,
        num_data: int,
        log_device_placement: bool,
    ):
        group_sizes = [len(_leaf_types(t)) for t in form.work.type_signature.result]
        accumulator_specs = _tensor_specs(form.zero.type_signature.result)
        num_acc = len(accumulator_specs)
        self._graph = tf.Graph()
        with self._graph.as_default():
            self.accumulator = tuple(
                tf.compat.v1.placeholder(t.dtype, t.shape) for t in accumulator_specs
            )
            self.broadcast = None
            self.data: list[tuple[tf.Tensor, ...]] = []
            init_ops = []
            acc = list(self.accumulator)
            secure = [[] for _ in group_sizes[1:]]
            for slot in range(slots):
                input_map = {}
                if self.broadcast is not None:
                    for j, tensor in enumerate(self.broadcast):
                        input_map[num_data + j] = tensor
                client = graphs.import_computation(work, f"work_{slot}", input_map)
                if self.broadcast is None:
                    self.broadcast = client.inputs[num_data:]
                self.data.append(client.inputs[:num_data])
                if client.init_op is not None:
                    init_ops.append(client.init_op)
                outputs = list(client.outputs)
                update, start = outputs[: group_sizes[0]], group_sizes[0]
                for g, size in enumerate(group_sizes[1:]):
                    secure[g].append(outputs[start : start + size])
                    start += size
                acc_map = {i: t for i, t in enumerate(acc)}
                acc_map.update({num_acc + i: t for i, t in enumerate(update)})
                step = graphs.import_computation(
                    accumulate, f"accumulate_{slot}", acc_map
                )
                if step.init_op is not None:
                    init_ops.append(step.init_op)
                acc = list(step.outputs)
            self.fetch_accumulator = acc
            self.fetch_secure = [
                [tf.add_n(list(leaves)) for leaves in zip(*group, strict=True)]
                for group in secure
            ]
            self.init_ops = init_ops
        self._session = tf.compat.v1.Session(
            graph=self._graph,
            config=graphs.session_config(
                log_device_placement=log_device_placement, parallel_copies=True
            ),
        )
        self._trace = log_device_placement
        self.devices_used: set[str] = set()

    def run(self, accumulator, broadcast, client_leaves):
        feed = dict(zip(self.accumulator, accumulator, strict=True))
        feed.update(zip(self.broadcast, broadcast, strict=True))
        for tensors, leaves in zip(self.data, client_leaves, strict=True):
            feed.update(zip(tensors, leaves, strict=True))
        if self.init_ops:
            self._session.run(self.init_ops, feed_dict=feed)
        if not self._trace:
            return self._session.run(
                (self.fetch_accumulator, self.fetch_secure), feed_dict=feed
            )
        metadata = tf.compat.v1.RunMetadata()
        result = self._session.run(
            (self.fetch_accumulator, self.fetch_secure),
            feed_dict=feed,
            options=tf.compat.v1.RunOptions(
                trace_level=tf.compat.v1.RunOptions.SOFTWARE_TRACE
            ),
            run_metadata=metadata,
        )
        self.devices_used.update(
            stats.device for stats in metadata.step_stats.dev_stats if stats.node_stats
        )
        return result

    def close(self):
        self._session.close()


class MapReduceRunner:
    """Runs rounds of a computation compiled to `tff.backends.mapreduce.MapReduceForm`.

    Args:
      comp: a ``(state@SERVER, data@CLIENTS) -> <...@SERVER, ...@SERVER>``
        computation, such as `LearningProcess.next`.
      max_slots: most clients trained by one graph run; a power of two.
      log_device_placement: log where TensorFlow places each op, and record
        the devices that ran the clients' work (`devices_used`).

    Raises:
      tff.backends.mapreduce.MapReduceFormCompilationError, TypeError: if
        `comp` has no MapReduce form.
    """

    def __init__(
        self,
        comp: tff.framework.ConcreteComputation,
        *,
        max_slots: int = DEFAULT_MAX_SLOTS,
        log_device_placement: bool = False,
    ):
        if max_slots < 1 or max_slots & (max_slots - 1):
            raise ValueError(f"max_slots={max_slots} is not a power of two")
        # Grappler reports parts with nothing to fetch as errors (TFF keeps
        # them unoptimized): known noise.
        with verbosity.filter_known_noise():
            self.form = tff.backends.mapreduce.get_map_reduce_form_for_computation(comp)
        self._max_slots = max_slots
        self._log = log_device_placement
        form = self.form
        self._prepare = graphs.GraphRunner(
            graphs.load(form.prepare), log_device_placement=self._log
        )
        self._report = graphs.GraphRunner(
            graphs.load(form.report), log_device_placement=self._log
        )
        self._update = graphs.GraphRunner(
            graphs.load(form.update), log_device_placement=self._log
        )
        self._zero = graphs.GraphRunner(graphs.load(form.zero))([])
        modulus = graphs.GraphRunner(graphs.load(form.secure_modular_sum_modulus))([])
        self._modulus = [np.asarray(m) for m in modulus]
        # Parsed once: every chunk graph imports copies of these.
        self._work = graphs.load(form.work)
        self._accumulate = graphs.load(form.accumulate)
        self._num_data = len(_leaf_types(form.work.type_signature.parameter[0]))
        self._secure_specs = [
            _tensor_specs(t) for t in list(form.work.type_signature.result)[1:]
        ]
        self._chunks: dict[int, _WorkChunk] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    @property
    def devices_used(self) -> set[str]:
        """Devices that ran client work (recorded with `log_device_placement`)."""
        return set().union(*(c.devices_used for c in self._chunks.values()))

    def _chunk(self, slots: int) -> _WorkChunk:
        if slots not in self._chunks:
            self._chunks[slots] = _WorkChunk(
                self.form,
                self._work,
                self._accumulate,
                slots,
                self._num_data,
                self._log,
            )
        return self._chunks[slots]

    def __call__(
        self, state_leaves: Sequence[object], client_leaves: Sequence[Sequence[object]]
    ) -> list:
        """One round: state leaves and each client's data leaves -> result leaves."""
        broadcast = self._prepare(state_leaves)
        accumulator = list(self._zero)
        secure = [
            [np.zeros(t.shape, t.dtype) for t in specs] for specs in self._secure_specs
        ]
        sizes = chunk_sizes(len(client_leaves), self._max_slots)
        bounds = np.cumsum([0, *sizes])

        # A client's data leaves come first among work's parameters.
        sequences = self._work.sequence_parameters

        def prepare(k):
            lo, hi = bounds[k], bounds[k + 1]
            return [
                dataset_graphs.serialize_sequences(c, sequences)
                for c in client_leaves[lo:hi]
            ]

        pending = self._pool.submit(prepare, 0) if sizes else None
        for k, size in enumerate(sizes):
            inputs = pending.result()
            if k + 1 < len(sizes):
                pending = self._pool.submit(prepare, k + 1)
            accumulator, sums = self._chunk(size).run(accumulator, broadcast, inputs)
            for total, part in zip(secure, sums, strict=True):
                for i, value in enumerate(part):
                    total[i] = total[i] + value
        modular = secure[2]
        for i, (value, modulus) in enumerate(zip(modular, self._modulus, strict=True)):
            modular[i] = np.mod(value.astype(np.int64), modulus).astype(value.dtype)
        aggregate = self._report(accumulator)
        return self._update(
            [*state_leaves, *aggregate, *(v for group in secure for v in group)]
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for runner in (self._prepare, self._report, self._update):
            runner.close()
        for chunk in self._chunks.values():
            chunk.close()
