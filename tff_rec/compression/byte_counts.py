"""Bytes on the wire, counted from the tensors that are sent.

Aggregators and distributors of `tff_rec.compression` count, inside their TFF
computations, the bytes of the payload each client sends or receives (the
tensors' element counts times their dtypes' sizes) and the bytes of the same
value as dense float32 tensors, and report the sums over clients in their
measurements:

- ``bytes_up`` / ``dense_bytes_up``: model-update payloads, summed over the
  participating clients (the aggregator's measurements);
- ``bytes_down`` / ``dense_bytes_down``: the broadcast model, summed over the
  clients that receive it (the distributor's measurements).

Framing, transport-layer overhead and, under secure aggregation, the
protocol's own messages (key agreement, masks wider than the summands) are not
included. `byte_metrics` picks these four numbers out of a round's metrics for
the trainer's rows; `summarize` turns a run's rows into totals and per-round
means.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tff_rec import metrics as metrics_lib

BYTE_KEYS = ("bytes_up", "bytes_down", "dense_bytes_up", "dense_bytes_down")
DENSE_BYTES_PER_ELEMENT = 4  # float32
BYTES_DTYPE = tf.int64


def payload_bytes(payload: Mapping[str, tf.Tensor] | Sequence[tf.Tensor]) -> tf.Tensor:
    """Bytes of the tensors of a payload (elements times dtype size), int64."""
    tensors = tf.nest.flatten(payload)
    if not tensors:
        return tf.constant(0, BYTES_DTYPE)
    return tf.add_n([tf.cast(tf.size(t), BYTES_DTYPE) * t.dtype.size for t in tensors])


def dense_bytes(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """Bytes of `tensors` sent as dense float32, int64."""
    total = tf.constant(0, BYTES_DTYPE)
    for t in tensors:
        total += tf.cast(tf.size(t), BYTES_DTYPE) * DENSE_BYTES_PER_ELEMENT
    return total


def byte_metrics(round_metrics: Mapping) -> dict[str, float]:
    """The byte counts of a round, if its processes report them.

    Args:
      round_metrics: the metrics of `LearningProcess.next` (``distributor``,
        ``aggregator``, ... sub-dicts).

    Returns:
      A dict with those of `BYTE_KEYS` that were reported (the outermost
      report of each, should several layers report one).
    """
    found: dict[str, tuple[int, float]] = {}
    for name, value in metrics_lib.flatten_metrics(round_metrics).items():
        parts = name.split("/")
        if parts[-1] in BYTE_KEYS:
            depth = len(parts)
            if parts[-1] not in found or depth < found[parts[-1]][0]:
                found[parts[-1]] = (depth, value)
    return {key: found[key][1] for key in BYTE_KEYS if key in found}


def summarize(rows: Iterable[Mapping[str, object]]) -> dict[str, float]:
    """Totals (``<key>_total``) and per-round means (``<key>_per_round``)."""
    rows = list(rows)
    summary = {}
    for key in BYTE_KEYS:
        values = [float(row[key]) for row in rows if row.get(key) not in (None, "")]
        if values:
            summary[f"{key}_total"] = float(np.sum(values))
            summary[f"{key}_per_round"] = float(np.mean(values))
    return summary
