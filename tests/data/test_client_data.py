"""Client datasets: model-ready batches, and no per-dataset traced functions."""

import numpy as np
import pytest
import tensorflow as tf

from tests import synthetic
from tff_rec.data import client_data
from tff_rec.data import partition as partition_lib


@pytest.fixture(scope="module")
def data():
    train = synthetic.make_interactions(num_users=6, num_items=15, per_user=11)
    partition = partition_lib.make_partition(train, partition_lib.PartitionType.USER)
    return client_data.build_federated_data(train, partition)


def _as_lists(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy().tolist(), b) for b in dataset]


@pytest.mark.parametrize("user_key", ["user", "local_user"])
@pytest.mark.parametrize("shuffle_seed", [None, 7])
def test_client_batches_equal_preprocessed_client_dataset(data, user_key, shuffle_seed):
    for k in range(data.num_clients):
        kwargs = dict(
            batch_size=4, epochs=2, shuffle_seed=shuffle_seed, user_key=user_key
        )
        expected = client_data.preprocess(client_data.client_dataset(data, k), **kwargs)
        actual = client_data.client_batches(data, k, **kwargs)
        assert actual.element_spec == expected.element_spec
        assert _as_lists(actual) == _as_lists(expected)


def test_client_batches_trace_no_function(data):
    # A `Dataset.map` traces a graph function per dataset; the eager context
    # keeps them all, which grew host memory round after round.
    graph = client_data.client_batches(data, 0, shuffle_seed=1)._as_serialized_graph()
    graph_def = tf.compat.v1.GraphDef.FromString(graph.numpy())
    assert len(graph_def.library.function) == 0
    mapped = client_data.preprocess(client_data.client_dataset(data, 0))
    mapped_def = tf.compat.v1.GraphDef.FromString(mapped._as_serialized_graph().numpy())
    assert len(mapped_def.library.function) > 0


def test_client_batches_rejects_unknown_user_key(data):
    with pytest.raises(ValueError, match="user_key"):
        client_data.client_batches(data, 0, user_key="customer")


def test_ratings_are_a_column(data):
    batch = next(iter(client_data.client_batches(data, 0, batch_size=3)))
    assert batch["y"].shape == (3, 1)
    np.testing.assert_array_equal(batch["x"]["item"].shape, (3,))
