"""One place that builds every model-update aggregator a process can use.

The differentially private aggregators implement DP-FedAvg of McMahan, Ramage,
Talwar and Zhang, "Learning Differentially Private Recurrent Language Models",
ICLR 2018, arXiv:1710.06963: clip each client's update, sum, add noise, divide
by the expected number of clients. `DP_GAUSSIAN_ADAPTIVE` adapts the L2 clip to
a quantile of the update norms, Andrew, Thakkar, McMahan and Ramaswamy,
"Differentially Private Learning with Adaptive Clipping", NeurIPS 2021,
arXiv:1905.03871. Secure summation is that of Bonawitz et al., "Practical
Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017.

DP aggregators are unweighted: weighting by example counts would let one
client's weight scale its contribution past the clip. Pair them with
`build_unweighted_fed_avg` or `build_fed_recon(..., weighted=False)`.

DP with secure summation (``secure=True``): the DP query clips each record on
the client, TFF's `SecureSumFactory` sums the clipped records with
`federated_secure_sum_bitwidth`, and the query adds the noise to the sum on the
server (central DP over a securely computed sum, the composition that
`tff.aggregators.DifferentiallyPrivateFactory`'s `record_aggregation_factory`
argument allows). A record clipped to norm C (L2 or L1) has every coordinate in
[-C, C], so the secure sum's bounds are [-C, C]: its clamping never changes a
record and its 32-bit quantization moves a coordinate by at most C / 2**32.
That needs a clip known when the process is built, so `DP_GAUSSIAN_ADAPTIVE`
with ``secure=True`` is refused: its clip moves every round inside the DP
query's server state, which the bounds of TFF 0.87's `SecureSumFactory`
(constants, or a separate `EstimationProcess` that cannot read that state)
cannot follow. TFF's own secure route for adaptive clipping,
`tff.learning.ddp_secure_aggregator`, is a different mechanism (distributed
discrete noise added by clients).

TFF 0.87's native C++ runtime does not execute secure intrinsics (it fails
with "Cannot embed a federated value"): secure processes run on a
secure-aggregation backend, or in simulation after
`tensorflow_federated.python.core.backends.test.compiler.
replace_secure_intrinsics_with_bodies`.

Compression (``quantize_bits``, ``topk_fraction``, ``sparse_rows``): each
client encodes its update before it is aggregated, and the aggregator reports
the encoded bytes (`tff_rec.compression.aggregation`, whose docstring explains
where DP noise and quantization happen). Quantization with ``secure=True``
sums the b-bit codes themselves securely, on a grid shared by all clients.
"""

from __future__ import annotations

import enum
import math

import tensorflow_federated as tff
import tensorflow_privacy as tfp

from tff_rec import errors
from tff_rec import settings
from tff_rec.aggregators import laplace
from tff_rec.aggregators import robust as robust_lib
from tff_rec.compression import aggregation as compression_lib
from tff_rec.compression import codec as codec_lib
from tff_rec.privacy import accounting

DEFAULT_CLIP = 1.0
DEFAULT_INITIAL_CLIP = 0.1
DEFAULT_TARGET_QUANTILE = 0.5
# `DifferentiallyPrivateFactory.gaussian_adaptive` noises the clipped count with
# stddev 0.05 * clients_per_round and needs noise_multiplier < 2 * that stddev.
_CLIPPED_COUNT_STDDEV_FRACTION = 0.05


class AggregatorType(enum.Enum):
    """How client model updates are combined into the server update."""

    MEAN = "mean"
    DP_GAUSSIAN_ADAPTIVE = "dp_gaussian_adaptive"
    DP_GAUSSIAN_FIXED = "dp_gaussian_fixed"
    DP_LAPLACE = "dp_laplace"

    @property
    def is_dp(self) -> bool:
        return self is not AggregatorType.MEAN


def min_clients_per_round_for_adaptive(noise_multiplier: float) -> int:
    """Smallest clients_per_round that `gaussian_adaptive` accepts.

    TFF raises ValueError unless ``noise_multiplier < 2 * 0.05 *
    clients_per_round`` (the default noise on the clipped count must be large
    enough to leave part of the privacy budget to the update itself).

    Args:
      noise_multiplier: the total noise multiplier (>= 0).

    Returns:
      The minimum number of clients per round (1 when there is no noise).
    """
    if noise_multiplier <= 0:
        return 1

    def accepted(clients: int) -> bool:
        # The exact float expression of TFF's check.
        stddev = _CLIPPED_COUNT_STDDEV_FRACTION * float(clients)
        return not noise_multiplier >= 2 * stddev

    clients = max(1, int(noise_multiplier / (2 * _CLIPPED_COUNT_STDDEV_FRACTION)))
    while not accepted(clients):
        clients += 1
    while clients > 1 and accepted(clients - 1):
        clients -= 1
    return clients


