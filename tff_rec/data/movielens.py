"""Loaders of the GroupLens MovieLens files.

* MovieLens-100K originals: `u.data`, `u.user`, `u.item`, `u.genre`.
* MovieLens-1M: `ratings.dat`, `users.dat`, `movies.dat`.
* MovieLens latest / latest-small: `ratings.csv`, `movies.csv`.

Side files (users, items) are optional: when absent the table has no features
for them; when present they must parse. The MovieLens-100K/1M item files are
Latin-1 in GroupLens' originals, so item files of those two formats fall back
to Latin-1 when they are not UTF-8.

MovieLens: F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets:
History and Context", ACM Transactions on Interactive Intelligent Systems
5(4), 2015, doi:10.1145/2827872.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import parsing

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


def load_ml100k(directory: parsing.PathLike) -> interactions_lib.Interactions:
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
    return _load_headerless(
        directory,
        name="ml-100k",
        ratings="u.data",
        users="u.user",
        items="u.item",
        ratings_sep="\t",
        side_sep="|",
        user_fields={
            "age": parsing.extract_field(1, parsing.to_age),
            "gender": parsing.extract_field(2, str.strip),
            "occupation": parsing.extract_field(3, str.strip),
            "zip_code": parsing.extract_field(4, str.strip),
        },
        item_fields=_ml100k_item_fields,
    )


def load_ml1m(directory: parsing.PathLike) -> interactions_lib.Interactions:
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
    return _load_headerless(
        directory,
        name="ml-1m",
        ratings="ratings.dat",
        users="users.dat",
        items="movies.dat",
        ratings_sep="::",
        side_sep="::",
        user_fields={
            "gender": parsing.extract_field(1, str.strip),
            "age": parsing.extract_field(2, parsing.to_age),
            "occupation": parsing.extract_field(3, _ml1m_occupation),
            "zip_code": parsing.extract_field(4, str.strip),
        },
        item_fields=lambda directory: (3, _title_genres_extractors(1, 2)),
    )


def load_ml_latest(directory: parsing.PathLike) -> interactions_lib.Interactions:
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
    columns, rows = parsing.csv_rows(
        ratings_path, ",", required=("userId", "movieId", "rating")
    )
    table = parsing.parse_interactions(
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
        columns, rows = parsing.csv_rows(
            item_path, ",", required=("movieId", "title", "genres")
        )
        item_features = parsing.parse_side(
            item_path,
            rows,
            columns["movieId"],
            "movie id",
            _title_genres_extractors(columns["title"], columns["genres"]),
        )

    return parsing.build(ratings_path, table, {}, item_features, name="ml-latest")


def _load_headerless(
    directory: parsing.PathLike,
    *,
    name: str,
    ratings: str,
    users: str,
    items: str,
    ratings_sep: str,
    side_sep: str,
    user_fields: Mapping[str, parsing.Extractor],
    item_fields: Callable[[pathlib.Path], tuple[int, Mapping[str, parsing.Extractor]]],
) -> interactions_lib.Interactions:
    """Loads one of GroupLens' headerless formats (MovieLens-100K or -1M).

    Both have a required ratings file (user, item, rating, timestamp), an
    optional user file (the id, then four features) and an optional item file
    (the id first; Latin-1 allowed).

    Args:
      directory: the directory holding the files.
      name: the name the interactions get.
      ratings: the file name of the ratings.
      users: the file name of the user features.
      items: the file name of the item features.
      ratings_sep: the field separator of the ratings file.
      side_sep: the field separator of the user and item files.
      user_fields: the extractor of each user feature.
      item_fields: given the directory, the number of fields of an item line
        and the extractor of each item feature; called only when the item
        file exists.

    Returns:
      The interactions.

    Raises:
      errors.DataFormatError: the ratings file is missing, or a file is
        malformed.
    """
    directory = pathlib.Path(directory)
    ratings_path = directory / ratings
    table = parsing.parse_interactions(
        ratings_path,
        parsing.split_rows(ratings_path, ratings_sep, 4),
        user=0,
        item=1,
        rating=2,
        timestamp=3,
    )

    user_features = {}
    user_path = directory / users
    if user_path.exists():
        user_features = parsing.parse_side(
            user_path,
            parsing.split_rows(user_path, side_sep, 5),
            0,
            "user id",
            user_fields,
        )

    item_features = {}
    item_path = directory / items
    if item_path.exists():
        num_fields, extractors = item_fields(directory)
        item_features = parsing.parse_side(
            item_path,
            parsing.split_rows(item_path, side_sep, num_fields, latin1_fallback=True),
            0,
            "item id",
            extractors,
        )

    return parsing.build(ratings_path, table, user_features, item_features, name=name)


def _ml100k_item_fields(
    directory: pathlib.Path,
) -> tuple[int, dict[str, parsing.Extractor]]:
    """The fields of u.item, whose genre flags are named by u.genre."""
    genre_path = directory / "u.genre"
    genres = _read_ml100k_genres(genre_path) if genre_path.exists() else ML100K_GENRES
    return 5 + len(genres), {
        "title": parsing.extract_field(1, str.strip),
        "genres": _genre_flags(5, genres),
        "year": _ml100k_year,
    }


def _ml1m_occupation(text: str) -> str:
    code = text.strip()
    if code.isdigit() and code.isascii() and int(code) < len(ML1M_OCCUPATIONS):
        return ML1M_OCCUPATIONS[int(code)]
    return code


def _title_genres_extractors(title: int, genres: int) -> dict[str, parsing.Extractor]:
    """Extractors for `title`, `genres` (`|` separated) and the title's year."""
    split = parsing.split_genres("|")
    return {
        "title": parsing.extract_field(title, str.strip),
        "genres": lambda fields: tuple(
            g for g in split(fields[genres]) if g != _NO_GENRES
        ),
        "year": lambda fields: parsing.title_year(fields[title]),
    }


def _ml100k_year(fields: Sequence[str]) -> int | None:
    """The year of u.item's release date (`01-Jan-1995`), else of the title."""
    date = fields[2].strip()
    tail = date.rsplit("-", 1)[-1]
    if len(tail) == 4 and tail.isdigit() and tail.isascii():
        return int(tail)
    return parsing.title_year(fields[1])


def _genre_flags(first: int, genres: Sequence[str]) -> parsing.Extractor:
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
    for number, (name, index) in parsing.split_rows(path, "|", 2):
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
