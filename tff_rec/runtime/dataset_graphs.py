"""Client datasets as the in-process runtime feeds them: serialized graphs.

A client's `tf.data.Dataset` enters a computation's graph as the bytes of its
serialized graph (`serialize_dataset`), what TFF's C++ runtime receives over
gRPC, and is deserialized inside the graph by ``DatasetFromGraph``
(`tff_rec.runtime.graphs.import_computation`).

tf.data's autotuning and default static optimizations are turned off on the
way: the static optimizations rewrite the dataset graph with grappler every
time an iterator starts, which costs more than iterating a small client's few
batches. The one static optimization that changes what is read, no-op
elimination, is made once on the graphs instead (`eliminate_noop_datasets`,
and `disable_noop_elimination` for datasets made inside a computation).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
from tensorflow.core.framework import dataset_options_pb2

# Dataset ops that pass their input through unchanged for these constant
# arguments (the second input): what tf.data's ``noop_elimination`` removes.
_NOOP_DATASETS = {
    "RepeatDataset": lambda count: count == 1,
    "TakeDataset": lambda count: count < 0,
    "SkipDataset": lambda count: count == 0,
    "PrefetchDataset": lambda buffer_size: buffer_size == 0,
}
_NOOP_DATASET_NAMES = tuple(op.encode() for op in _NOOP_DATASETS)


def _scalar_constant(node) -> int | None:
    if node is None or node.op != "Const":
        return None
    value = tf.make_ndarray(node.attr["value"].tensor)
    if value.size != 1 or value.dtype.kind not in "iu":
        return None
    return int(value.reshape(()))


def eliminate_noop_datasets(
    graph_def: tf.compat.v1.GraphDef,
) -> tf.compat.v1.GraphDef | None:
    """`graph_def` without its no-op dataset nodes, or None if it has none.

    A ``repeat(1)``, ``take(-1)``, ``skip(0)`` or ``prefetch(0)`` node (with a
    constant argument and no control inputs) is removed and its consumers read
    its input instead. tf.data's ``noop_elimination`` makes the same rewrite
    each time an iterator starts, and it changes what is read: TFF's
    reconstruction splits a client's reshuffling dataset into two passes, each
    through a ``repeat(1)``, and without the rewrite its rounds come out
    different from TFF's runtime (which applies it). Doing it once here lets
    the in-process runtime turn tf.data's static optimizations off (see
    `serialize_dataset`) without changing what a client reads.
    """
    nodes = {node.name: node for node in graph_def.node}
    replaced = {}
    for node in graph_def.node:
        is_noop = _NOOP_DATASETS.get(node.op)
        if is_noop is None or len(node.input) != 2:
            continue
        argument = _scalar_constant(nodes.get(node.input[1].split(":")[0]))
        if argument is not None and is_noop(argument):
            replaced[node.name] = node.input[0]
    if not replaced:
        return None

    def resolve(name: str) -> str:
        control = name.startswith("^")
        name = name.lstrip("^")
        while name.split(":")[0] in replaced:
            name = replaced[name.split(":")[0]]
        return "^" + name.split(":")[0] if control else name

    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    del rewritten.node[:]
    for node in graph_def.node:
        if node.name in replaced:
            continue
        copy = rewritten.node.add()
        copy.CopyFrom(node)
        copy.input[:] = [resolve(name) for name in node.input]
    return rewritten


def disable_noop_elimination(
    graph_def: tf.compat.v1.GraphDef,
) -> tf.compat.v1.GraphDef | None:
    """`graph_def` with ``noop_elimination`` off in its datasets' options, or
    None if no dataset of it turns it on.

    For graphs already rewritten by `eliminate_noop_datasets`: a dataset made
    inside a computation with that one optimization switched on (as
    `tff_rec.data.client_data.batches_computation` does, so that TFF's runtime
    reads it the way it reads datasets with default options) would otherwise
    have its graph rewritten by tf.data each time a client's iterator starts,
    with nothing left to remove.
    """
    rewritten = None
    for index, node in enumerate(graph_def.node):
        if node.op != "OptionsDataset":
            continue
        options = dataset_options_pb2.Options.FromString(
            node.attr["serialized_options"].s
        )
        if not options.optimization_options.noop_elimination:
            continue
        options.optimization_options.noop_elimination = False
        if rewritten is None:
            rewritten = tf.compat.v1.GraphDef()
            rewritten.CopyFrom(graph_def)
        rewritten.node[index].attr["serialized_options"].s = options.SerializeToString(
            deterministic=True
        )
    return rewritten


def _fast_start_options() -> tf.data.Options:
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return options


def serialize_sequences(
    leaves: Sequence[object], sequences: frozenset[int]
) -> list[object]:
    """`leaves` with the datasets at indices `sequences` serialized."""
    return [
        serialize_dataset(value)
        if index in sequences and isinstance(value, tf.data.Dataset)
        else value
        for index, value in enumerate(leaves)
    ]


def serialize_dataset(dataset: tf.data.Dataset) -> bytes:
    """The serialized graph of `dataset`, as TFF's runtime sends it.

    tf.data's autotuning and default static optimizations are turned off
    first. Autotuning only sizes buffers and thread pools; the static
    optimizations (fusions, parallel batching, no-op elimination) rewrite the
    dataset graph with grappler every time an iterator starts, which cost
    about 15 ms per client, more than iterating a small client's few batches.
    Only no-op elimination can change what is read (see
    `eliminate_noop_datasets`); it is applied here once, to the dataset's
    graph, and by `tff_rec.runtime.graphs.load` to the computations' graphs.
    Optimizations that the dataset's own options switch on explicitly stay on.
    """
    dataset = dataset.with_options(_fast_start_options())
    variant = tf.data.experimental.to_variant(dataset)
    serialized = tf.raw_ops.DatasetToGraphV2(input_dataset=variant).numpy()
    if not any(name in serialized for name in _NOOP_DATASET_NAMES):
        return serialized
    rewritten = eliminate_noop_datasets(tf.compat.v1.GraphDef.FromString(serialized))
    return serialized if rewritten is None else rewritten.SerializeToString()
