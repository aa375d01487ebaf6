"""Client datasets: model-ready batches, and no per-dataset traced functions."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tests import synthetic
from tff_rec.data import client_data
from tff_rec.data import interactions as interactions_lib
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


_BATCH_SPEC = {
    "x": {
        "user": tf.TensorSpec([None], tf.int32),
        "item": tf.TensorSpec([None], tf.int32),
    },
    "y": tf.TensorSpec([None, 1], tf.float32),
}


def _graph_passes(make_variant, passes: int) -> list:
    """`passes` passes, one after the other in one graph run, over the
    dataset whose variant `make_variant()` makes in that graph, as a client's
    round reads its data (Federated Reconstruction reads it twice). Each pass
    is its concatenated (user, item, rating) rows."""
    with tf.Graph().as_default() as graph:
        variant, feed = make_variant()
        dataset = tf.data.experimental.from_variant(variant, _BATCH_SPEC)
        empty = (
            tf.zeros([0], tf.int32),
            tf.zeros([0], tf.int32),
            tf.zeros([0], tf.float32),
        )
        reads = []
        for _ in range(passes):
            with tf.control_dependencies(reads[-1] if reads else []):
                reads.append(
                    dataset.reduce(
                        empty,
                        lambda acc, b: (
                            tf.concat([acc[0], b["x"]["user"]], 0),
                            tf.concat([acc[1], b["x"]["item"]], 0),
                            tf.concat([acc[2], b["y"][:, 0]], 0),
                        ),
                    )
                )
        with tf.compat.v1.Session(graph=graph) as session:
            return [[r.tolist() for r in read] for read in session.run(reads, feed)]


def _computation_passes(comp, client, passes: int) -> list:
    """Passes over the dataset TFF computation `comp` makes from `client`."""
    from tff_rec.runtime import graphs

    def make_variant():
        imported = graphs.import_computation(graphs.load(comp), "batches")
        (variant,) = imported.outputs
        return variant, dict(zip(imported.inputs, client.values(), strict=True))

    return _graph_passes(make_variant, passes)


def _serialized_passes(dataset: tf.data.Dataset, passes: int) -> list:
    """Passes over `dataset` sent to a runtime as TFF sends it: serialized."""
    serialized = tf.raw_ops.DatasetToGraphV2(
        input_dataset=tf.data.experimental.to_variant(dataset)
    ).numpy()

    def make_variant():
        graph_def = tf.compat.v1.placeholder(tf.string, [])
        return tf.raw_ops.DatasetFromGraph(graph_def=graph_def), {graph_def: serialized}

    return _graph_passes(make_variant, passes)


@pytest.mark.parametrize("user_key", ["user", "local_user"])
@pytest.mark.parametrize("epochs", [1, 2])
@pytest.mark.parametrize("global_seed", [None, 5])
def test_batches_computation_reads_like_client_batches(
    data, user_key, epochs, global_seed
):
    # Every pass, reshuffles included (Federated Reconstruction reads a
    # client's dataset twice), in the same order as the eager datasets.
    tf.random.set_seed(global_seed)
    try:
        comp = client_data.batches_computation(batch_size=4, epochs=epochs)
        for k in range(data.num_clients):
            client = client_data.client_tensors(
                data, k, shuffle_seed=11 + k, user_key=user_key
            )
            eager = client_data.client_batches(
                data,
                k,
                batch_size=4,
                epochs=epochs,
                shuffle_seed=11 + k,
                user_key=user_key,
            )
            expected = _serialized_passes(eager, 3)
            assert expected[0] != expected[1]  # the passes do reshuffle
            assert _computation_passes(comp, client, 3) == expected
    finally:
        tf.random.set_seed(None)


def test_batches_computation_without_shuffle_keeps_row_order(data):
    comp = client_data.batches_computation(batch_size=5, shuffle=False)
    client = client_data.client_tensors(data, 1)
    expected = _serialized_passes(client_data.client_batches(data, 1, batch_size=5), 1)
    assert _computation_passes(comp, client, 1) == expected


def test_batches_computation_type():
    comp = client_data.batches_computation()
    assert comp.type_signature.parameter == client_data.CLIENT_TENSORS_TYPE
    assert str(comp.type_signature.result) == (
        "<x=<user=int32[?],item=int32[?]>,y=float32[?,1]>*"
    )


def test_client_tensors(data):
    client = client_data.client_tensors(data, 2, shuffle_seed=9, user_key="local_user")
    rows = data.client_rows(2)
    assert list(client) == ["user", "item", "rating", "shuffle_seed"]
    np.testing.assert_array_equal(client["user"], data.local_users[rows])
    np.testing.assert_array_equal(client["item"], data.items[rows])
    np.testing.assert_array_equal(client["rating"], data.ratings[rows])
    assert client["shuffle_seed"] == 9
    with pytest.raises(ValueError, match="user_key"):
        client_data.client_tensors(data, 0, user_key="customer")


def test_tensors_type_leaves_the_examples_dimension_unknown():
    example = collections.OrderedDict(
        x=collections.OrderedDict(
            user=np.zeros(6, np.int32), item=np.arange(6, dtype=np.int32)
        ),
        y=np.ones((6, 1), np.float32),
    )
    examples_type = client_data.tensors_type(example)
    assert str(examples_type) == "<x=<user=int32[?],item=int32[?]>,y=float32[?,1]>"
    with pytest.raises(ValueError, match="examples dimension"):
        client_data.tensors_type(collections.OrderedDict(seed=np.int64(3)))


@pytest.mark.parametrize("epochs", [1, 2])
def test_slices_computation_batches_in_order(epochs):
    example = collections.OrderedDict(
        x=collections.OrderedDict(
            user=np.arange(7, dtype=np.int32), item=np.arange(7, dtype=np.int32) + 10
        ),
        y=np.arange(7, dtype=np.float32)[:, None],
    )
    comp = client_data.slices_computation(
        client_data.tensors_type(example), batch_size=3, epochs=epochs
    )
    assert str(comp.type_signature.result) == (
        "<x=<user=int32[?],item=int32[?]>,y=float32[?,1]>*"
    )
    batches = list(comp(example))
    users = np.concatenate([b["x"]["user"] for b in batches])
    np.testing.assert_array_equal(users, np.tile(np.arange(7), epochs))
    np.testing.assert_array_equal(
        np.concatenate([b["y"] for b in batches])[:, 0], np.tile(np.arange(7), epochs)
    )
    assert [len(b["y"]) for b in batches][:3] == [3, 3, 3 if epochs == 2 else 1]


def test_client_data_slices_rows_of_each_client(data):
    cd = client_data.to_client_data(data)
    k = 3
    rows = list(cd.create_tf_dataset_for_client(cd.client_ids[k]).as_numpy_iterator())
    expected = data.client_rows(k)
    assert len(rows) == expected.stop - expected.start
    np.testing.assert_array_equal([r["item"] for r in rows], data.items[expected])


def test_preprocess_batches_and_selects_user_key(data):
    dataset = client_data.client_dataset(data, 0)
    batches = list(
        client_data.preprocess(
            dataset, batch_size=2, epochs=2, user_key="local_user"
        ).as_numpy_iterator()
    )
    assert sum(len(b["y"]) for b in batches) == 2 * data.client_size(0)
    assert batches[0]["y"].shape[1] == 1
    np.testing.assert_array_equal(batches[0]["x"]["user"], [0, 0])


def test_item_coverage():
    # Two clients; client 0 holds items 0 and 1, client 1 holds item 1 twice
    # (two users) and item 2: 4 (client, item) pairs of 2 x 3.
    train = interactions_lib.Interactions(
        users=np.array([0, 0, 1, 2, 2], np.int32),
        items=np.array([0, 1, 1, 1, 2], np.int32),
        ratings=np.ones(5, np.float32),
        timestamps=None,
        user_vocab=np.array(["a", "b", "c"]),
        item_vocab=np.array(["x", "y", "z", "w"]),
    )
    partition = partition_lib.Partition(
        client_ids=("p", "q"),
        client_indices=(np.array([0, 1]), np.array([2, 3, 4])),
        partition_type=partition_lib.PartitionType.IID,
        description="two clients",
    )
    federated = client_data.build_federated_data(train, partition)
    assert federated.item_coverage() == 4 / 6
