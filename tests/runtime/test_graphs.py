"""TFF TensorFlow computations imported into plain graphs and run there."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import fed_avg
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import graphs

_NUM_USERS = 12
_NUM_ITEMS = 9


def _model_fn(num_users):
    return lambda: mf.build_matrix_factorization(
        num_users, _NUM_ITEMS, embedding_dim=4, global_bias=3.0, seed=1
    )


@tff.tensorflow.computation(np.float32, np.int32)
def _scale_and_shift(x, y):
    return x * 2.0, tf.cast(y, tf.float32) + x


@tff.tensorflow.computation(tff.SequenceType(np.float32))
def _dataset_sum(dataset):
    return dataset.reduce(np.float32(0.0), lambda total, x: total + x)


@tff.tensorflow.computation(np.float32)
def _add_to_variable(x):
    total = tf.Variable(10.0, name="total")
    with tf.control_dependencies([total.assign_add(x)]):
        return total.read_value()


def _ops(graph_def):
    return {node.op for node in graph_def.node}


def test_reduce_dataset_is_replaced_by_a_loop():
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    form = tff.backends.mapreduce.get_map_reduce_form_for_computation(process.next)

    work = graphs.load(form.work)
    original = tf.compat.v1.GraphDef.FromString(
        graphs.tensorflow_proto(form.work).graph_def.value
    )
    assert any(node.op == "ReduceDataset" for node in original.node)
    assert not any(node.op == "ReduceDataset" for node in work.graph_def.node)


def test_the_loop_reduces_a_dataset_like_reduce_dataset():
    original = tf.compat.v1.GraphDef.FromString(
        graphs.tensorflow_proto(_dataset_sum).graph_def.value
    )
    computation = graphs.load(_dataset_sum)
    assert "ReduceDataset" in _ops(original)
    assert "ReduceDataset" not in _ops(computation.graph_def)
    assert computation.sequence_parameters == frozenset({0})
    runner = graphs.GraphRunner(computation)
    dataset = tf.data.Dataset.from_tensor_slices(np.array([1.5, 2.5, 4.0], np.float32))
    assert runner([dataset]) == [8.0]
    empty = tf.data.Dataset.from_tensor_slices(np.zeros([0], np.float32))
    assert runner([empty]) == [0.0]
    runner.close()


def test_leaves_follow_the_type_order():
    computation = graphs.load(_scale_and_shift)
    assert [leaf.kind for leaf in computation.parameters] == [graphs.TENSOR] * 2
    assert [leaf.kind for leaf in computation.results] == [graphs.TENSOR] * 2
    assert computation.init_op is None
    assert computation.sequence_parameters == frozenset()
    runner = graphs.GraphRunner(computation)
    # 1.5 * 2 = 3.0 and 2 + 1.5 = 3.5.
    assert runner([np.float32(1.5), np.int32(2)]) == [3.0, 3.5]
    with pytest.raises(ValueError, match="expected 2 parameter leaves, got 1"):
        runner([np.float32(1.5)])
    runner.close()


def test_binding_leaves_of_no_binding():
    assert graphs.binding_leaves(None) == []


def test_a_federated_computation_is_not_a_tensorflow_one():
    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def client_sum(values):
        return tff.federated_sum(values)

    with pytest.raises(TypeError, match="expected a TensorFlow computation"):
        graphs.tensorflow_proto(client_sum)


def test_copies_in_one_graph_have_their_own_variables():
    computation = graphs.load(_add_to_variable)
    assert computation.init_op is not None
    graph = tf.Graph()
    with graph.as_default():
        first = graphs.import_computation(computation, "first", {0: tf.constant(1.0)})
        second = graphs.import_computation(computation, "second")
    # The first copy's parameter is wired to a constant; the second is fed.
    assert first.inputs == (None,)
    feed = {second.inputs[0]: 2.0}
    with tf.compat.v1.Session(graph=graph) as session:
        session.run([first.init_op, second.init_op], feed_dict=feed)
        outputs = session.run([first.outputs[0], second.outputs[0]], feed_dict=feed)
    # 10 + 1 and 10 + 2: a shared variable would have received both additions.
    assert outputs == [11.0, 12.0]


def test_each_run_starts_from_initialized_variables():
    runner = graphs.GraphRunner(graphs.load(_add_to_variable))
    assert runner([np.float32(1.0)]) == [11.0]
    assert runner([np.float32(1.0)]) == [11.0]
    runner.close()
