"""What the server makes of each upload under a configuration.

A client does not send its raw update: it encodes it
(`tff_rec.compression.codec.UpdateCodec`, the encoder the run's clients use:
quantization, top-k, sparse rows with decoys) and, under central DP, the DP
query clips it on the client before it is sent (TFF's
`DifferentiallyPrivateFactory` clips records on the clients; the noise is
added to the sum on the server, after the server has seen the records, or
their secure sum). `server_view` applies exactly that to each collected
upload: the decoded message is what the server holds of one client without
secure aggregation; with it, the server holds only the sum of a cohort's
decoded messages (and, for sparse rows, each message's row indices, which
are not summed).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.compression import byte_counts
from tff_rec.compression import codec as codec_lib
from tff_rec.compression import sparsify
from tff_rec.models import matrix_factorization as mf
from tff_rec.privacy.audit import threat_model
from tff_rec.privacy.audit import uploads as uploads_lib

AggregatorType = aggregator_factory.AggregatorType


@dataclasses.dataclass(frozen=True)
class ServerView:
    """Each audited client's message as the server decodes it.

    Attributes:
      messages: per client, its decoded (encoded, clipped) update, flat.
      item_rows: per client, the item rows its message carries (sparse
        rows only, else None).
      message_bytes: per client, the encoded message's size.
    """

    messages: list[list[np.ndarray]]
    item_rows: list[np.ndarray] | None
    message_bytes: list[int]

    def cohort_sum(self, members: np.ndarray) -> list[np.ndarray]:
        """The sum of the messages of clients at positions `members`."""
        return [
            np.sum([self.messages[m][i] for m in members], axis=0)
            for i in range(len(self.messages[0]))
        ]


def codec_of(config: threat_model.Configuration) -> codec_lib.UpdateCodec:
    """The update encoding of `config`."""
    settings = config.settings
    return codec_lib.UpdateCodec(
        bits=settings.get("quantize_bits"),
        topk_fraction=settings.get("topk_fraction"),
        sparse_rows=bool(settings.get("sparse_item_updates", False)),
        decoy_rows=int(settings.get("decoy_rows", 0)),
    )


def dp_clip(config: threat_model.Configuration) -> tuple[float, int] | None:
    """The clip a DP configuration applies on the client: (bound, norm order).

    The adaptive clip is taken at its initial value (it moves each round).
    """
    if not config.is_dp:
        return None
    aggregator = AggregatorType(config.settings["aggregator"])
    clip = config.settings.get("clip")
    if aggregator is AggregatorType.DP_GAUSSIAN_ADAPTIVE:
        initial = config.settings.get("initial_clip")
        return (
            aggregator_factory.DEFAULT_INITIAL_CLIP if initial is None else initial
        ), 2
    clip = aggregator_factory.DEFAULT_CLIP if clip is None else clip
    return clip, 1 if aggregator is AggregatorType.DP_LAPLACE else 2


def clip_update(update: list[np.ndarray], bound: float, order: int) -> list[np.ndarray]:
    """`update` scaled to global L`order` norm at most `bound` (as the DP
    queries clip: `tf.clip_by_global_norm` for L2, the L1 analogue)."""
    if order == 2:
        norm = float(np.sqrt(sum(float(np.sum(np.square(t))) for t in update)))
    else:
        norm = float(sum(float(np.sum(np.abs(t))) for t in update))
    if norm <= bound:
        return [t.copy() for t in update]
    return [t * np.float32(bound / norm) for t in update]


def server_view(
    uploads: uploads_lib.Uploads, config: threat_model.Configuration, *, seed: int = 0
) -> ServerView:
    """Each upload of `uploads` encoded and clipped as `config`'s clients do.

    Args:
      uploads: the clients' raw updates.
      config: the configuration.
      seed: seeds the encoder's randomness (stochastic rounding, decoys),
        through TensorFlow's global seed, which stays set.
    """
    codec = codec_of(config)
    clip = dp_clip(config)
    specs = uploads.specs
    item_group = None
    if codec.sparse_rows:
        item = uploads.position(mf.ITEM_EMBEDDING)
        item_group = next(
            j for j, group in enumerate(sparsify.row_groups(specs)) if item in group
        )
    tf.random.set_seed(seed)
    messages, item_rows, sizes = [], [] if codec.sparse_rows else None, []
    for update in uploads.updates:
        payload = codec.encode([tf.constant(t) for t in update], specs)
        decoded = [np.asarray(t) for t in codec.decode(payload, specs)]
        if clip is not None:
            decoded = clip_update(decoded, *clip)
        messages.append(decoded)
        sizes.append(int(byte_counts.payload_bytes(payload)))
        if item_rows is not None:
            item_rows.append(np.asarray(payload[f"rows{item_group}"]).astype(np.int64))
    return ServerView(messages=messages, item_rows=item_rows, message_bytes=sizes)
