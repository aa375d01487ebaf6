"""The data section of a run: which data, how it is split and partitioned."""

from __future__ import annotations

import dataclasses

from tff_rec import errors
from tff_rec import settings
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import rating_scale
from tff_rec.data import splits


@dataclasses.dataclass(frozen=True)
class DataConfig(settings.Section):
    """Which data a run reads and how it becomes clients.

    Attributes:
      dataset: one of `tff_rec.data.loaders.DATASETS`.
      data_dir: the data's folder (or CSV file); None downloads ML-100K into
        the cache.
      cache_dir: the download cache; None means ``$TFF_REC_CACHE`` or
        ``~/.cache/tff_rec``.
      split: how interactions are divided into train and test.
      test_fraction: per-user test fraction of the holdout split.
      partition: how users are grouped into clients.
      num_clients: clients of the iid and dirichlet partitions (required
        there), groups to merge the attribute partition into (optional);
        unset for the user partition.
      partition_attribute: the user attribute of the attribute partition.
      dirichlet_alpha: concentration of the dirichlet partition.
      rating_scale: ``"min,max"``, the rating scale of a CSV file
        (`tff_rec.data.rating_scale`); MovieLens declares its own.
    """

    dataset: str = settings.text(default=loaders.DEFAULT_DATASET)
    data_dir: str | None = settings.path(default=None)
    cache_dir: str | None = settings.path(default=None)
    split: splits.SplitType = settings.choice(
        splits.SplitType, default=splits.SplitType.HOLDOUT
    )
    test_fraction: float = settings.between(0.0, 1.0, default=0.2)
    partition: partition_lib.PartitionType = settings.choice(
        partition_lib.PartitionType, default=partition_lib.PartitionType.USER
    )
    num_clients: int | None = settings.at_least(1, default=None)
    partition_attribute: str = settings.text(default="zip_prefix")
    dirichlet_alpha: float = settings.positive(default=0.5)
    rating_scale: str | None = settings.text(default=None)

    def _check(self):
        if self.dataset not in loaders.DATASETS:
            raise errors.UserInputError(
                f"unknown dataset {self.dataset!r}; allowed: "
                + ", ".join(sorted(loaders.DATASETS))
            )
        partition_lib.check_num_clients(self.partition, self.num_clients)
        rating_scale.declared(self.dataset, self.rating_scale)
