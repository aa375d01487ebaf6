"""Warmup requests TF Serving replays when it loads an exported version.

TF Serving reads ``assets.extra/tf_serving_warmup_requests`` (a TFRecord file
of `PredictionLog`s) from a version folder and runs each request before it
serves the version, so the first real requests do not pay for loading and
tracing: https://www.tensorflow.org/tfx/serving/saved_model_warmup.
`warmup_requests` makes a few valid requests for every signature of
`serving.RecommenderServingModule`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tff_rec.export import serving

DEFAULT_WARMUP_K = 10
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def _string_proto(values) -> tensor_pb2.TensorProto:
    return tf.make_tensor_proto(np.array(values, dtype=object), dtype=tf.string)


def warmup_requests(
    model_name: str,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    *,
    k: int | None = None,
) -> list[prediction_log_pb2.PredictionLog]:
    """A few valid `PredictRequest`s per signature, as `PredictionLog`s.

    Args:
      model_name: the served model's name (``model_spec.name``).
      user_ids: known users (may be empty: an OOV id is used instead).
      item_ids: the catalogue.
      k: the ``k`` of the ranking requests; None means `DEFAULT_WARMUP_K`.

    Returns:
      The records, two or more per signature.
    """
    k = DEFAULT_WARMUP_K if k is None else k
    users = list(user_ids[:2]) or ["warmup-unknown-user"]
    items = list(item_ids[:3])
    history, ratings = items[:2], np.array([4.0, 3.0][: len(items[:2])], np.float32)
    empty_ids = _string_proto([])
    k_proto = tf.make_tensor_proto(k, dtype=tf.int32)
    inputs_by_signature = {
        serving.SERVING_DEFAULT: [
            {"user_id": _string_proto(users[:1]), "item_id": _string_proto(items[:1])},
            {
                "user_id": _string_proto([users[-1]] * len(items)),
                "item_id": _string_proto(items),
            },
        ],
        serving.RECOMMEND: [
            {
                "user_id": _string_proto(users[0]),
                "k": k_proto,
                "exclude_item_ids": empty_ids,
            },
            {
                "user_id": _string_proto(users[-1]),
                "k": k_proto,
                "exclude_item_ids": _string_proto(items[:1]),
            },
        ],
        serving.RECOMMEND_FROM_HISTORY: [
            {
                "history_item_ids": _string_proto(history),
                "history_ratings": tf.make_tensor_proto(ratings),
                "k": k_proto,
                "exclude_item_ids": _string_proto(history),
            },
            {
                "history_item_ids": empty_ids,
                "history_ratings": tf.make_tensor_proto(np.zeros([0], np.float32)),
                "k": k_proto,
                "exclude_item_ids": empty_ids,
            },
        ],
        serving.SCORE_FROM_HISTORY: [
            {
                "history_item_ids": _string_proto(history),
                "history_ratings": tf.make_tensor_proto(ratings),
                "item_id": _string_proto(items),
            },
            {
                "history_item_ids": empty_ids,
                "history_ratings": tf.make_tensor_proto(np.zeros([0], np.float32)),
                "item_id": _string_proto(items[:1]),
            },
        ],
    }
    records = []
    for signature_name, requests in inputs_by_signature.items():
        for inputs in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            for name, proto in inputs.items():
                request.inputs[name].CopyFrom(proto)
            records.append(
                prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request)
                )
            )
    return records


def write_warmup_requests(
    path: os.PathLike | str, records: Sequence[prediction_log_pb2.PredictionLog]
) -> None:
    """Writes `records` as a TFRecord file (TF Serving's warmup format)."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
