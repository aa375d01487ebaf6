"""The message one client sends: its model update, sparsified and quantized.

`UpdateCodec` turns the tensors of a model update into a payload of named
tensors (`encode`) and back (`decode`):

1. selection: all coordinates (dense), the top-k coordinates of each tensor
   (``topk_fraction``), or only the touched rows of the embedding tables
   (``sparse_rows``, optionally padded with ``decoy_rows`` zero rows); see
   `tff_rec.compression.sparsify`;
2. values: float32, or ``bits``-bit codes packed into bytes plus a float32
   scale per tensor; see `tff_rec.compression.quantization`. With a shared
   scale (secure aggregation) no scale is sent and every tensor is quantized,
   so the whole update can be summed as integers.

Payload keys are ``t<i>/values``, ``t<i>/codes``, ``t<i>/scale``,
``t<i>/indices`` (top-k positions of tensor i) and ``rows<j>`` (the row
indices shared by the tables of group j). The payload's tensors are what a
client would transmit; `tff_rec.compression.byte_counts.payload_bytes` counts
them. Tensors of a single element (e.g. a global bias) are sent as they are,
except under a shared scale.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Sequence

import tensorflow as tf

from tff_rec import errors
from tff_rec.compression import quantization
from tff_rec.compression import sparsify

Payload = collections.OrderedDict


@dataclasses.dataclass(frozen=True)
class NormBound:
    """A norm the decoded update must not exceed (a DP clip).

    Attributes:
      bound: the clip, > 0.
      order: 2 for an L2 clip (Gaussian mechanism), 1 for L1 (Laplace).
    """

    bound: float
    order: int = 2


@dataclasses.dataclass(frozen=True)
class UpdateCodec:
    """How a client encodes its model update.

    Attributes:
      bits: quantize values to this many bits (2..16); None sends float32.
      topk_fraction: send only this fraction (0, 1] of each tensor's
        coordinates, the largest in magnitude; None sends all.
      sparse_rows: send only the nonzero rows of the embedding tables, with
        their indices.
      decoy_rows: with `sparse_rows`, also send this many untouched rows
        (zeros), chosen at random, per group of tables.
      stochastic: stochastic (unbiased) rather than nearest rounding.
    """

    bits: int | None = None
    topk_fraction: float | None = None
    sparse_rows: bool = False
    decoy_rows: int = 0
    stochastic: bool = True

    def __post_init__(self):
        if self.bits is not None:
            quantization.check_bits(self.bits, "quantize_bits")
        if self.topk_fraction is not None and not 0 < self.topk_fraction <= 1:
            raise errors.UserInputError(
                f"topk_fraction must be in (0, 1], got {self.topk_fraction}"
            )
        if self.topk_fraction is not None and self.sparse_rows:
            raise errors.UserInputError(
                "topk_fraction and sparse_item_updates are alternatives: top-k "
                "already sends only nonzero coordinates; choose one"
            )
        if not isinstance(self.decoy_rows, int) or self.decoy_rows < 0:
            raise errors.UserInputError(
                f"decoy_rows must be an integer >= 0, got {self.decoy_rows!r}"
            )
        if self.decoy_rows and not self.sparse_rows:
            raise errors.UserInputError(
                f"decoy_rows={self.decoy_rows} only applies to sparse item "
                "updates (sparse_item_updates)"
            )

    @property
    def is_identity(self) -> bool:
        """True when the payload is the dense float32 update itself."""
        return self.bits is None and self.topk_fraction is None and not self.sparse_rows

    def _compressed(self, spec: tf.TensorSpec, shared: bool) -> bool:
        return spec.dtype.is_floating and (shared or spec.shape.num_elements() > 1)

    def encode(
        self,
        tensors: Sequence[tf.Tensor],
        specs: Sequence[tf.TensorSpec],
        *,
        shared_scale: tf.Tensor | float | None = None,
        norm_bound: NormBound | None = None,
    ) -> Payload:
        """Encodes the update `tensors` (with static `specs`) into a payload.

        Args:
          tensors: the update, flat.
          specs: their static specs.
          shared_scale: the quantization step every client uses (secure
            aggregation); None means each tensor's own scale, sent along.
          norm_bound: with a shared scale, codes whose decoded update would
            exceed this norm are rounded toward zero instead, so the decoded
            update never has a larger norm than the clipped one (DP
            sensitivity).

        Returns:
          The payload, an ordered dict of named tensors.
        """
        shared = shared_scale is not None
        if shared and self.bits is None:
            raise ValueError("a shared scale needs bits")
        payload = Payload()
        selected: dict[int, tf.Tensor] = {}
        grouped = set()
        if self.sparse_rows:
            for j, group in enumerate(sparsify.row_groups(specs)):
                num_rows = int(specs[group[0]].shape[0])
                rows = sparsify.touched_rows([tensors[i] for i in group])
                rows = sparsify.add_decoys(rows, num_rows, self.decoy_rows)
                payload[f"rows{j}"] = tf.cast(rows, sparsify.index_dtype(num_rows))
                for i in group:
                    selected[i] = tf.gather(tensors[i], rows)
                    grouped.add(i)
        for i, (tensor, spec) in enumerate(zip(tensors, specs, strict=True)):
            if i in grouped:
                continue
            if self.topk_fraction is not None and self._compressed(spec, False):
                indices, values = sparsify.top_k(tensor, self.topk_fraction)
                payload[f"t{i}/indices"] = indices
                selected[i] = values
            else:
                selected[i] = tensor
        quantized = [i for i, s in enumerate(specs) if self._compressed(s, shared)]
        if self.bits is None:
            quantized = []
        codes = {}
        for i in quantized:
            codes[i], scale = quantization.quantize(
                selected[i],
                self.bits,
                scale=shared_scale,
                stochastic=self.stochastic,
            )
            if not shared:
                payload[f"t{i}/scale"] = scale
        if shared and norm_bound is not None:
            codes = self._bound_norm(codes, selected, shared_scale, norm_bound)
        for i in range(len(specs)):
            if i in codes:
                payload[f"t{i}/codes"] = quantization.pack_codes(codes[i], self.bits)
            else:
                payload[f"t{i}/values"] = selected[i]
        return Payload(sorted(payload.items()))

    def _bound_norm(self, codes, selected, scale, norm_bound):
        decoded = [quantization.dequantize(c, scale) for c in codes.values()]
        if norm_bound.order == 1:
            norm = tf.add_n([tf.reduce_sum(tf.abs(d)) for d in decoded])
        else:
            norm = tf.linalg.global_norm(decoded)
        too_large = norm > norm_bound.bound
        return {
            i: tf.cond(
                too_large,
                lambda i=i: quantization.round_toward_zero(
                    selected[i], self.bits, scale
                ),
                lambda i=i: codes[i],
            )
            for i in codes
        }

    def decode(
        self,
        payload: Payload,
        specs: Sequence[tf.TensorSpec],
        *,
        shared_scale: tf.Tensor | float | None = None,
    ) -> list[tf.Tensor]:
        """Dense float tensors (shaped as `specs`) from a payload."""
        return self._decode(payload, specs, shared_scale=shared_scale, as_codes=False)

    def decode_codes(
        self, payload: Payload, specs: Sequence[tf.TensorSpec]
    ) -> list[tf.Tensor]:
        """Dense int32 codes (shaped as `specs`) of a shared-scale payload."""
        return self._decode(payload, specs, shared_scale=None, as_codes=True)

    def _decode(self, payload, specs, *, shared_scale, as_codes):
        row_of = {}
        for j, group in enumerate(sparsify.row_groups(specs)):
            if f"rows{j}" in payload:
                for i in group:
                    row_of[i] = tf.cast(payload[f"rows{j}"], tf.int32)
        tensors = []
        for i, spec in enumerate(specs):
            shape = spec.shape.as_list()
            if i in row_of:
                count = tf.size(row_of[i]) * shape[1]
            elif f"t{i}/indices" in payload:
                count = sparsify.topk_count(math.prod(shape), self.topk_fraction)
            else:
                count = math.prod(shape)
            if f"t{i}/codes" in payload:
                values = quantization.unpack_codes(
                    payload[f"t{i}/codes"], self.bits, count
                )
                if not as_codes:
                    scale = payload.get(f"t{i}/scale", shared_scale)
                    values = quantization.dequantize(values, scale)
            else:
                values = tf.reshape(payload[f"t{i}/values"], [-1])
            if i in row_of:
                values = sparsify.scatter_rows(
                    row_of[i], tf.reshape(values, [-1, shape[1]]), shape
                )
            elif f"t{i}/indices" in payload:
                values = sparsify.scatter_flat(payload[f"t{i}/indices"], values, shape)
            else:
                values = tf.reshape(values, shape)
            if not as_codes:
                values = tf.cast(values, spec.dtype)
            tensors.append(values)
        return tensors
