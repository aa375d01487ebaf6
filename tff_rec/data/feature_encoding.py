"""Integer and multi-hot encodings of user and item side information.

User features (age, gender, occupation, zip code) belong to the user: in a
federated run each client sends its own with its examples. Item features
(genres, release year) are public catalogue metadata that a model looks up
by item id (see `tff_rec.models.feature_model`).

Every categorical index reserves 0 for "unknown" (a missing or unparsable
value), so a user or item without side information still has a valid index.
Vocabularies are sorted, so the encoding does not depend on row order.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib

# The order of the user-feature inputs of `tff_rec.models.feature_model`.
USER_FEATURE_NAMES = ("age", "gender", "occupation", "zip_region")
# Raw columns of `Interactions.user_features` / `.item_features` they come from.
REQUIRED_USER_COLUMNS = ("age", "gender", "occupation", "zip_code")
REQUIRED_ITEM_COLUMNS = ("genres", "year")

UNKNOWN = 0
# Lower bounds of MovieLens-1M's age groups after "under 18": the buckets are
# 1: <18, 2: 18-24, 3: 25-34, 4: 35-44, 5: 45-49, 6: 50-55, 7: 56+. ML-1M's
# age codes (1, 18, 25, ...) fall in the bucket they name.
AGE_BOUNDS = (18, 25, 35, 45, 50, 56)
AGE_SIZE = len(AGE_BOUNDS) + 2
# Zip regions: 1 + the first digit (1..10) for zips starting with a digit,
# `ZIP_OTHER` for any other zip (e.g. Canadian "T8H1N"); missing is 0.
ZIP_OTHER = 11
ZIP_REGION_SIZE = ZIP_OTHER + 1
# Release years are bucketed by decade (1995 -> 1990).
YEAR_BUCKET_WIDTH = 10


@dataclasses.dataclass(frozen=True)
class UserFeatures:
    """Per-user feature indices, one entry per remapped user id.

    Attributes:
      age: int32 age bucket (see `AGE_BOUNDS`), 0 if unknown.
      gender: int32, 1 + position in `gender_vocab`, 0 if unknown.
      occupation: int32, 1 + position in `occupation_vocab`, 0 if unknown.
      zip_region: int32 (see `ZIP_OTHER`), 0 if unknown.
      gender_vocab: sorted gender values seen.
      occupation_vocab: sorted occupations seen.
    """

    age: np.ndarray
    gender: np.ndarray
    occupation: np.ndarray
    zip_region: np.ndarray
    gender_vocab: tuple[str, ...]
    occupation_vocab: tuple[str, ...]

    @property
    def age_size(self) -> int:
        return AGE_SIZE

    @property
    def gender_size(self) -> int:
        return len(self.gender_vocab) + 1

    @property
    def occupation_size(self) -> int:
        return len(self.occupation_vocab) + 1

    @property
    def zip_region_size(self) -> int:
        return ZIP_REGION_SIZE

    def sizes(self) -> collections.OrderedDict[str, int]:
        """Vocabulary size of each feature, in `USER_FEATURE_NAMES` order."""
        return collections.OrderedDict(
            (name, getattr(self, f"{name}_size")) for name in USER_FEATURE_NAMES
        )

    def columns(self) -> collections.OrderedDict[str, np.ndarray]:
        """Each feature's per-user array, in `USER_FEATURE_NAMES` order."""
        return collections.OrderedDict(
            (name, getattr(self, name)) for name in USER_FEATURE_NAMES
        )

    def lookup(self, users: np.ndarray) -> collections.OrderedDict[str, np.ndarray]:
        """The features of each user in `users` (remapped ids), per feature."""
        users = np.asarray(users)
        return collections.OrderedDict(
            (name, column[users]) for name, column in self.columns().items()
        )


@dataclasses.dataclass(frozen=True)
class ItemFeatures:
    """Per-item features, one row per remapped item id.

    Attributes:
      genres: float32 ``[num_items, num_genres]`` multi-hot (all zero when an
        item has no genre).
      year_bucket: int32 ``[num_items]``, 1 + position of the item's decade in
        `decade_vocab`, 0 if the year is unknown.
      genre_vocab: sorted genre names, the columns of `genres`.
      decade_vocab: sorted first years of the decades seen (1990 for 1995).
    """

    genres: np.ndarray
    year_bucket: np.ndarray
    genre_vocab: tuple[str, ...]
    decade_vocab: tuple[int, ...]

    @property
    def num_items(self) -> int:
        return len(self.year_bucket)

    @property
    def num_genres(self) -> int:
        return len(self.genre_vocab)

    @property
    def year_bucket_size(self) -> int:
        return len(self.decade_vocab) + 1


