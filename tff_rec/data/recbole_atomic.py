"""Loader of RecBole atomic files (`<prefix>.inter`, `.user`, `.item`).

Atomic files are tab separated with typed headers such as `user_id:token`;
they are what `download` fetches for MovieLens-100K.

RecBole: Wayne Xin Zhao et al., "RecBole: Towards a Unified, Comprehensive
and Efficient Framework for Recommendation Algorithms", CIKM 2021,
arXiv:2011.01731.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import parsing


def load_recbole_atomic(
    directory: parsing.PathLike, prefix: str = "ml-100k"
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
    columns, rows = parsing.headed_rows(
        inter_path, "\t", required=("user_id", "item_id"), column=_recbole_column
    )
    table = parsing.parse_interactions(
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
        columns, rows = parsing.headed_rows(
            user_path, "\t", required=("user_id",), column=_recbole_column
        )
        extractors = {
            name: parsing.extract_field(columns[name], convert)
            for name, convert in (
                ("age", parsing.to_age),
                ("gender", str.strip),
                ("occupation", str.strip),
                ("zip_code", str.strip),
            )
            if name in columns
        }
        user_features = parsing.parse_side(
            user_path, rows, columns["user_id"], "user id", extractors
        )

    item_features = {}
    item_path = directory / f"{prefix}.item"
    if item_path.exists():
        columns, rows = parsing.headed_rows(
            item_path, "\t", required=("item_id",), column=_recbole_column
        )
        extractors = {}
        title = columns.get("movie_title")
        if title is not None:
            extractors["title"] = parsing.extract_field(title, str.strip)
        genre = columns.get("class", columns.get("genre"))
        if genre is not None:
            extractors["genres"] = parsing.extract_field(
                genre, parsing.split_genres(" ")
            )
        if "release_year" in columns or title is not None:
            extractors["year"] = _year_extractor(columns.get("release_year"), title)
        item_features = parsing.parse_side(
            item_path, rows, columns["item_id"], "item id", extractors
        )

    return parsing.build(inter_path, table, user_features, item_features, name=prefix)


def _recbole_column(field: str) -> str:
    """`user_id:token` -> `user_id`."""
    return field.split(":", 1)[0].strip()


def _year_extractor(year: int | None, title: int | None) -> parsing.Extractor:
    """A year column that is a number, else the "(1995)" in the title."""

    def extract(fields: Sequence[str]) -> int | None:
        if year is not None:
            text = fields[year].strip()
            if text.isdigit() and text.isascii():
                return int(text)
        return None if title is None else parsing.title_year(fields[title])

    return extract