def _recommended_clients(noise_multiplier: float) -> int:
    """Fewest clients for which TFF adds under 2x the noise to the update.

    TFF's update noise multiplier is ``(z**-2 - (2 s)**-2)**-0.5`` with
    ``s = 0.05 * clients_per_round``; it is below 2 z when ``2 s > 2 z /
    sqrt(3)``.
    """
    threshold = 2 * noise_multiplier / math.sqrt(3)
    clients = min_clients_per_round_for_adaptive(noise_multiplier)
    while not 2 * _CLIPPED_COUNT_STDDEV_FRACTION * clients > threshold:
        clients += 1
    return clients


def check_options(
    aggregator: AggregatorType | str,
    *,
    weighted: bool = False,
    noise_multiplier: float | None = None,
    clients_per_round: int | None = None,
    clip: float | None = None,
    target_quantile: float | None = None,
    initial_clip: float | None = None,
    secure: bool = False,
    noise_calibrated: bool = False,
) -> AggregatorType:
    """Checks an aggregator's options, as `configure_aggregator` takes them.

    Every rule of an aggregator's options is here, once: `configure_aggregator`
    calls it, and so does a run's configuration before any data is loaded
    (`tff_rec.privacy.config`).

    Args:
      aggregator, weighted, noise_multiplier, clients_per_round, clip,
        target_quantile, initial_clip, secure: as for `configure_aggregator`.
      noise_calibrated: the noise multiplier is not known yet (it will be
        calibrated to a target epsilon): a missing one is not an error, and
        the checks that need it are left to `configure_aggregator`.

    Returns:
      The `AggregatorType`.

    Raises:
      UserInputError: the first rule broken, naming the option, the value
        received and what is allowed.
    """
    aggregator = errors.parse_enum(AggregatorType, aggregator, "aggregator")
    if aggregator is AggregatorType.MEAN:
        _reject_unused(
            aggregator,
            noise_multiplier=noise_multiplier,
            clip=clip,
            target_quantile=target_quantile,
            initial_clip=initial_clip,
        )
        return aggregator
    if weighted:
        raise errors.UserInputError(
            f"aggregator={aggregator.value!r} is differentially private and DP "
            "aggregators are unweighted (every client's clipped update counts "
            "the same, which is what bounds its influence); use "
            "algorithm=fedavg_unweighted or fedrecon"
        )
    if noise_multiplier is not None:
        accounting.check_noise_multiplier(noise_multiplier)
    elif not noise_calibrated:
        raise errors.UserInputError(
            f"aggregator={aggregator.value!r} needs noise_multiplier, or "
            "target_epsilon to calibrate it from rounds and clients_per_round"
        )
    if clients_per_round is None:
        raise errors.UserInputError(
            f"aggregator={aggregator.value} needs clients_per_round (the "
            "denominator of the noised mean)"
        )
    settings.check_at_least("clients_per_round", clients_per_round, 1)
    if aggregator is AggregatorType.DP_GAUSSIAN_ADAPTIVE:
        _reject_unused(aggregator, clip=clip)
        if secure:
            raise errors.UserInputError(
                "secure aggregation cannot be combined with dp_gaussian_adaptive: "
                "TFF 0.87's secure sum needs a clip fixed at build time; use "
                "dp_gaussian_fixed or dp_laplace with it"
            )
        if initial_clip is not None:
            settings.check_positive("initial_clip", initial_clip)
        if target_quantile is not None:
            settings.check_between("target_quantile", target_quantile, 0.0, 1.0)
        if noise_multiplier is not None:
            _check_adaptive_cohort(noise_multiplier, clients_per_round)
        return aggregator
    _reject_unused(
        aggregator, target_quantile=target_quantile, initial_clip=initial_clip
    )
    if clip is not None:
        settings.check_positive("clip", clip)
    return aggregator


def _check_adaptive_cohort(noise_multiplier: float, clients_per_round: int) -> None:
    minimum = min_clients_per_round_for_adaptive(noise_multiplier)
    if clients_per_round < minimum:
        raise errors.UserInputError(
            f"clients_per_round={clients_per_round} is too small for "
            f"dp_gaussian_adaptive with noise_multiplier={noise_multiplier}: "
            f"the clipped-count noise needs clients_per_round >= {minimum} "
            f"(>= {_recommended_clients(noise_multiplier)} to keep the update "
            "noise under 2x noise_multiplier)"
        )