def encode_user_features(
    interactions: interactions_lib.Interactions,
) -> UserFeatures:
    """Encodes `interactions.user_features` as integer indices.

    Args:
      interactions: a table whose `user_features` has the columns
        `REQUIRED_USER_COLUMNS` (MovieLens-100K and -1M have them).

    Returns:
      A `UserFeatures` with one entry per user.

    Raises:
      errors.UserInputError: if a required column is missing, naming it and
        the dataset.
      ValueError: if a column does not have one value per user.
    """
    columns = _columns(
        interactions.user_features,
        REQUIRED_USER_COLUMNS,
        interactions.num_users,
        "user",
        interactions.name,
    )
    genders = [_category(v) for v in columns["gender"]]
    occupations = [_category(v) for v in columns["occupation"]]
    gender_vocab, gender = _index(genders)
    occupation_vocab, occupation = _index(occupations)
    return UserFeatures(
        age=np.array([_age_bucket(v) for v in columns["age"]], np.int32),
        gender=gender,
        occupation=occupation,
        zip_region=np.array([_zip_region(v) for v in columns["zip_code"]], np.int32),
        gender_vocab=gender_vocab,
        occupation_vocab=occupation_vocab,
    )


def encode_item_features(
    interactions: interactions_lib.Interactions,
) -> ItemFeatures:
    """Encodes `interactions.item_features` as a genre multi-hot and decades.

    Args:
      interactions: a table whose `item_features` has the columns
        `REQUIRED_ITEM_COLUMNS` (every MovieLens loader gives them).

    Returns:
      An `ItemFeatures` with one row per item.

    Raises:
      errors.UserInputError: if a required column is missing or no item has
        a genre, naming the feature and the dataset.
      ValueError: if a column does not have one value per item.
    """
    columns = _columns(
        interactions.item_features,
        REQUIRED_ITEM_COLUMNS,
        interactions.num_items,
        "item",
        interactions.name,
    )
    item_genres = [
        tuple(_category(g) for g in (value or ())) for value in columns["genres"]
    ]
    genre_vocab = tuple(sorted({g for genres in item_genres for g in genres if g}))
    if not genre_vocab:
        raise errors.UserInputError(
            f"dataset {interactions.name!r} has no item with a genre; the "
            "feature model needs item genres."
        )
    genre_index = {g: i for i, g in enumerate(genre_vocab)}
    multi_hot = np.zeros((interactions.num_items, len(genre_vocab)), np.float32)
    for row, genres in enumerate(item_genres):
        for genre in genres:
            if genre:
                multi_hot[row, genre_index[genre]] = 1.0
    decades = [_decade(v) for v in columns["year"]]
    decade_vocab, year_bucket = _index(decades)
    return ItemFeatures(
        genres=multi_hot,
        year_bucket=year_bucket,
        genre_vocab=genre_vocab,
        decade_vocab=decade_vocab,
    )


def _columns(features, required, rows, side, dataset):
    missing = [name for name in required if name not in features]
    if missing:
        raise errors.UserInputError(
            f"dataset {dataset!r} has no {side} feature(s) {', '.join(missing)}; "
            f"the feature model needs {side} features {', '.join(required)} "
            "(MovieLens-100K and -1M provide them)."
        )
    for name in required:
        if len(features[name]) != rows:
            raise ValueError(
                f"{side} feature {name!r} has {len(features[name])} values, "
                f"expected {rows} (one per {side})."
            )
    return {name: features[name] for name in required}


def _index(values: Sequence) -> tuple[tuple, np.ndarray]:
    """Sorted vocabulary of the non-None values and 1-based indices (None: 0)."""
    vocab = tuple(sorted({v for v in values if v is not None}))
    position = {v: i + 1 for i, v in enumerate(vocab)}
    return vocab, np.array(
        [UNKNOWN if v is None else position[v] for v in values], np.int32
    )


def _category(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _to_int(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if math.isfinite(value) else None
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _age_bucket(value) -> int:
    age = _to_int(value)
    if age is None or age < 1:
        return UNKNOWN
    return bisect.bisect_right(AGE_BOUNDS, age) + 1


def _zip_region(value) -> int:
    text = _category(value)
    if text is None:
        return UNKNOWN
    first = text[0]
    return int(first) + 1 if first.isascii() and first.isdigit() else ZIP_OTHER


def _decade(value) -> int | None:
    year = _to_int(value)
    if year is None or year < 1:
        return None
    return year - year % YEAR_BUCKET_WIDTH
