"""The data section."""

import pytest

from tff_rec import errors
from tff_rec.data import config
from tff_rec.data import partition as partition_lib


def test_defaults():
    data = config.DataConfig()
    assert data.dataset == "ml-100k"
    assert data.partition is partition_lib.PartitionType.USER
    assert data.num_clients is None


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(dataset="netflix"), "unknown dataset"),
        (dict(partition="iid"), "needs num_clients"),
        (dict(num_clients=3), "one client per user"),
        (dict(test_fraction=0.0), "test_fraction"),
    ],
)
def test_rules(values, message):
    with pytest.raises(errors.UserInputError, match=message):
        config.DataConfig(**values)


def test_partitions_with_clients():
    assert config.DataConfig(partition="iid", num_clients=4).num_clients == 4
    assert config.DataConfig(partition="attribute").num_clients is None
