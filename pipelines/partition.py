r"""Partitions a dataset's training split into clients and reports the sizes.

Shows what `pipelines.train` would federate over, without training:

  python -m pipelines.partition --partition=attribute \
      --partition_attribute=zip_prefix --output_json=/tmp/stores.json

Prints the number of clients and examples per client (min/median/max); with
--output_json also writes every client's id, size and number of users.
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.data import config as data_config
from tff_rec.data import preparation
from tff_rec.training import metrics_writer

_DEFAULTS = data_config.DataConfig().as_dict()


def _setting(define, name: str, help_text: str):
    return define(name, _DEFAULTS[name], help_text)


_setting(flags.DEFINE_string, "dataset", "Dataset name (as for pipelines.train).")
_setting(flags.DEFINE_string, "data_dir", "Directory or CSV file.")
_setting(flags.DEFINE_string, "cache_dir", "Download cache.")
_setting(flags.DEFINE_string, "split", "Split whose training part is partitioned.")
_setting(flags.DEFINE_float, "test_fraction", "Per-user test fraction (holdout).")
_setting(
    flags.DEFINE_string,
    "rating_scale",
    "min,max: the rating scale of --dataset=csv (e.g. 1,5); ratings outside it "
    "are refused, and DP runs need it (their global offset is its middle). "
    "MovieLens declares its own (1,5; ml-latest 0.5,5).",
)
_setting(flags.DEFINE_string, "partition", "user, attribute, iid or dirichlet.")
_setting(flags.DEFINE_integer, "num_clients", "Clients (iid/dirichlet; attribute).")
_setting(flags.DEFINE_string, "partition_attribute", "User attribute (attribute).")
_setting(flags.DEFINE_float, "dirichlet_alpha", "Dirichlet concentration.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the split and the partition.")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Per-client sizes here.")


def main(argv):
    del argv
    with cli.user_errors_exit():
        config = data_config.DataConfig.from_dict(
            {name: flags.FLAGS[name].value for name in _DEFAULTS}
        )
        data = preparation.prepare(config, seed=_SEED.value)
        if _OUTPUT_JSON.value:
            metrics_writer.write_json(
                _OUTPUT_JSON.value,
                {"stats": data.partition.stats(), "clients": data.clients()},
            )
            print(f"Wrote {_OUTPUT_JSON.value}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
