"""Loaders that turn MovieLens and CSV files into `Interactions` tables.

Supported formats:

* RecBole atomic files (`<prefix>.inter`, `.user`, `.item`): tab separated
  with typed headers such as `user_id:token`; what `download` fetches.
* GroupLens MovieLens-100K originals (`u.data`, `u.user`, `u.item`,
  `u.genre`), MovieLens-1M (`ratings.dat`, `users.dat`, `movies.dat`) and
  MovieLens latest / latest-small (`ratings.csv`, `movies.csv`).
* A generic CSV file with a header row.

Side files (users, items) are optional: when absent the table has no features
for them; when present they must parse. Features use the same names for
every format: users have `age` (int), `gender`, `occupation`, `zip_code`
(str); items have `title` (str, as written in the file), `genres` (tuple of
str) and `year` (int, or None when the file gives none).

Every problem with a file raises `errors.DataFormatError` naming the file,
the 1-based line (where there is one) and the problem; nothing else escapes
from parsing. Interaction files are UTF-8 (a byte-order mark is allowed); the
MovieLens-100K/1M item files are Latin-1 in GroupLens' originals, so item
files of those two formats fall back to Latin-1 when they are not UTF-8.

MovieLens: F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets:
History and Context", ACM Transactions on Interactive Intelligent Systems
5(4), 2015, doi:10.1145/2827872.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from absl import logging

from tff_rec import errors
from tff_rec.data import download
from tff_rec.data import interactions as interactions_lib

DEFAULT_DATASET = "ml-100k"
DATASETS = (
    "ml-100k",
    "ml-100k-original",
    "ml-1m",
    "ml-latest",
    "ml-latest-small",
    "csv",
)

# Genre flag columns of u.item, in order, when u.genre is absent.
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

# Occupation codes of MovieLens-1M users.dat (from the dataset's README).
ML1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)

# MovieLens-latest marks movies without genres with this pseudo-genre.
_NO_GENRES = "(no genres listed)"
_CSV_OPTIONS = ("user_col", "item_col", "rating_col", "timestamp_col", "delimiter")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")

_PathLike = str | os.PathLike


class _Table(NamedTuple):
    """Parsed interaction columns, before ids are remapped."""

    users: list[str]
    items: list[str]
    ratings: list[float]
    timestamps: list[int] | None


_Rows = Iterator[tuple[int, list[str]]]
# A feature extractor gets the fields of one line and returns the value, or
# raises ValueError with a message that describes the problem.
_Extractor = Callable[[Sequence[str]], object]


# ---------------------------------------------------------------------------
# Public loaders.


def load_recbole_atomic(
    directory: _PathLike, prefix: str = "ml-100k"
) -> interactions_lib.Interactions:
    """Loads RecBole atomic files `<prefix>.inter` (+ `.user`, `.item`).

    The files are tab separated; the first line names the columns with a type,
    e.g. `user_id:token`, and columns are found by the name before the colon.
    `.inter` needs `user_id` and `item_id`; `rating` (1.0 when absent) and
    `timestamp` (None when absent) are optional. `.user` gives `age`, `gender`,
    `occupation`, `zip_code`; `.item` gives `movie_title` (as `title`),
    `release_year` (as `year`; from a trailing "(1995)" in the title when not
    a number) and `class` or `genre` (space separated, as `genres`).

    Args:
      directory: the directory holding the files.
      prefix: the common file name before the extension.

    Returns:
      The interactions, named `prefix`.

    Raises:
      errors.DataFormatError: a file is missing (`.inter`) or malformed.
    """
    directory = pathlib.Path(directory)
    inter_path = directory / f"{prefix}.inter"
    columns, rows = _headed_rows(
        inter_path, "\t", required=("user_id", "item_id"), column=_recbole_column
    )
    table = _parse_interactions(
        inter_path,
        rows,
        user=columns["user_id"],
        item=columns["item_id"],
        rating=columns.get("rating"),
        timestamp=columns.get("timestamp"),
    )

    user_features = {}
    user_path = directory / f"{prefix}.user"
    if user_path.exists():
        columns, rows = _headed_rows(
            user_path, "\t", required=("user_id",), column=_recbole_column
        )
        extractors = {
            name: _extract_field(columns[name], convert)
            for name, convert in (
                ("age", _to_age),
                ("gender", str.strip),
                ("occupation", str.strip),
                ("zip_code", str.strip),
            )
            if name in columns
        }
        user_features = _parse_side(
            user_path, rows, columns["user_id"], "user id", extractors
        )

    item_features = {}
    item_path = directory / f"{prefix}.item"
    if item_path.exists():
        columns, rows = _headed_rows(
            item_path, "\t", required=("item_id",), column=_recbole_column
        )
        extractors = {}
        title = columns.get("movie_title")
        if title is not None:
            extractors["title"] = _extract_field(title, str.strip)
        genre = columns.get("class", columns.get("genre"))
        if genre is not None:
            extractors["genres"] = _extract_field(genre, _split_genres(" "))
        if "release_year" in columns or title is not None:
            extractors["year"] = _year_extractor(columns.get("release_year"), title)
        item_features = _parse_side(
            item_path, rows, columns["item_id"], "item id", extractors
        )

    return _build(inter_path, table, user_features, item_features, name=prefix)


def load_ml100k(directory: _PathLike) -> interactions_lib.Interactions:
    """Loads the GroupLens MovieLens-100K originals.

    `u.data` (tab separated: user, item, rating, timestamp) is required;
    `u.user` (`id|age|gender|occupation|zip`), `u.item` (`id|title|release
    date|video release date|url|` then one 0/1 flag per genre) and `u.genre`
    (`name|index`, naming the flag columns; the 19 standard genres when
    absent) are optional.

    Args:
      directory: the directory holding the files (e.g. the unzipped `ml-100k/`).

    Returns:
      The interactions, named `ml-100k`.

    Raises:
      errors.DataFormatError: `u.data` is missing, or a file is malformed.
    """
    directory = pathlib.Path(directory)
    data_path = directory / "u.data"
    table = _parse_interactions(
        data_path,
        _split_rows(data_path, "\t", 4),
        user=0,
        item=1,
        rating=2,
        timestamp=3,
    )

    user_features = {}
    user_path = directory / "u.user"
    if user_path.exists():
        user_features = _parse_side(
            user_path,
            _split_rows(user_path, "|", 5),
            0,
            "user id",
            {
                "age": _extract_field(1, _to_age),
                "gender": _extract_field(2, str.strip),
                "occupation": _extract_field(3, str.strip),
                "zip_code": _extract_field(4, str.strip),
            },
        )

    item_features = {}
    item_path = directory / "u.item"
    if item_path.exists():
        genre_path = directory / "u.genre"
        genres = (
            _read_ml100k_genres(genre_path) if genre_path.exists() else ML100K_GENRES
        )
        item_features = _parse_side(
            item_path,
            _split_rows(item_path, "|", 5 + len(genres), latin1_fallback=True),
            0,
            "item id",
            {
                "title": _extract_field(1, str.strip),
                "genres": _genre_flags(5, genres),
                "year": _ml100k_year,
            },
        )

    return _build(data_path, table, user_features, item_features, name="ml-100k")


def load_ml1m(directory: _PathLike) -> interactions_lib.Interactions:
    """Loads the GroupLens MovieLens-1M files.

    `ratings.dat` (`UserID::MovieID::Rating::Timestamp`) is required;
    `users.dat` (`UserID::Gender::Age::Occupation::Zip-code`; the age is the
    dataset's age-group code and the occupation code becomes its name from the
    dataset's README) and `movies.dat` (`MovieID::Title::Genres`, genres `|`
    separated, the year taken from "(1995)" at the end of the title) are
    optional.

    Args:
      directory: the directory holding the files (e.g. the unzipped `ml-1m/`).

    Returns:
      The interactions, named `ml-1m`.

    Raises:
      errors.DataFormatError: `ratings.dat` is missing, or a file is malformed.
    """
    directory = pathlib.Path(directory)
    ratings_path = directory / "ratings.dat"
    table = _parse_interactions(
        ratings_path,
        _split_rows(ratings_path, "::", 4),
        user=0,
        item=1,
        rating=2,
        timestamp=3,
    )

    user_features = {}
    user_path = directory / "users.dat"
    if user_path.exists():
        user_features = _parse_side(
            user_path,
            _split_rows(user_path, "::", 5),
            0,
            "user id",
            {
                "gender": _extract_field(1, str.strip),
                "age": _extract_field(2, _to_age),
                "occupation": _extract_field(3, _ml1m_occupation),
                "zip_code": _extract_field(4, str.strip),
            },
        )

    item_features = {}
    item_path = directory / "movies.dat"
    if item_path.exists():
        item_features = _parse_side(
            item_path,
            _split_rows(item_path, "::", 3, latin1_fallback=True),
            0,
            "item id",
            _title_genres_extractors(1, 2),
        )

    return _build(ratings_path, table, user_features, item_features, name="ml-1m")


def load_ml_latest(directory: _PathLike) -> interactions_lib.Interactions:
    """Loads MovieLens latest or latest-small (`ratings.csv`, `movies.csv`).

    `ratings.csv` needs the columns `userId`, `movieId`, `rating`; `timestamp`
    is optional. `movies.csv` (optional) has `movieId`, `title`, `genres`
    (`|` separated; "(no genres listed)" gives no genres), the year is taken
    from "(1995)" at the end of the title. There are no user features.

    Args:
      directory: the directory holding the files.

    Returns:
      The interactions, named `ml-latest`.

    Raises:
      errors.DataFormatError: `ratings.csv` is missing, or a file is malformed.
    """
    directory = pathlib.Path(directory)
    ratings_path = directory / "ratings.csv"
    columns, rows = _csv_rows(
        ratings_path, ",", required=("userId", "movieId", "rating")
    )
    table = _parse_interactions(
        ratings_path,
        rows,
        user=columns["userId"],
        item=columns["movieId"],
        rating=columns["rating"],
        timestamp=columns.get("timestamp"),
    )

    item_features = {}
    item_path = directory / "movies.csv"
    if item_path.exists():
        columns, rows = _csv_rows(
            item_path, ",", required=("movieId", "title", "genres")
        )
        item_features = _parse_side(
            item_path,
            rows,
            columns["movieId"],
            "movie id",
            _title_genres_extractors(columns["title"], columns["genres"]),
        )

    return _build(ratings_path, table, {}, item_features, name="ml-latest")


def load_csv(
    path: _PathLike,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    delimiter: str = ",",
) -> interactions_lib.Interactions:
    """Loads interactions from a delimited file with a header row.

    Args:
      path: the file.
      user_col: the column holding user ids.
      item_col: the column holding item ids.
      rating_col: the column holding ratings; it must exist. None means the
        data are implicit feedback and every rating is 1.0.
      timestamp_col: the column holding integer event times. When None or
        when the file has no such column, timestamps are None.
      delimiter: the one-character field separator; quoting follows the csv
        module's defaults (double quotes).

    Returns:
      The interactions, named after the file's stem.

    Raises:
      errors.UserInputError: an argument is not valid.
      errors.DataFormatError: the file is missing or malformed.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise errors.UserInputError(
            f"delimiter={delimiter!r} must be one character other than a quote or "
            "newline, e.g. ',' or '\\t'"
        )
    for arg, value in (("user_col", user_col), ("item_col", item_col)):
        if not isinstance(value, str) or not value:
            raise errors.UserInputError(f"{arg}={value!r} must be a column name")
    path = pathlib.Path(path)
    required = [user_col, item_col] + ([rating_col] if rating_col else [])
    columns, rows = _csv_rows(path, delimiter, required=required)
    table = _parse_interactions(
        path,
        rows,
        user=columns[user_col],
        item=columns[item_col],
        rating=columns[rating_col] if rating_col else None,
        timestamp=columns.get(timestamp_col) if timestamp_col else None,
    )
    return _build(path, table, {}, {}, name=path.stem)


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: _PathLike | None = None,
    *,
    cache_dir: _PathLike | None = None,
    **csv_options,
) -> interactions_lib.Interactions:
    """Loads a dataset by name.

    * `ml-100k`: RecBole atomic files from `data_dir` (or its `ml-100k/`
      subdirectory), or the GroupLens originals when it holds `u.data`
      instead. Without `data_dir`, fetched by `download.ensure_movielens_100k`.
    * `ml-100k-original`, `ml-1m`, `ml-latest`, `ml-latest-small`: the
      GroupLens files in `data_dir` (or in its subdirectory of that name).
    * `csv`: `data_dir` is a CSV file, or a directory with exactly one `.csv`
      file; `csv_options` go to `load_csv`.

    Args:
      name: one of `DATASETS`, case-insensitive.
      data_dir: where the files are. None is allowed only for `ml-100k`.
      cache_dir: the download cache for `ml-100k` without `data_dir`; None
        means `download.cache_dir()`.
      **csv_options: keyword arguments of `load_csv`, only for `csv`.

    Returns:
      The interactions, with `name` set to the dataset name.

    Raises:
      errors.UserInputError: unknown name, missing `data_dir`, bad options.
      errors.DataFormatError: a file is missing or malformed.
      errors.DataUnavailableError: ML-100K cannot be found or downloaded.
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
    elif key == "csv":
        data = load_csv(_find_csv(data_dir), **csv_options)
    else:
        loader, primary = {
            "ml-100k-original": (load_ml100k, "u.data"),
            "ml-1m": (load_ml1m, "ratings.dat"),
            "ml-latest": (load_ml_latest, "ratings.csv"),
            "ml-latest-small": (load_ml_latest, "ratings.csv"),
        }[key]
        data = loader(_find_dir(key, data_dir, primary))
    return dataclasses.replace(data, name=key)


# ---------------------------------------------------------------------------
# Dataset resolution.


def _load_ml100k_any(
    data_dir: _PathLike | None, cache_dir: _PathLike | None
) -> interactions_lib.Interactions:
    if data_dir is None:
        return load_recbole_atomic(download.ensure_movielens_100k(cache_dir))
    base = pathlib.Path(data_dir).expanduser()
    for directory in (base, base / "ml-100k"):
        if (directory / "ml-100k.inter").is_file():
            return load_recbole_atomic(directory)
        if (directory / "u.data").is_file():
            return load_ml100k(directory)
    raise errors.DataUnavailableError(
        f"{base} holds neither ml-100k.inter (RecBole atomic files) nor u.data "
        "(GroupLens original files); pass --data_dir=<dir containing ml-100k.inter, "
        "ml-100k.user, ml-100k.item> or leave it unset to download the data"
    )


def _find_dir(key: str, data_dir: _PathLike | None, primary: str) -> pathlib.Path:
    if data_dir is None:
        raise errors.UserInputError(
            f"dataset {key!r} is not downloaded automatically; pass data_dir "
            f"(--data_dir) = a directory containing {primary}"
        )
    base = pathlib.Path(data_dir).expanduser()
    if not (base / primary).is_file() and (base / key / primary).is_file():
        return base / key
    return base


def _find_csv(data_dir: _PathLike | None) -> pathlib.Path:
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


# ---------------------------------------------------------------------------
# Reading files.


def _read_text(path: pathlib.Path, *, latin1_fallback: bool = False) -> str:
    """Returns the file's text; UTF-8 (or Latin-1 when allowed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise errors.DataFormatError(path, "file not found") from None
    except IsADirectoryError:
        raise errors.DataFormatError(path, "is a directory, not a file") from None
    except OSError as e:
        raise errors.DataFormatError(path, f"cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if latin1_fallback:
            return data.decode("latin-1")
        raise errors.DataFormatError(
            path,
            f"byte 0x{data[e.start]:02x} is not valid UTF-8; save the file as UTF-8",
            data.count(b"\n", 0, e.start) + 1,
        ) from None


def _lines(path: pathlib.Path, text: str) -> Iterator[tuple[int, str]]:
    """Yields (1-based line number, line) for the non-blank lines."""
    found = False
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            found = True
            yield number, line
    if not found:
        raise errors.DataFormatError(path, "file is empty", 1)


def _split_rows(
    path: pathlib.Path, sep: str, num_fields: int, *, latin1_fallback: bool = False
) -> _Rows:
    """Yields the fields of each line of a headerless `sep`-separated file."""
    text = _read_text(path, latin1_fallback=latin1_fallback)
    for number, line in _lines(path, text):
        fields = line.split(sep)
        if len(fields) != num_fields:
            raise _field_count_error(path, number, num_fields, len(fields), sep)
        yield number, fields


def _headed_rows(
    path: pathlib.Path,
    sep: str,
    *,
    required: Sequence[str],
    column: Callable[[str], str] = str.strip,
) -> tuple[dict[str, int], _Rows]:
    """Reads the header of a `sep`-separated file.

    Returns:
      The column index by name (`column` turns a header field into a name)
      and an iterator over the fields of the remaining lines.
    """
    lines = _lines(path, _read_text(path))
    number, header = next(lines)
    fields = header.split(sep)
    columns = _columns(path, number, [column(f) for f in fields], required)

    def rows() -> _Rows:
        for number, line in lines:
            values = line.split(sep)
            if len(values) != len(fields):
                raise _field_count_error(path, number, len(fields), len(values), sep)
            yield number, values

    return columns, rows()


def _csv_rows(
    path: pathlib.Path, delimiter: str, *, required: Sequence[str]
) -> tuple[dict[str, int], _Rows]:
    """Like `_headed_rows`, for files with csv-module quoting."""
    reader = csv.reader(
        io.StringIO(_read_text(path), newline=""), delimiter=delimiter, strict=True
    )

    def records() -> _Rows:
        number = 0
        try:
            for record in reader:
                if any(field.strip() for field in record):
                    yield number + 1, record
                number = reader.line_num
        except csv.Error as e:
            raise errors.DataFormatError(
                path, f"malformed CSV: {e}", reader.line_num or 1
            ) from None

    rows = records()
    try:
        number, header = next(rows)
    except StopIteration:
        raise errors.DataFormatError(path, "file is empty", 1) from None
    columns = _columns(path, number, [f.strip() for f in header], required)

    def data() -> _Rows:
        for number, record in rows:
            if len(record) != len(header):
                raise _field_count_error(
                    path, number, len(header), len(record), delimiter
                )
            yield number, record

    return columns, data()


def _columns(
    path: pathlib.Path, number: int, names: Sequence[str], required: Sequence[str]
) -> dict[str, int]:
    """Returns the index of each column name, checking the header."""
    columns = {}
    for position, name in enumerate(names):
        if not name:
            raise errors.DataFormatError(
                path, f"header column {position + 1} has no name", number
            )
        if name in columns:
            raise errors.DataFormatError(
                path, f"duplicate column {name!r} in the header", number
            )
        columns[name] = position
    for name in required:
        if name not in columns:
            raise errors.DataFormatError(
                path,
                f"missing required column {name!r} (the header has: "
                f"{', '.join(names)})",
                number,
            )
    return columns


def _recbole_column(field: str) -> str:
    """`user_id:token` -> `user_id`."""
    return field.split(":", 1)[0].strip()


def _field_count_error(
    path: pathlib.Path, number: int, expected: int, found: int, sep: str
) -> errors.DataFormatError:
    return errors.DataFormatError(
        path, f"expected {expected} {sep!r}-separated fields, found {found}", number
    )


# ---------------------------------------------------------------------------
# Parsing values.


def _parse_interactions(
    path: pathlib.Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    user: int,
    item: int,
    rating: int | None,
    timestamp: int | None,
) -> _Table:
    """Parses interaction rows: ids, ratings (1.0 if no column), timestamps."""
    users, items, ratings = [], [], []
    timestamps = None if timestamp is None else []
    for number, fields in rows:
        raw_user = fields[user].strip()
        raw_item = fields[item].strip()
        if not raw_user or not raw_item:
            what = "user id" if not raw_user else "item id"
            raise errors.DataFormatError(path, f"{what} is empty", number)
        users.append(raw_user)
        items.append(raw_item)
        ratings.append(1.0 if rating is None else _rating(path, number, fields[rating]))
        if timestamps is not None:
            timestamps.append(_timestamp(path, number, fields[timestamp]))
    if not users:
        raise errors.DataFormatError(path, "no interactions in the file", 2)
    return _Table(users, items, ratings, timestamps)


def _rating(path: pathlib.Path, number: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise errors.DataFormatError(
            path, f"rating {text!r} is not a number", number
        ) from None
    if not -_FLOAT32_MAX <= value <= _FLOAT32_MAX:
        raise errors.DataFormatError(
            path, f"rating {text!r} is not a finite float32 number", number
        )
    return value


def _timestamp(path: pathlib.Path, number: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        try:
            real = float(text)
        except ValueError:
            real = None
        if real is None or not real.is_integer():
            raise errors.DataFormatError(
                path, f"timestamp {text!r} is not an integer", number
            ) from None
        value = int(real)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise errors.DataFormatError(
            path, f"timestamp {text!r} does not fit in 64 bits", number
        )
    return value


def _parse_side(
    path: pathlib.Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    id_index: int,
    id_name: str,
    extractors: Mapping[str, _Extractor],
) -> dict[str, dict[str, object]]:
    """Parses a user or item file into feature name -> {raw id -> value}."""
    features = {name: {} for name in extractors}
    first_line = {}
    for number, fields in rows:
        raw_id = fields[id_index].strip()
        if not raw_id:
            raise errors.DataFormatError(path, f"{id_name} is empty", number)
        if raw_id in first_line:
            raise errors.DataFormatError(
                path,
                f"duplicate {id_name} {raw_id!r} (first on line {first_line[raw_id]})",
                number,
            )
        first_line[raw_id] = number
        for name, extract in extractors.items():
            try:
                features[name][raw_id] = extract(fields)
            except ValueError as e:
                raise errors.DataFormatError(path, str(e), number) from None
    return features


def _extract_field(index: int, convert: Callable[[str], object]) -> _Extractor:
    return lambda fields: convert(fields[index])


def _to_age(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not an integer") from None


def _ml1m_occupation(text: str) -> str:
    code = text.strip()
    if code.isdigit() and code.isascii() and int(code) < len(ML1M_OCCUPATIONS):
        return ML1M_OCCUPATIONS[int(code)]
    return code


def _split_genres(sep: str) -> Callable[[str], tuple[str, ...]]:
    def split(text: str) -> tuple[str, ...]:
        return tuple(g for g in (g.strip() for g in text.split(sep)) if g)

    return split


def _title_year(title: str) -> int | None:
    match = _TITLE_YEAR.search(title)
    return int(match.group(1)) if match else None


def _year_extractor(year: int | None, title: int | None) -> _Extractor:
    """A year column that is a number, else the "(1995)" in the title."""

    def extract(fields: Sequence[str]) -> int | None:
        if year is not None:
            text = fields[year].strip()
            if text.isdigit() and text.isascii():
                return int(text)
        return None if title is None else _title_year(fields[title])

    return extract


def _title_genres_extractors(title: int, genres: int) -> dict[str, _Extractor]:
    """Extractors for `title`, `genres` (`|` separated) and the title's year."""
    split = _split_genres("|")
    return {
        "title": _extract_field(title, str.strip),
        "genres": lambda fields: tuple(
            g for g in split(fields[genres]) if g != _NO_GENRES
        ),
        "year": lambda fields: _title_year(fields[title]),
    }


def _ml100k_year(fields: Sequence[str]) -> int | None:
    """The year of u.item's release date (`01-Jan-1995`), else of the title."""
    date = fields[2].strip()
    tail = date.rsplit("-", 1)[-1]
    if len(tail) == 4 and tail.isdigit() and tail.isascii():
        return int(tail)
    return _title_year(fields[1])


def _genre_flags(first: int, genres: Sequence[str]) -> _Extractor:
    def extract(fields: Sequence[str]) -> tuple[str, ...]:
        flags = fields[first : first + len(genres)]
        for name, flag in zip(genres, flags, strict=False):
            if flag.strip() not in ("0", "1"):
                raise ValueError(f"genre flag {name!r} is {flag!r}, expected 0 or 1")
        return tuple(g for g, f in zip(genres, flags, strict=False) if f.strip() == "1")

    return extract


def _read_ml100k_genres(path: pathlib.Path) -> tuple[str, ...]:
    """Reads u.genre (`name|index` per line) into names ordered by index."""
    by_index = {}
    for number, (name, index) in _split_rows(path, "|", 2):
        if not index.strip().isdigit() or not index.strip().isascii():
            raise errors.DataFormatError(
                path, f"genre index {index!r} is not a non-negative integer", number
            )
        if int(index) in by_index:
            raise errors.DataFormatError(
                path, f"duplicate genre index {int(index)}", number
            )
        by_index[int(index)] = name.strip()
    if sorted(by_index) != list(range(len(by_index))):
        raise errors.DataFormatError(
            path, f"genre indices {sorted(by_index)} are not 0..{len(by_index) - 1}"
        )
    return tuple(by_index[i] for i in range(len(by_index)))


def _build(
    path: pathlib.Path,
    table: _Table,
    user_features: Mapping[str, Mapping[str, object]],
    item_features: Mapping[str, Mapping[str, object]],
    *,
    name: str,
) -> interactions_lib.Interactions:
    data = interactions_lib.from_raw_ids(
        table.users,
        table.items,
        table.ratings,
        table.timestamps,
        user_features=user_features,
        item_features=item_features,
        name=name,
    )
    logging.info(
        "Loaded %d interactions of %d users and %d items from %s.",
        len(data),
        data.num_users,
        data.num_items,
        path,
    )
    return data
