"""Serialized client datasets yield what TFF's runtime would read."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import dataset_options_pb2

from tff_rec.runtime import dataset_graphs

_VALUES = np.arange(40, dtype=np.int64)


def _shuffled(repeats, reshuffle=True):
    return (
        tf.data.Dataset.from_tensor_slices(_VALUES)
        .shuffle(64, seed=5, reshuffle_each_iteration=reshuffle)
        .repeat(repeats)
        .batch(16)
    )


def _mapped():
    return (
        tf.data.Dataset.from_tensor_slices(_VALUES)
        .map(lambda v: v * 2)
        .shuffle(8, seed=1)
        .repeat(2)
        .batch(6)
        .map(lambda v: v + 1)
    )


def _read_back(serialized: bytes, element_spec) -> list:
    variant = tf.raw_ops.DatasetFromGraph(graph_def=serialized)
    dataset = tf.data.experimental.from_variant(variant, element_spec)
    return [batch.tolist() for batch in dataset.as_numpy_iterator()]


@pytest.mark.parametrize(
    "build",
    [
        lambda: _shuffled(1),
        lambda: _shuffled(3),
        lambda: _shuffled(2, reshuffle=False),
        _mapped,
    ],
    ids=["shuffle", "shuffle_repeat", "shuffle_once_repeat", "map_shuffle_repeat"],
)
def test_serialized_dataset_keeps_elements_and_order(build):
    # Each dataset is built fresh: iterating a reshuffling dataset object
    # advances its seed, so a second read of the same object differs.
    reference_dataset = build()
    reference = _read_back(
        tf.raw_ops.DatasetToGraphV2(
            input_dataset=tf.data.experimental.to_variant(reference_dataset)
        ).numpy(),
        reference_dataset.element_spec,
    )
    dataset = build()
    assert _read_back(
        dataset_graphs.serialize_dataset(dataset), dataset.element_spec
    ) == (reference)
    assert sorted(v for batch in reference for v in batch)


def _serialized_options(dataset) -> dataset_options_pb2.Options:
    """The options of the serialized dataset: those of its ``OptionsDataset``
    nodes, merged from the innermost out as tf.data merges them."""
    graph = tf.compat.v1.GraphDef.FromString(dataset_graphs.serialize_dataset(dataset))
    nodes = [node for node in graph.node if node.op == "OptionsDataset"]
    assert nodes, sorted(node.op for node in graph.node)
    options = dataset_options_pb2.Options()
    for node in nodes:
        options.MergeFromString(node.attr["serialized_options"].s)
    return options


def test_static_optimizations_and_autotuning_are_off():
    options = _serialized_options(_shuffled(2))
    assert options.optimization_options.apply_default_optimizations is False
    assert options.autotune_options.enabled is False


def test_explicitly_enabled_optimizations_stay_on():
    requested = tf.data.Options()
    requested.experimental_optimization.map_parallelization = True
    options = _serialized_options(_mapped().with_options(requested))
    assert options.optimization_options.map_parallelization is True
    assert options.optimization_options.apply_default_optimizations is False


def _dataset_ops(serialized: bytes) -> list[str]:
    return [node.op for node in tf.compat.v1.GraphDef.FromString(serialized).node]


def test_noop_datasets_are_removed():
    dataset = (
        tf.data.Dataset.from_tensor_slices(_VALUES)
        .shuffle(64, seed=2)
        .repeat(1)
        .take(-1)
        .skip(0)
        .prefetch(0)
        .batch(7)
    )
    ops = _dataset_ops(dataset_graphs.serialize_dataset(dataset))
    for op in ("RepeatDataset", "TakeDataset", "SkipDataset", "PrefetchDataset"):
        assert op not in ops
    assert "ShuffleDatasetV3" in ops and "BatchDatasetV2" in ops


def test_other_counts_are_kept():
    dataset = (
        tf.data.Dataset.from_tensor_slices(_VALUES)
        .repeat(2)
        .take(30)
        .skip(1)
        .prefetch(2)
    )
    ops = _dataset_ops(dataset_graphs.serialize_dataset(dataset))
    for op in ("RepeatDataset", "TakeDataset", "SkipDataset", "PrefetchDataset"):
        assert op in ops
    read = _read_back(dataset_graphs.serialize_dataset(dataset), dataset.element_spec)
    assert read == [*range(1, 30)]


def test_a_dataset_without_noops_is_passed_through():
    graph = tf.compat.v1.GraphDef.FromString(
        dataset_graphs.serialize_dataset(_shuffled(2))
    )
    assert dataset_graphs.eliminate_noop_datasets(graph) is None


def _dataset_graph_def(dataset: tf.data.Dataset) -> tf.compat.v1.GraphDef:
    return tf.compat.v1.GraphDef.FromString(
        tf.raw_ops.DatasetToGraphV2(
            input_dataset=tf.data.experimental.to_variant(dataset)
        ).numpy()
    )


def _options_of(graph_def) -> list[dataset_options_pb2.Options]:
    return [
        dataset_options_pb2.Options.FromString(node.attr["serialized_options"].s)
        for node in graph_def.node
        if node.op == "OptionsDataset"
    ]


def test_requested_noop_elimination_is_turned_off():
    requested = tf.data.Options()
    requested.experimental_optimization.apply_default_optimizations = False
    requested.experimental_optimization.noop_elimination = True
    requested.experimental_optimization.map_parallelization = True
    graph_def = _dataset_graph_def(_shuffled(2).with_options(requested))
    rewritten = dataset_graphs.disable_noop_elimination(graph_def)
    assert rewritten is not None
    (before,) = _options_of(graph_def)
    (after,) = _options_of(rewritten)
    assert before.optimization_options.noop_elimination is True
    assert after.optimization_options.noop_elimination is False
    # Nothing else changes.
    after.optimization_options.noop_elimination = True
    assert after == before
    assert [n.name for n in rewritten.node] == [n.name for n in graph_def.node]


def test_graphs_without_requested_noop_elimination_are_passed_through():
    assert (
        dataset_graphs.disable_noop_elimination(_dataset_graph_def(_shuffled(2)))
        is None
    )
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = True
    graph_def = _dataset_graph_def(_mapped().with_options(options))
    assert dataset_graphs.disable_noop_elimination(graph_def) is None
