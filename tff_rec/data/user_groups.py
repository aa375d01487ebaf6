"""The group each user belongs to, for partitions that group users.

A user's group is the value of one of the user's features, with zip codes
grouped by their first digit (`ZIP_PREFIX`), or a label: a user feature, or
the dominant genre of the items the user rated (`GENRE`).
`partition.partition_by_attribute` makes one client per group;
`partition.partition_dirichlet` spreads the users of each label over clients.
"""

from __future__ import annotations

import numpy as np

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib

ZIP_PREFIX = "zip_prefix"
GENRE = "genre"
# Group of users whose zip code is missing or does not start with a digit.
OTHER_GROUP = "other"
# Group of users whose attribute (other than the zip prefix) is missing.
UNKNOWN_GROUP = "unknown"


def _available_user_features(
    interactions: interactions_lib.Interactions,
) -> list[str]:
    names = sorted(interactions.user_features)
    if "zip_code" in interactions.user_features:
        names.append(ZIP_PREFIX)
    return names


def user_attribute(
    interactions: interactions_lib.Interactions, name: str, argument: str
) -> list[str]:
    """Returns the value of user feature `name` per user, as group names.

    Args:
      interactions: the interactions whose user features are read.
      name: a user feature name, or `ZIP_PREFIX`: the first character of
        'zip_code', with missing or non-digit zip codes in `OTHER_GROUP`.
        Users with a missing value of another feature are in `UNKNOWN_GROUP`.
      argument: what `name` is called in the error message ("attribute").

    Returns:
      The group name of each user, indexed by the remapped user id.

    Raises:
      UserInputError: `name` is not a user feature; the message lists those
        that are.
    """
    features = interactions.user_features
    if name == ZIP_PREFIX and "zip_code" in features:
        return [
            str(z)[0] if z is not None and str(z)[:1].isdigit() else OTHER_GROUP
            for z in features["zip_code"]
        ]
    if name not in features:
        available = ", ".join(repr(n) for n in _available_user_features(interactions))
        raise errors.UserInputError(
            f"{argument}={name!r} is not a user feature of '{interactions.name}'; "
            f"available: {available or 'none'}."
        )
    return [UNKNOWN_GROUP if v is None else str(v) for v in features[name]]


def user_labels(interactions: interactions_lib.Interactions, label: str) -> np.ndarray:
    """Returns an integer label code per user (users without rows get any).

    Args:
      interactions: the interactions.
      label: `GENRE`, the most frequent first genre among the items a user
        rated (ties to the alphabetically first; items without genres count
        as `UNKNOWN_GROUP`), or a user feature name as for `user_attribute`.

    Returns:
      The label code (int64) of each user, indexed by the remapped user id.

    Raises:
      UserInputError: `label` is not a user feature, or is `GENRE` and the
        items have no 'genres' feature.
    """
    if label != GENRE:
        values = user_attribute(interactions, label, "label")
        return np.unique(values, return_inverse=True)[1]
    genres = interactions.item_features.get("genres")
    if genres is None:
        raise errors.UserInputError(
            f"label='genre' needs the item feature 'genres', which "
            f"'{interactions.name}' lacks; use a user feature as label instead "
            f"(available: {', '.join(_available_user_features(interactions))})."
        )
    first = [g[0] if g else UNKNOWN_GROUP for g in genres]
    names, item_codes = np.unique(first, return_inverse=True)
    counts = np.zeros((interactions.num_users, len(names)), np.int64)
    np.add.at(counts, (interactions.users, item_codes[interactions.items]), 1)
    # argmax takes the first maximum: ties go to the alphabetically first genre.
    return counts.argmax(axis=1)
