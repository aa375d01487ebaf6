"""TFF's TensorFlow computations imported into plain `tf.Graph`s.

A compiled TFF TensorFlow computation (``comp.to_building_block().proto``,
field ``tensorflow``) is a serialized GraphDef plus *bindings*: which tensors of
the graph are the parameter and the result (nested like the TFF type), which
placeholder takes a dataset (a variant tensor), and an optional initialize op
that must run before the result is read (it initializes the graph's variables,
e.g. a Keras model's and its optimizer's).

`import_computation` imports one such graph into the current `tf.Graph` under
a name prefix. Importing one graph several times into one `tf.Graph` (one copy
per client of a round) is safe: resource names (``shared_name`` of variables
and tables) get the prefix too, so copies never share a variable. Each copy can
have its parameters wired to tensors already in the graph (``input_map``), which
is how the in-process runtime chains ``work -> accumulate`` for many clients
into one graph run by one `tf.compat.v1.Session` call.

Every ``ReduceDataset`` op of the graph (TFF's loop over a client's batches)
is replaced on import by an equivalent call to a function that iterates the
dataset in a ``tf.while_loop``, calling the same reduce function on the same
elements in the same order (`replace_reduce_dataset`). The reason is speed:
``ReduceDataset`` instantiates its reduce function anew every time it runs
(with a per-call function-handle cache), which for a Keras training step costs
100-200 ms per client on a CPU, while an ordinary function call is
instantiated once per session and then costs only its ops.

Datasets are fed as the bytes of their serialized graph, deserialized inside
the graph by ``DatasetFromGraph``; how they are serialized, and the one
rewrite that keeps them read as TFF's runtime reads them, is
`tff_rec.runtime.dataset_graphs`. `load` applies that rewrite to the
computations' graphs too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_federated as tff
from tensorflow.python.ops import gen_functional_ops

from tff_rec.runtime import dataset_graphs

# A leaf of a binding: its kind and the tensor name in the serialized graph.
TENSOR = "tensor"
SEQUENCE = "sequence"


@dataclasses.dataclass(frozen=True)
class Leaf:
    kind: str
    name: str


@dataclasses.dataclass(frozen=True)
class ImportedComputation:
    """One copy of a TFF TensorFlow computation inside a `tf.Graph`.

    Attributes:
      inputs: one entry per parameter leaf, in the order of the TFF type:
        the imported placeholder for a tensor, or the string placeholder that
        takes the serialized dataset for a sequence. None where the leaf was
        wired to an existing tensor by `input_map`.
      outputs: the result's leaves, in the order of the TFF type.
      init_op: the operation that initializes the copy's variables, or None.
    """

    inputs: tuple[tf.Tensor | None, ...]
    outputs: tuple[tf.Tensor, ...]
    init_op: tf.Operation | None


def tensorflow_proto(comp: tff.framework.ConcreteComputation):
    """The ``tensorflow`` part of a compiled TFF computation's proto.

    Raises:
      TypeError: if `comp` is not a TensorFlow computation.
    """
    proto = comp.to_building_block().proto
    if proto.WhichOneof("computation") != "tensorflow":
        raise TypeError(
            f"expected a TensorFlow computation, got a "
            f"{proto.WhichOneof('computation')} computation of type "
            f"{comp.type_signature}"
        )
    return proto.tensorflow


def binding_leaves(binding) -> list[Leaf]:
    """The leaves of a TFF TensorFlow binding, depth first (the type's order)."""
    if binding is None:
        return []
    kind = binding.WhichOneof("binding")
    if kind is None:
        return []
    if kind == "tensor":
        return [Leaf(TENSOR, binding.tensor.tensor_name)]
    if kind == "sequence":
        sequence = binding.sequence
        if sequence.WhichOneof("binding") != "variant_tensor_name":
            raise ValueError(f"unsupported sequence binding: {sequence}")
        return [Leaf(SEQUENCE, sequence.variant_tensor_name)]
    if kind == "struct":
        leaves = []
        for element in binding.struct.element:
            leaves.extend(binding_leaves(element))
        return leaves
    raise ValueError(f"unsupported binding kind {kind!r}")


def _dtypes(attr) -> list[tf.dtypes.DType]:
    return [tf.dtypes.as_dtype(t) for t in attr.list.type]


def _dataset_loop(reduce_fn: str, element_spec, state_types):
    """A Python function equivalent to ``ReduceDataset(f=reduce_fn)``."""
    num_state = len(state_types)

    def loop(variant, *args):
        state, captured = list(args[:num_state]), list(args[num_state:])
        iterator = iter(tf.data.experimental.from_variant(variant, element_spec))

        def cond(done, *unused_state):
            return tf.logical_not(done)

        def body(done, *state):
            element = iterator.get_next_as_optional()

            def step():
                new_state = gen_functional_ops.stateful_partitioned_call(
                    args=[*state, *element.get_value(), *captured],
                    Tout=state_types,
                    f=reduce_fn,
                )
                return [tf.constant(False), *new_state]

            return tf.cond(
                element.has_value(), step, lambda: [tf.constant(True), *state]
            )

        final = tf.while_loop(
            cond,
            body,
            [tf.constant(False), *state],
            shape_invariants=[tf.TensorShape([])] + [tf.TensorShape(None)] * num_state,
        )
        return final[1:]

    return loop


def replace_reduce_dataset(graph_def: tf.compat.v1.GraphDef) -> tf.compat.v1.GraphDef:
    """`graph_def` with each top-level ``ReduceDataset`` turned into a loop call.

    The node keeps its name and inputs (dataset, initial state, captured
    arguments) and becomes a ``StatefulPartitionedCall`` of a new library
    function that iterates the dataset and calls the same reduce function, so
    its outputs are the same values.
    """
    reduces = [node for node in graph_def.node if node.op == "ReduceDataset"]
    if not reduces:
        return graph_def
    library = {f.signature.name: f for f in graph_def.library.function}
    scratch = tf.Graph()
    calls = []
    with scratch.as_default():
        tf.graph_util.import_graph_def(
            tf.compat.v1.GraphDef(library=graph_def.library), name=""
        )
        for node in reduces:
            reduce_fn = node.attr["f"].func.name
            state_types = _dtypes(node.attr["Tstate"])
            captured_types = _dtypes(node.attr["Targuments"])
            arg_types = [
                tf.dtypes.as_dtype(a.type)
                for a in library[reduce_fn].signature.input_arg
            ]
            element_spec = tuple(
                tf.TensorSpec(None, t)
                for t in arg_types[
                    len(state_types) : len(arg_types) - len(captured_types)
                ]
            )
            loop = tf.function(
                _dataset_loop(reduce_fn, element_spec, state_types), autograph=False
            ).get_concrete_function(
                tf.TensorSpec([], tf.variant),
                *(tf.TensorSpec(None, t) for t in state_types + captured_types),
            )
            loop.add_to_graph(scratch)
            calls.append((node.name, loop.name, state_types, captured_types))
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    rewritten.library.CopyFrom(scratch.as_graph_def().library)
    nodes = {node.name: node for node in rewritten.node}
    for name, loop_name, state_types, captured_types in calls:
        node = nodes[name]
        node.op = "StatefulPartitionedCall"
        for key in list(node.attr):
            del node.attr[key]
        node.attr["Tin"].list.type.extend(
            [tf.variant.as_datatype_enum]
            + [t.as_datatype_enum for t in state_types + captured_types]
        )
        node.attr["Tout"].list.type.extend(t.as_datatype_enum for t in state_types)
        node.attr["f"].func.name = loop_name
        for key in ("config", "config_proto", "executor_type"):
            node.attr[key].s = b""
    return rewritten


@dataclasses.dataclass(frozen=True)
class Computation:
    """A TFF TensorFlow computation, parsed once and ready to import.

    Attributes:
      graph_def: the graph, with ``ReduceDataset`` replaced by loop calls.
      parameters: the parameter's leaves, in the TFF type's order.
      results: the result's leaves, in the TFF type's order.
      init_op: name of the initialize op, or None.
    """

    graph_def: tf.compat.v1.GraphDef
    parameters: tuple[Leaf, ...]
    results: tuple[Leaf, ...]
    init_op: str | None
    control_inputs: frozenset[str]

    @property
    def sequence_parameters(self) -> frozenset[int]:
        return frozenset(
            i for i, leaf in enumerate(self.parameters) if leaf.kind == SEQUENCE
        )


def load(comp: tff.framework.ConcreteComputation) -> Computation:
    """Parses a compiled TFF TensorFlow computation (see `tensorflow_proto`)."""
    proto = tensorflow_proto(comp)
    graph_def = replace_reduce_dataset(
        tf.compat.v1.GraphDef.FromString(proto.graph_def.value)
    )
    graph_def = dataset_graphs.eliminate_noop_datasets(graph_def) or graph_def
    graph_def = dataset_graphs.disable_noop_elimination(graph_def) or graph_def
    return Computation(
        graph_def=graph_def,
        parameters=tuple(
            binding_leaves(proto.parameter if proto.HasField("parameter") else None)
        ),
        results=tuple(binding_leaves(proto.result)),
        init_op=proto.initialize_op or None,
        control_inputs=frozenset(
            name[1:]
            for node in graph_def.node
            for name in node.input
            if name.startswith("^")
        ),
    )


def _prefixed_graph_def(graph_def, prefix: str) -> tf.compat.v1.GraphDef:
    """A copy of `graph_def` whose resource names start with `prefix`."""
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    for node in copy.node:
        shared = node.attr.get("shared_name")
        if shared is not None and shared.s:
            node.attr["shared_name"].s = f"{prefix}/".encode() + shared.s
    return copy


def import_computation(
    computation: Computation,
    prefix: str,
    input_map: dict[int, tf.Tensor] | None = None,
) -> ImportedComputation:
    """Imports a TFF TensorFlow computation into the current default graph.

    Args:
      computation: the computation (`load`).
      prefix: name scope of the copy; unique within the graph.
      input_map: parameter leaf index -> tensor that feeds that leaf (for a
        sequence leaf: a dataset variant tensor).

    Returns:
      An `ImportedComputation`.
    """
    input_map = dict(input_map or {})
    tf_input_map = {}
    inputs = []
    for index, leaf in enumerate(computation.parameters):
        if index in input_map:
            tf_input_map[leaf.name] = input_map[index]
            # Ops that wait for the parameter's placeholder wait for its
            # replacement instead.
            op_name = leaf.name.split(":")[0]
            if op_name in computation.control_inputs:
                tf_input_map[f"^{op_name}"] = input_map[index]
            inputs.append(None)
        elif leaf.kind == SEQUENCE:
            serialized = tf.compat.v1.placeholder(
                tf.string, shape=[], name=f"{prefix}_dataset_{index}"
            )
            tf_input_map[leaf.name] = tf.raw_ops.DatasetFromGraph(graph_def=serialized)
            inputs.append(serialized)
        else:
            inputs.append(leaf.name)
    return_names = [leaf.name for leaf in computation.results]
    if computation.init_op:
        return_names.append(computation.init_op)
    returned = tf.graph_util.import_graph_def(
        _prefixed_graph_def(computation.graph_def, prefix),
        input_map=tf_input_map,
        return_elements=return_names,
        name=prefix,
    )
    graph = tf.compat.v1.get_default_graph()
    resolved_inputs = tuple(
        graph.get_tensor_by_name(f"{prefix}/{name}") if isinstance(name, str) else name
        for name in inputs
    )
    init_op = returned[-1] if computation.init_op else None
    outputs = tuple(returned[: len(computation.results)])
    return ImportedComputation(resolved_inputs, outputs, init_op)


def session_config(
    *, log_device_placement: bool = False, parallel_copies: bool = False
) -> tf.compat.v1.ConfigProto:
    """Session options: soft placement, so CPU-only ops (datasets) fall back.

    Without a GPU, grappler is off: TFF has already optimized every part of a
    MapReduce form with grappler, and running it again over a chunk graph
    cost about 3 s the first time the graph ran and left client steps about
    7% slower, with bitwise the same results. With a GPU it stays on, for its
    device-specific passes (host pinning of small ops, layout).

    `parallel_copies` marks a graph made of many independent copies of one
    small computation (a chunk of clients). On CPU each op then runs on one
    thread: the parallelism that pays is between the copies (inter-op), and
    splitting a client's small matmuls and gathers over the cores only adds
    hand-offs. On ML-1M, 1,000 clients per round went from about 4.6 s to
    about 3.5 s per round on two cores (benchmarks/scale_ml1m.py).
    """
    config = tf.compat.v1.ConfigProto(
        allow_soft_placement=True, log_device_placement=log_device_placement
    )
    if not tf.config.list_physical_devices("GPU"):
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        if parallel_copies:
            config.intra_op_parallelism_threads = 1
    return config


class GraphRunner:
    """Runs one TFF TensorFlow computation in its own graph and session."""

    def __init__(self, computation: Computation, *, log_device_placement: bool = False):
        self._graph = tf.Graph()
        with self._graph.as_default():
            self._imported = import_computation(computation, "computation")
        self._session = tf.compat.v1.Session(
            graph=self._graph,
            config=session_config(log_device_placement=log_device_placement),
        )
        self._sequences = computation.sequence_parameters

    def __call__(self, leaves: Sequence[object]) -> list:
        """Runs the computation on parameter `leaves`; returns result leaves.

        Sequence leaves are `tf.data.Dataset`s or their serialized bytes.
        """
        inputs = self._imported.inputs
        if len(leaves) != len(inputs):
            raise ValueError(
                f"expected {len(inputs)} parameter leaves, got {len(leaves)}"
            )
        feed = dict(
            zip(
                inputs,
                dataset_graphs.serialize_sequences(leaves, self._sequences),
                strict=True,
            )
        )
        if self._imported.init_op is not None:
            self._session.run(self._imported.init_op, feed_dict=feed)
        if not self._imported.outputs:
            return []
        return self._session.run(list(self._imported.outputs), feed_dict=feed)

    def close(self) -> None:
        self._session.close()