def _reject_unused(aggregator: AggregatorType, **options: float | None) -> None:
    for name, value in options.items():
        if value is not None:
            raise errors.UserInputError(
                f"{name}={value} has no effect with aggregator={aggregator.value}"
            )


def _secure_record_sum(bound: float) -> tff.aggregators.SecureSumFactory:
    # Coordinates of a record clipped to norm `bound` lie in [-bound, bound].
    return tff.aggregators.SecureSumFactory(
        upper_bound_threshold=float(bound), lower_bound_threshold=-float(bound)
    )


def configure_aggregator(
    *,
    aggregator: AggregatorType | str = AggregatorType.MEAN,
    weighted: bool = True,
    noise_multiplier: float | None = None,
    clients_per_round: int | None = None,
    clip: float | None = None,
    target_quantile: float | None = None,
    initial_clip: float | None = None,
    secure: bool = False,
    robust: bool = False,
    quantize_bits: int | None = None,
    topk_fraction: float | None = None,
    sparse_rows: bool = False,
    decoy_rows: int = 0,
    count_bytes: bool = False,
) -> tff.aggregators.AggregationFactory:
    """Builds the model-update aggregation factory for a learning process.

    Args:
      aggregator: an `AggregatorType` (or its string value).
      weighted: whether the process weights clients by their examples. Only
        `MEAN` can be weighted; DP aggregators need False.
      noise_multiplier: DP noise relative to the clip (Gaussian stddev or
        Laplace scale divided by the clip); required for DP aggregators, 0
        adds no noise.
      clients_per_round: the (expected) clients per round, the public
        denominator of the DP mean; required for DP aggregators, ignored by
        `MEAN`.
      clip: the fixed clip: the L2 norm bound for `DP_GAUSSIAN_FIXED`, the L1
        norm bound for `DP_LAPLACE`. None means `DEFAULT_CLIP`.
      target_quantile: quantile of update norms the adaptive clip tracks, in
        (0, 1). None means `DEFAULT_TARGET_QUANTILE`.
      initial_clip: the adaptive clip's starting value. None means
        `DEFAULT_INITIAL_CLIP`.
      secure: sum client values with TFF's secure summation: for `MEAN` this is
        `tff.learning.secure_aggregator`; for `DP_GAUSSIAN_FIXED` and
        `DP_LAPLACE` the clipped records are summed securely and the noise is
        added to the sum (see the module docstring).
      robust: wrap the aggregator with `robust.robust_aggregator`: every
        aggregator drops updates with non-finite values; the plain (insecure)
        mean also zeroes updates above an adaptive norm and clips to another
        (TFF's `robust_aggregator`). DP aggregators clip already and TFF's
        secure mean zeroes and clips with securely estimated norms, so they
        get the non-finite check only.
      quantize_bits: quantize each client's update to this many bits (2..16)
        before it is sent; None sends float32. With ``secure=True`` the codes
        themselves are summed securely on a shared grid (see
        `tff_rec.compression.aggregation`).
      topk_fraction: send only this fraction (0, 1] of each tensor's
        coordinates, the largest in magnitude (no error feedback: TFF clients
        keep no state between rounds). None sends all.
      sparse_rows: send only the touched rows of the embedding tables and
        their indices. Whoever sees a client's message learns which items it
        rated (see `tff_rec.compression.sparsify`).
      decoy_rows: with `sparse_rows`, pad each message with this many random
        untouched (zero) rows; needs ``secure=True``, since only then are the
        values hidden and a zero row indistinguishable from a rated one.
      count_bytes: report ``bytes_up`` and ``dense_bytes_up`` even without
        compression (the compression options always report them).

    Returns:
      A `tff.aggregators.WeightedAggregationFactory` for weighted `MEAN`, else a
      `tff.aggregators.UnweightedAggregationFactory`.

    Raises:
      UserInputError: for an unknown aggregator, DP with ``weighted=True``,
        missing or out-of-range DP settings, settings the aggregator does not
        use, too few clients_per_round for the adaptive clip's noise,
        ``secure=True`` with `DP_GAUSSIAN_ADAPTIVE`, out-of-range compression
        options, or decoy rows without ``secure=True``.
    """
    # Taken first so that every option (but `robust`) reaches the inner call.
    options = dict(locals())
    aggregator = check_options(
        aggregator,
        weighted=weighted,
        noise_multiplier=noise_multiplier,
        clients_per_round=clients_per_round,
        clip=clip,
        target_quantile=target_quantile,
        initial_clip=initial_clip,
        secure=secure,
    )
    if robust:
        inner = configure_aggregator(**{**options, "robust": False})
        return robust_lib.robust_aggregator(
            inner,
            adaptive_norms=aggregator is AggregatorType.MEAN and not secure,
            secure=secure,
        )
    codec = codec_lib.UpdateCodec(
        bits=quantize_bits,
        topk_fraction=topk_fraction,
        sparse_rows=sparse_rows,
        decoy_rows=decoy_rows,
    )
    if count_bytes or not codec.is_identity:
        return _with_compression(aggregator, codec, options)
    if aggregator is AggregatorType.MEAN:
        if secure:
            return tff.learning.secure_aggregator(weighted=weighted)
        if weighted:
            return tff.aggregators.MeanFactory()
        return tff.aggregators.UnweightedMeanFactory()

    noise_multiplier = float(noise_multiplier)
    clients = float(clients_per_round)

    if aggregator is AggregatorType.DP_GAUSSIAN_ADAPTIVE:
        if initial_clip is None:
            initial_clip = DEFAULT_INITIAL_CLIP
        if target_quantile is None:
            target_quantile = DEFAULT_TARGET_QUANTILE
        return tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
            noise_multiplier,
            clients,
            initial_l2_norm_clip=initial_clip,
            target_unclipped_quantile=float(target_quantile),
        )

    clip = DEFAULT_CLIP if clip is None else float(clip)
    record_sum = _secure_record_sum(clip) if secure else None
    if aggregator is AggregatorType.DP_GAUSSIAN_FIXED:
        if record_sum is None:
            return tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
                noise_multiplier, clients, clip
            )
        query = tfp.NormalizedQuery(
            tfp.GaussianSumQuery(l2_norm_clip=clip, stddev=clip * noise_multiplier),
            denominator=clients,
        )
        return tff.aggregators.DifferentiallyPrivateFactory(
            query, record_aggregation_factory=record_sum
        )
    return laplace.laplace_aggregator(
        noise_multiplier=noise_multiplier,
        clients_per_round=clients,
        l1_clip=clip,
        record_aggregation_factory=record_sum,
    )


