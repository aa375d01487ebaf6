"""The ``model_card.json`` of an export: what the model is and how to call it.

The card records the data, algorithm, metrics, privacy and sizes of the run
a version was exported from, and each serving signature's inputs and outputs.
"""

from __future__ import annotations

import datetime
import typing
from collections.abc import Mapping

import tensorflow as tf

from tff_rec.export import serving

if typing.TYPE_CHECKING:
    # Only for annotations: `exporter` imports this module.
    from tff_rec.export import exporter

MODEL_CARD_FILE = "model_card.json"
MIN_TF_SERVING_VERSION = "2.14"


def _spec_json(spec: tf.TensorSpec) -> dict[str, object]:
    return {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}


def signature_table(
    signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
) -> dict[str, dict[str, dict[str, dict[str, object]]]]:
    """Inputs and outputs (dtype, shape; None = any size) of each signature."""
    table = {}
    for name, function in signatures.items():
        args, kwargs = function.structured_input_signature
        input_specs = {spec.name: spec for spec in args} | dict(kwargs)
        declared = serving.DECLARED_INPUTS.get(name, {})
        table[name] = {
            "inputs": {
                k: _spec_json(tf.TensorSpec(declared[k][1], v.dtype))
                if k in declared
                else _spec_json(v)
                for k, v in sorted(input_specs.items())
            },
            "outputs": {
                k: _spec_json(tf.TensorSpec(v.shape, v.dtype))
                for k, v in sorted(function.structured_outputs.items())
            },
        }
    return table


def model_card(
    run: exporter.RunArtifacts,
    *,
    model_name: str,
    version: int,
    signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
) -> dict[str, object]:
    """The ``model_card.json`` payload of an export of `run`."""
    results = run.results
    l2, bias_l2 = run.ridge
    return {
        "model_name": model_name,
        "version": version,
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "source_run_dir": str(run.run_dir.resolve()),
        "dataset": run.hparams.get("dataset", results.get("dataset")),
        "algorithm": run.algorithm,
        "split": run.hparams.get("split"),
        "metrics": {
            key: value
            for key, value in sorted(results.items())
            if key.endswith(("_rmse", "_mae")) or key == "rounds"
        },
        "privacy": {
            "epsilon": results.get("epsilon"),
            "delta": results.get("delta"),
        },
        "num_users": len(run.user_ids),
        "num_items": len(run.item_ids),
        "user_tables": run.has_user_tables,
        "embedding_dim": run.embedding_dim,
        "history_ridge": {"l2": l2, "bias_l2": bias_l2},
        "signatures": signature_table(signatures),
        "min_tf_serving_version": MIN_TF_SERVING_VERSION,
        "tensorflow_version": tf.__version__,
    }
