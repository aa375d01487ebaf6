"""The communication section of a run: how updates and broadcasts are encoded."""

from __future__ import annotations

import dataclasses

from tff_rec import settings
from tff_rec.compression import codec as codec_lib
from tff_rec.compression import quantization


@dataclasses.dataclass(frozen=True)
class CommunicationConfig(settings.Section):
    """How client updates and the model broadcast are encoded.

    The update options' rules are `tff_rec.compression.codec.UpdateCodec`'s;
    decoys also need secure aggregation (checked with the privacy section).

    Attributes:
      quantize_bits: quantize each client's update to this many bits.
      broadcast_quantize_bits: quantize the broadcast model to this many bits.
      topk_fraction: send only this fraction of each update tensor's largest
        coordinates.
      sparse_item_updates: send only the touched rows of the embedding tables.
      decoy_rows: with sparse updates and secure aggregation, also send this
        many random untouched rows.
    """

    quantize_bits: int | None = settings.checked(None, default=None)
    broadcast_quantize_bits: int | None = settings.checked(
        lambda name, bits: quantization.check_bits(bits, name), default=None
    )
    topk_fraction: float | None = settings.checked(None, default=None)
    sparse_item_updates: bool = settings.flag(default=False)
    decoy_rows: int = settings.checked(None, default=0)

    def _check(self):
        self.update_codec()

    def update_codec(self) -> codec_lib.UpdateCodec:
        """The client-update encoding (it checks the options)."""
        return codec_lib.UpdateCodec(
            bits=self.quantize_bits,
            topk_fraction=self.topk_fraction,
            sparse_rows=self.sparse_item_updates,
            decoy_rows=self.decoy_rows,
        )

    @property
    def is_compressed(self) -> bool:
        return bool(self.given())
