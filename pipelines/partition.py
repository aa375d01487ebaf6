r"""Partitions a dataset's training split into clients and reports the sizes.

Shows what `pipelines.train` would federate over, without training:

  python -m pipelines.partition --partition=attribute \
      --partition_attribute=zip_prefix --output_json=/tmp/stores.json

Prints the number of clients and examples per client (min/median/max); with
--output_json also writes every client's id, size and number of users.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits

_DATASET = flags.DEFINE_string("dataset", loaders.DEFAULT_DATASET, "Dataset name.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory or CSV file.")
_SPLIT = flags.DEFINE_string("split", "holdout", "Split of which train is used.")
_PARTITION = flags.DEFINE_string("partition", "user", "user|attribute|iid|dirichlet.")
_NUM_CLIENTS = flags.DEFINE_integer("num_clients", None, "Clients (iid/dirichlet).")
_ATTRIBUTE = flags.DEFINE_string("partition_attribute", "zip_prefix", "Attribute.")
_ALPHA = flags.DEFINE_float("dirichlet_alpha", 0.5, "Dirichlet concentration.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed.")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Per-client sizes here.")


def main(argv):
    del argv
    with cli.user_errors_exit():
        interactions = loaders.load_dataset(_DATASET.value, _DATA_DIR.value)
        split = splits.make_split(interactions, _SPLIT.value, seed=_SEED.value)
        partition = partition_lib.make_partition(
            split.train,
            _PARTITION.value,
            num_clients=_NUM_CLIENTS.value,
            attribute=_ATTRIBUTE.value,
            alpha=_ALPHA.value,
            seed=_SEED.value,
        )
        print(partition.summary())
        if _OUTPUT_JSON.value:
            clients = [
                {
                    "client_id": client_id,
                    "examples": int(len(rows)),
                    "users": int(len(np.unique(split.train.users[rows]))),
                }
                for client_id, rows in zip(
                    partition.client_ids, partition.client_indices, strict=True
                )
            ]
            payload = {"stats": partition.stats(), "clients": clients}
            path = pathlib.Path(_OUTPUT_JSON.value)
            path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
            print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
