"""Sparse client updates: top-k coordinates, and only the touched table rows.

Top-k sparsification sends the ``k = ceil(fraction * n)`` largest-magnitude
coordinates of a tensor and their positions (Aji and Heafield, "Sparse
Communication for Distributed Gradient Descent", EMNLP 2017,
arXiv:1704.05021). Error feedback (Stich, Cordonnier and Jaggi, "Sparsified
SGD with Memory", NeurIPS 2018, arXiv:1809.07599) would keep the dropped
remainder on the client and add it to the next update; TFF 0.87's learning
processes have no client state that survives between rounds (clients are
sampled afresh and hold nothing across `next` calls), so the remainder is
dropped: the compression is biased towards large coordinates.

Row-sparse updates exploit the structure of an embedding table: a client that
trained on ratings of items ``I`` changes only rows ``I`` of the item tables
(the per-example L2 penalty touches only those rows too), so it sends those
rows and their indices. Tables with the same number of rows (the item
embeddings and the item biases) share one index set. The index set is the set
of items the user rated: whoever sees an individual message learns it. Decoy
rows (untouched rows chosen uniformly at random, sent as zeros) hide the true
rows among more, at the cost of their bytes; a zero row is only
indistinguishable from a real one when the server cannot see individual
values, i.e. under secure aggregation. The indices are sorted, so decoys are
not told apart by position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

_UINT16_LIMIT = 2**16


def index_dtype(size: int) -> tf.DType:
    """The narrowest index dtype that addresses `size` positions."""
    return tf.uint16 if size <= _UINT16_LIMIT else tf.int32


def topk_count(num_elements: int, fraction: float) -> int:
    """Coordinates kept by top-k: ``ceil(fraction * n)``, at least 1."""
    return max(1, min(num_elements, math.ceil(fraction * num_elements)))


def top_k(x: tf.Tensor, fraction: float) -> tuple[tf.Tensor, tf.Tensor]:
    """The largest-magnitude coordinates of `x` (statically shaped).

    Returns:
      ``(indices, values)``: flat positions (`index_dtype`) and float32 values,
      both of length `topk_count`.
    """
    n = x.shape.num_elements()
    flat = tf.reshape(tf.cast(x, tf.float32), [-1])
    positions = tf.math.top_k(tf.abs(flat), k=topk_count(n, fraction)).indices
    return tf.cast(positions, index_dtype(n)), tf.gather(flat, positions)


def scatter_flat(indices: tf.Tensor, values: tf.Tensor, shape) -> tf.Tensor:
    """Dense tensor of `shape` with `values` at flat `indices`, zero elsewhere."""
    n = math.prod(shape)
    flat = tf.scatter_nd(tf.cast(indices, tf.int32)[:, None], values, [n])
    return tf.reshape(flat, shape)


def row_groups(specs: Sequence[tf.TensorSpec]) -> list[list[int]]:
    """Positions of the row tables, grouped by number of rows.

    A row table is a float tensor of rank 2 with more than one row (an
    embedding or bias table). Tables with the same number of rows are taken
    to be indexed by the same ids and share one index set.
    """
    groups: dict[int, list[int]] = {}
    for position, spec in enumerate(specs):
        if spec.dtype.is_floating and spec.shape.rank == 2 and spec.shape[0] > 1:
            groups.setdefault(int(spec.shape[0]), []).append(position)
    return list(groups.values())


def touched_rows(tables: Sequence[tf.Tensor]) -> tf.Tensor:
    """Sorted int32 indices of the rows nonzero in any of `tables`."""
    nonzero = tf.add_n(
        [tf.cast(tf.reduce_any(tf.not_equal(t, 0), axis=1), tf.int32) for t in tables]
    )
    return tf.cast(tf.reshape(tf.where(nonzero > 0), [-1]), tf.int32)


def add_decoys(rows: tf.Tensor, num_rows: int, decoy_rows: int) -> tf.Tensor:
    """`rows` plus up to `decoy_rows` other rows drawn uniformly, sorted."""
    if decoy_rows <= 0:
        return rows
    is_touched = tf.scatter_nd(
        rows[:, None], tf.ones_like(rows, dtype=tf.bool), [num_rows]
    )
    untouched = tf.cast(tf.reshape(tf.where(~is_touched), [-1]), tf.int32)
    decoys = tf.random.shuffle(untouched)[:decoy_rows]
    return tf.sort(tf.concat([rows, decoys], axis=0))


def scatter_rows(rows: tf.Tensor, values: tf.Tensor, shape) -> tf.Tensor:
    """Dense table of `shape` with `values` at `rows`, zero elsewhere."""
    return tf.scatter_nd(tf.cast(rows, tf.int32)[:, None], values, shape)