_NO_COMPRESSION = dict(
    quantize_bits=None,
    topk_fraction=None,
    sparse_rows=False,
    decoy_rows=0,
    count_bytes=False,
)


def _with_compression(
    aggregator: AggregatorType,
    codec: codec_lib.UpdateCodec,
    options: dict[str, object],
) -> tff.aggregators.AggregationFactory:
    """The aggregator of `options` with client updates encoded by `codec`."""
    secure = options["secure"]
    compression_lib.check_decoys(codec.decoy_rows, secure)
    # Builds (and so validates) the uncompressed aggregator in every case.
    plain = configure_aggregator(**{**options, **_NO_COMPRESSION})
    if not (secure and codec.bits is not None):
        return compression_lib.compress_updates(plain, codec)
    if aggregator is AggregatorType.MEAN:
        return compression_lib.secure_quantized_mean(
            codec, weighted=options["weighted"]
        )
    # DP_GAUSSIAN_FIXED or DP_LAPLACE (adaptive + secure was refused above):
    # the clipped records' codes on the grid [-clip, clip] are summed securely.
    clip = DEFAULT_CLIP if options["clip"] is None else float(options["clip"])
    noise_multiplier = float(options["noise_multiplier"])
    clients = float(options["clients_per_round"])
    laplace_noise = aggregator is AggregatorType.DP_LAPLACE
    record_sum = compression_lib.SecureQuantizedSumFactory(
        codec,
        value_range=clip,
        norm_bound=codec_lib.NormBound(clip, order=1 if laplace_noise else 2),
    )
    if laplace_noise:
        return laplace.laplace_aggregator(
            noise_multiplier=noise_multiplier,
            clients_per_round=clients,
            l1_clip=clip,
            record_aggregation_factory=record_sum,
        )
    query = tfp.NormalizedQuery(
        tfp.GaussianSumQuery(l2_norm_clip=clip, stddev=clip * noise_multiplier),
        denominator=clients,
    )
    return tff.aggregators.DifferentiallyPrivateFactory(
        query, record_aggregation_factory=record_sum
    )
