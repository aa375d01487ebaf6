"""The rating scale of a dataset: declared, never guessed from the ratings.

MovieLens declares its scale (1-5 stars for ML-100K and ML-1M, 0.5-5 in half
stars for ml-latest); a CSV file's scale is given by its user
(``--rating_scale=min,max``). Loading refuses ratings outside the declared
scale, and differentially private runs take their public global offset from
the scale only: the observed minimum and maximum of private ratings are a
release that no accountant covers (one user's rating of 99 would move it).

Example:
    scale = rating_scale.declared("csv", "1,10")
    rating_scale.check(interactions, scale, "csv")
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tff_rec import errors


@dataclasses.dataclass(frozen=True)
class RatingScale:
    """The lowest and highest rating a dataset allows (inclusive)."""

    low: float
    high: float

    @property
    def middle(self) -> float:
        return (self.low + self.high) / 2

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"


DECLARED = {
    "ml-100k": RatingScale(1.0, 5.0),
    "ml-100k-original": RatingScale(1.0, 5.0),
    "ml-1m": RatingScale(1.0, 5.0),
    "ml-latest": RatingScale(0.5, 5.0),
    "ml-latest-small": RatingScale(0.5, 5.0),
}


def parse(text: str) -> RatingScale:
    """``"min,max"`` (finite numbers, min < max) as a `RatingScale`.

    Raises:
      tff_rec.errors.UserInputError: naming ``rating_scale`` and the text.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise errors.UserInputError(
            f"rating_scale must be min,max (e.g. 1,5), got {text!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise errors.UserInputError(
            f"rating_scale must be two finite numbers min < max, got {text!r}"
        )
    return RatingScale(low, high)


def declared(dataset: str, given: str | None) -> RatingScale | None:
    """The scale of `dataset`: MovieLens's own, or `given` for ``csv``.

    Args:
      dataset: a dataset name of `tff_rec.data.loaders`.
      given: ``"min,max"`` from the user, or None.

    Returns:
      The scale; None for a CSV file without `given`.

    Raises:
      tff_rec.errors.UserInputError: `given` is malformed, or given for a
        dataset that declares its own scale.
    """
    if dataset in DECLARED:
        if given is not None:
            raise errors.UserInputError(
                f"rating_scale applies to dataset 'csv' only; {dataset} "
                f"declares its scale ({DECLARED[dataset]})"
            )
        return DECLARED[dataset]
    return None if given is None else parse(given)


def check(ratings: np.ndarray, scale: RatingScale | None, where: str) -> None:
    """Refuses ratings outside `scale` (none with no scale).

    Args:
      ratings: the loaded ratings.
      scale: the declared scale, or None.
      where: the data, for the message ("ml-1m", a file name).

    Raises:
      tff_rec.errors.UserInputError: how many ratings are outside, the first
        of them and the scale.
    """
    if scale is None:
        return
    outside = (ratings < scale.low) | (ratings > scale.high)
    count = int(np.count_nonzero(outside))
    if count:
        first = float(ratings[np.argmax(outside)])
        raise errors.UserInputError(
            f"{where}: {count:,} ratings outside the declared scale {scale} "
            f"(e.g. {first:g}); fix the data"
            + (", or pass the right --rating_scale" if where == "csv" else "")
        )


def public_offset(scale: RatingScale | None) -> float:
    """The global offset a DP run may use: the middle of the public scale.

    Raises:
      tff_rec.errors.UserInputError: no declared scale (a CSV file without
        ``--rating_scale``).
    """
    if scale is None:
        raise errors.UserInputError(
            "differentially private runs on csv data need --rating_scale=min,max "
            "(the public rating scale): the observed range of private ratings "
            "is not covered by the privacy guarantee"
        )
    return scale.middle
