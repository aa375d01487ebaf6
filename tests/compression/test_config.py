"""The communication section."""

import pytest

from tff_rec import errors
from tff_rec.compression import config


def test_defaults_send_float32():
    communication = config.CommunicationConfig()
    assert not communication.is_compressed
    assert communication.update_codec().is_identity


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(quantize_bits=1), "quantize_bits must be in 2..16"),
        (dict(broadcast_quantize_bits=17), "broadcast_quantize_bits must be in 2..16"),
        (dict(topk_fraction=0.0), "topk_fraction"),
        (dict(decoy_rows=2), "only applies to sparse item updates"),
    ],
)
def test_rules_are_the_codecs(values, message):
    with pytest.raises(errors.UserInputError, match=message):
        config.CommunicationConfig(**values)


def test_codec():
    codec = config.CommunicationConfig(
        quantize_bits=8, sparse_item_updates=True
    ).update_codec()
    assert codec.bits == 8
    assert codec.sparse_rows
