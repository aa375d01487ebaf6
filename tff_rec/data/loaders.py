"""Loading a dataset by name: where its files are and which loader reads them.

Supported formats, each read by a module of its own:

* RecBole atomic files (`<prefix>.inter`, `.user`, `.item`):
  `recbole_atomic`; what `download` fetches.
* GroupLens MovieLens-100K originals, MovieLens-1M and MovieLens latest /
  latest-small: `movielens`.
* A generic CSV file with a header row: `generic_csv`.

`parsing` holds what they share: row readers, value parsers and the
`errors.DataFormatError` every problem with a file raises.
"""

from __future__ import annotations

import dataclasses
import pathlib

from tff_rec import errors
from tff_rec.data import download
from tff_rec.data import generic_csv
from tff_rec.data import grouplens
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import movielens
from tff_rec.data import parsing
from tff_rec.data import recbole_atomic

DEFAULT_DATASET = "ml-100k"
DATASETS = (
    "ml-100k",
    "ml-100k-original",
    "ml-1m",
    "ml-latest",
    "ml-latest-small",
    "csv",
)
_CSV_OPTIONS = ("user_col", "item_col", "rating_col", "timestamp_col", "delimiter")


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: parsing.PathLike | None = None,
    *,
    cache_dir: parsing.PathLike | None = None,
    **csv_options,
) -> interactions_lib.Interactions:
    """Loads a dataset by name.

    * `ml-100k`: RecBole atomic files from `data_dir` (or its `ml-100k/`
      subdirectory), or the GroupLens originals when it holds `u.data`
      instead. Without `data_dir`, fetched by `download.ensure_movielens_100k`.
    * `ml-100k-original`, `ml-1m`, `ml-latest`, `ml-latest-small`: the
      GroupLens files in `data_dir` (or in its subdirectory of that name).
    * `csv`: `data_dir` is a CSV file, or a directory with exactly one `.csv`
      file; `csv_options` go to `generic_csv.load_csv`.

    Args:
      name: one of `DATASETS`, case-insensitive.
      data_dir: where the files are. None is allowed only for `ml-100k`.
      cache_dir: the download cache for `ml-100k` and `ml-1m` without
        `data_dir`; None means `download.cache_dir()`.
      **csv_options: keyword arguments of `generic_csv.load_csv`, only for `csv`.

    Returns:
      The interactions, with `name` set to the dataset name.

    Raises:
      errors.UserInputError: unknown name, missing `data_dir`, bad options.
      errors.DataFormatError: a file is missing or malformed.
      errors.DataUnavailableError: ML-100K or ML-1M cannot be found or
        downloaded.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise errors.UserInputError(
            f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}"
        )
    if csv_options and key != "csv":
        raise errors.UserInputError(
            f"options {', '.join(sorted(csv_options))} apply only to dataset "
            f"'csv', not {key!r}"
        )
    unknown = sorted(set(csv_options) - set(_CSV_OPTIONS))
    if unknown:
        raise errors.UserInputError(
            f"unknown csv option {unknown[0]!r}; allowed: {', '.join(_CSV_OPTIONS)}"
        )

    if key == "ml-100k":
        data = _load_ml100k_any(data_dir, cache_dir)
    elif key == "ml-1m" and data_dir is None:
        data = movielens.load_ml1m(grouplens.ensure_movielens_1m(cache_dir))
    elif key == "csv":
        data = generic_csv.load_csv(_find_csv(data_dir), **csv_options)
    else:
        loader, primary = {
            "ml-100k-original": (movielens.load_ml100k, "u.data"),
            "ml-1m": (movielens.load_ml1m, "ratings.dat"),
            "ml-latest": (movielens.load_ml_latest, "ratings.csv"),
            "ml-latest-small": (movielens.load_ml_latest, "ratings.csv"),
        }[key]
        data = loader(_find_dir(key, data_dir, primary))
    return dataclasses.replace(data, name=key)


# ---------------------------------------------------------------------------
# Dataset resolution.


def _load_ml100k_any(
    data_dir: parsing.PathLike | None, cache_dir: parsing.PathLike | None
) -> interactions_lib.Interactions:
    if data_dir is None:
        return recbole_atomic.load_recbole_atomic(
            download.ensure_movielens_100k(cache_dir)
        )
    base = pathlib.Path(data_dir).expanduser()
    for directory in (base, base / "ml-100k"):
        if (directory / "ml-100k.inter").is_file():
            return recbole_atomic.load_recbole_atomic(directory)
        if (directory / "u.data").is_file():
            return movielens.load_ml100k(directory)
    raise errors.DataUnavailableError(
        f"{base} holds neither ml-100k.inter (RecBole atomic files) nor u.data "
        "(GroupLens original files); pass --data_dir=<dir containing ml-100k.inter, "
        "ml-100k.user, ml-100k.item> or leave it unset to download the data"
    )


def _find_dir(
    key: str, data_dir: parsing.PathLike | None, primary: str
) -> pathlib.Path:
    if data_dir is None:
        raise errors.UserInputError(
            f"dataset {key!r} is not downloaded automatically; pass data_dir "
            f"(--data_dir) = a directory containing {primary}"
        )
    base = pathlib.Path(data_dir).expanduser()
    if not (base / primary).is_file() and (base / key / primary).is_file():
        return base / key
    return base


def _find_csv(data_dir: parsing.PathLike | None) -> pathlib.Path:
    if data_dir is None:
        raise errors.UserInputError(
            "dataset 'csv' needs data_dir (--data_dir): a CSV file or a directory "
            "holding exactly one .csv file"
        )
    path = pathlib.Path(data_dir).expanduser()
    if not path.is_dir():
        return path
    found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
    if len(found) != 1:
        raise errors.UserInputError(
            f"data_dir={str(path)!r} holds {len(found)} .csv files "
            f"({', '.join(p.name for p in found) or 'none'}); pass the file itself"
        )
    return found[0]
