"""Loader of a generic delimited file of interactions with a header row.

The caller names the user, item, rating and timestamp columns; quoting
follows the csv module's defaults. There are no user or item features.
"""

from __future__ import annotations

import pathlib

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib
from tff_rec.data import parsing


def load_csv(
    path: parsing.PathLike,
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
    columns, rows = parsing.csv_rows(path, delimiter, required=required)
    table = parsing.parse_interactions(
        path,
        rows,
        user=columns[user_col],
        item=columns[item_col],
        rating=columns[rating_col] if rating_col else None,
        timestamp=columns.get(timestamp_col) if timestamp_col else None,
    )
    return parsing.build(path, table, {}, {}, name=path.stem)
