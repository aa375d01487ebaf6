"""A run's data made ready: loaded, split, partitioned into clients."""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from tff_rec.data import client_data as client_data_lib
from tff_rec.data import config as data_config
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import rating_scale as rating_scale_lib
from tff_rec.data import splits


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """The data of a run.

    Attributes:
      interactions: the whole table (vocabularies, features).
      split: train / test (and the held-out users' history).
      partition: the training users grouped into clients.
      federated: the training rows by client.
      rating_scale: the data's declared rating scale (None: a CSV file
        without one).
      duplicates_dropped: repeated (user, item) rows dropped at loading
        (`interactions.drop_duplicate_pairs`: the latest is kept).
    """

    interactions: interactions_lib.Interactions
    split: splits.Split
    partition: partition_lib.Partition
    federated: client_data_lib.FederatedData
    rating_scale: rating_scale_lib.RatingScale | None = None
    duplicates_dropped: int = 0

    @property
    def history(self) -> interactions_lib.Interactions:
        """What evaluation may use to build users' representations: the
        training interactions, plus the held-out users' history for
        `splits.SplitType.HELD_OUT_USERS`."""
        return training_history(self.split)

    def clients(self) -> list[dict[str, object]]:
        """Each client's id and its numbers of training examples and users."""
        train = self.split.train
        return [
            {
                "client_id": client_id,
                "examples": int(len(rows)),
                "users": int(len(np.unique(train.users[rows]))),
            }
            for client_id, rows in zip(
                self.partition.client_ids, self.partition.client_indices, strict=True
            )
        ]

    def summary(self) -> dict[str, object]:
        """What a run's ``results.json`` records about its data."""
        return {
            "num_clients": self.partition.num_clients,
            "partition": self.partition.stats(),
            "rating_scale": None
            if self.rating_scale is None
            else str(self.rating_scale),
            "duplicates_dropped": self.duplicates_dropped,
        }


def training_history(split: splits.Split) -> interactions_lib.Interactions:
    """`PreparedData.history` of a split."""
    if split.test_history is None:
        return split.train
    train, extra = split.train, split.test_history
    return dataclasses.replace(
        train,
        users=np.concatenate([train.users, extra.users]),
        items=np.concatenate([train.items, extra.items]),
        ratings=np.concatenate([train.ratings, extra.ratings]),
        timestamps=None
        if train.timestamps is None or extra.timestamps is None
        else np.concatenate([train.timestamps, extra.timestamps]),
    )


def _data_summary(
    dataset: str, interactions, split: splits.Split, duplicates_dropped: int = 0
) -> str:
    """``Data: ml-100k, 100,000 interactions of 943 users and 1,682 items; ...``"""
    dropped = (
        f" ({duplicates_dropped:,} repeated (user, item) rows dropped, the latest "
        "kept)"
        if duplicates_dropped
        else ""
    )
    line = (
        f"Data: {dataset}, {len(interactions):,} interactions{dropped} of "
        f"{interactions.num_users:,} users and {interactions.num_items:,} items; "
        f"{split.split_type.value} split: {len(split.train):,} train / "
        f"{len(split.test):,} test"
    )
    if split.test_history is not None:
        line += f" / {len(split.test_history):,} test users' history"
    return line


def prepare(
    config: data_config.DataConfig,
    *,
    seed: int,
    held_out_user_fraction: float | None = None,
) -> PreparedData:
    """Loads, splits and partitions the data as `config` says.

    Args:
      config: the data section.
      seed: seeds the split and the partition.
      held_out_user_fraction: for the held_out_users split, the fraction of
        users held out; None means `splits.DEFAULT_USER_FRACTION`.

    Raises:
      tff_rec.errors.UserInputError: missing or malformed data, or options
        the data cannot satisfy (more clients than users, say).
    """
    scale = rating_scale_lib.declared(config.dataset, config.rating_scale)
    interactions = loaders.load_dataset(
        config.dataset, config.data_dir, cache_dir=config.cache_dir
    )
    rating_scale_lib.check(interactions.ratings, scale, config.dataset)
    interactions, dropped = interactions_lib.drop_duplicate_pairs(interactions)
    logging.info("Loaded %s: %s", config.dataset, interactions.stats())
    fractions = {}
    if held_out_user_fraction is not None:
        fractions["user_fraction"] = held_out_user_fraction
    split = splits.make_split(
        interactions,
        config.split,
        seed=seed,
        test_fraction=config.test_fraction,
        **fractions,
    )
    partition = partition_lib.make_partition(
        split.train,
        config.partition,
        num_clients=config.num_clients,
        attribute=config.partition_attribute,
        alpha=config.dirichlet_alpha,
        seed=seed,
    )
    print(_data_summary(config.dataset, interactions, split, dropped), flush=True)
    print(f"Partition: {partition.summary()}", flush=True)
    return PreparedData(
        interactions=interactions,
        split=split,
        partition=partition,
        federated=client_data_lib.build_federated_data(split.train, partition),
        rating_scale=scale,
        duplicates_dropped=dropped,
    )
