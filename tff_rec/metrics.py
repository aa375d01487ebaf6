"""TFF round metrics as flat ``a/b/c`` keys, shared by the trainer and the
components (aggregators, distributors) that report their own metrics."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def flatten_metrics(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """Flattens TFF's nested round metrics to ``a/b/c`` keys with floats.

    Non-scalar and non-numeric leaves are left out.
    """
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}/"))
        else:
            array = np.asarray(value)
            if array.size == 1 and np.issubdtype(array.dtype, np.number):
                flat[name] = float(array)
    return flat
