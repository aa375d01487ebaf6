"""Rounds run through a computation's MapReduce form, clients in chunks."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec.algorithms import fed_avg
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import mapreduce

_NUM_USERS = 12
_NUM_ITEMS = 9


def _model_fn(num_users):
    return lambda: mf.build_matrix_factorization(
        num_users, _NUM_ITEMS, embedding_dim=4, global_bias=3.0, seed=1
    )


@tff.tensorflow.computation(tff.SequenceType(np.float32))
def _dataset_sum(dataset):
    return dataset.reduce(np.float32(0.0), lambda total, x: total + x)


@tff.tensorflow.computation(tff.SequenceType(np.float32))
def _dataset_size(dataset):
    return dataset.reduce(np.int32(0), lambda count, _: count + 1)


@tff.tensorflow.computation(np.int32)
def _increment(value):
    return value + 1


@tff.federated_computation(
    tff.FederatedType(np.int32, tff.SERVER),
    tff.FederatedType(tff.SequenceType(np.float32), tff.CLIENTS),
)
def _count_round(state, data):
    """state + 1, with the sum of all values and (securely) their number."""
    total = tff.federated_sum(tff.federated_map(_dataset_sum, data))
    size = tff.federated_secure_sum_bitwidth(tff.federated_map(_dataset_size, data), 8)
    return tff.federated_map(_increment, state), (total, size)


def _dataset(values):
    return tf.data.Dataset.from_tensor_slices(np.array(values, np.float32))


@pytest.mark.parametrize(
    "num_clients, max_slots, expected",
    [
        (0, 8, []),
        (1, 8, [1]),
        (7, 8, [4, 2, 1]),
        (8, 8, [8]),
        (21, 8, [8, 8, 4, 1]),
        (5, 1, [1, 1, 1, 1, 1]),
    ],
)
def test_chunk_sizes(num_clients, max_slots, expected):
    assert mapreduce.chunk_sizes(num_clients, max_slots) == expected


def test_max_slots_must_be_a_power_of_two():
    process = fed_avg.build_weighted_fed_avg(_model_fn(_NUM_USERS))
    with pytest.raises(ValueError, match="max_slots=3"):
        mapreduce.MapReduceRunner(process.next, max_slots=3)


def test_a_round_sums_over_every_chunk():
    runner = mapreduce.MapReduceRunner(_count_round, max_slots=2)
    clients = [[_dataset([1.0, 2.0])], [_dataset([3.0])], [_dataset([4.0, 5.0, 6.0])]]
    with mock.patch.object(
        mapreduce, "chunk_sizes", wraps=mapreduce.chunk_sizes
    ) as chunk_sizes:
        result = runner([np.int32(4)], clients)
    # Three clients run as a chunk of 2 and a chunk of 1: 1 + ... + 6 = 21 over
    # 6 values (the count securely summed, in the clear).
    chunk_sizes.assert_called_once_with(3, 2)
    assert result == [5, 21.0, 6]
    runner.close()


def test_a_round_without_clients():
    runner = mapreduce.MapReduceRunner(_count_round, max_slots=2)
    assert runner([np.int32(4)], []) == [5, 0.0, 0]
    runner.close()
