"""Row readers and value parsers shared by the interaction-file loaders.

Each format module (`recbole_atomic`, `movielens`, `generic_csv`) describes
its columns; this module reads the files and turns fields into values the
same way for all of them.

Features use the same names for every format: users have `age` (int),
`gender`, `occupation`, `zip_code` (str); items have `title` (str, as written
in the file), `genres` (tuple of str) and `year` (int, or None when the file
gives none).

Every problem with a file raises `errors.DataFormatError` naming the file,
the 1-based line (where there is one) and the problem; nothing else escapes
from parsing. Files are UTF-8 (a byte-order mark is allowed); `split_rows`
can fall back to Latin-1, for the item files GroupLens publishes in it.
"""

from __future__ import annotations

import csv
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
from tff_rec.data import interactions as interactions_lib

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")

PathLike = str | os.PathLike


class Table(NamedTuple):
    """Parsed interaction columns, before ids are remapped."""

    users: list[str]
    items: list[str]
    ratings: list[float]
    timestamps: list[int] | None


Rows = Iterator[tuple[int, list[str]]]
# A feature extractor gets the fields of one line and returns the value, or
# raises ValueError with a message that describes the problem.
Extractor = Callable[[Sequence[str]], object]


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


def split_rows(
    path: pathlib.Path, sep: str, num_fields: int, *, latin1_fallback: bool = False
) -> Rows:
    """Yields the fields of each line of a headerless `sep`-separated file."""
    text = _read_text(path, latin1_fallback=latin1_fallback)
    for number, line in _lines(path, text):
        fields = line.split(sep)
        if len(fields) != num_fields:
            raise _field_count_error(path, number, num_fields, len(fields), sep)
        yield number, fields


def headed_rows(
    path: pathlib.Path,
    sep: str,
    *,
    required: Sequence[str],
    column: Callable[[str], str] = str.strip,
) -> tuple[dict[str, int], Rows]:
    """Reads the header of a `sep`-separated file.

    Returns:
      The column index by name (`column` turns a header field into a name)
      and an iterator over the fields of the remaining lines.
    """
    lines = _lines(path, _read_text(path))
    number, header = next(lines)
    fields = header.split(sep)
    columns = _columns(path, number, [column(f) for f in fields], required)

    def rows() -> Rows:
        for number, line in lines:
            values = line.split(sep)
            if len(values) != len(fields):
                raise _field_count_error(path, number, len(fields), len(values), sep)
            yield number, values

    return columns, rows()


def csv_rows(
    path: pathlib.Path, delimiter: str, *, required: Sequence[str]
) -> tuple[dict[str, int], Rows]:
    """Like `headed_rows`, for files with csv-module quoting."""
    reader = csv.reader(
        io.StringIO(_read_text(path), newline=""), delimiter=delimiter, strict=True
    )

    def records() -> Rows:
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

    def data() -> Rows:
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


def _field_count_error(
    path: pathlib.Path, number: int, expected: int, found: int, sep: str
) -> errors.DataFormatError:
    return errors.DataFormatError(
        path, f"expected {expected} {sep!r}-separated fields, found {found}", number
    )


# ---------------------------------------------------------------------------
# Parsing values.


def parse_interactions(
    path: pathlib.Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    user: int,
    item: int,
    rating: int | None,
    timestamp: int | None,
) -> Table:
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
    return Table(users, items, ratings, timestamps)


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


def parse_side(
    path: pathlib.Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    id_index: int,
    id_name: str,
    extractors: Mapping[str, Extractor],
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


def extract_field(index: int, convert: Callable[[str], object]) -> Extractor:
    """An extractor that converts the field at `index`."""
    return lambda fields: convert(fields[index])


def to_age(text: str) -> int:
    """Parses an age; raises ValueError (for `parse_side`) when not an int."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not an integer") from None


def split_genres(sep: str) -> Callable[[str], tuple[str, ...]]:
    """A converter of a `sep`-separated genre list into its non-empty names."""

    def split(text: str) -> tuple[str, ...]:
        return tuple(g for g in (g.strip() for g in text.split(sep)) if g)

    return split


def title_year(title: str) -> int | None:
    """The year in a trailing "(1995)" of a title, else None."""
    match = _TITLE_YEAR.search(title)
    return int(match.group(1)) if match else None


def build(
    path: pathlib.Path,
    table: Table,
    user_features: Mapping[str, Mapping[str, object]],
    item_features: Mapping[str, Mapping[str, object]],
    *,
    name: str,
) -> interactions_lib.Interactions:
    """Remaps the parsed ids to contiguous ones and logs what was loaded.

    Args:
      path: the interaction file, for the log line.
      table: the parsed interactions.
      user_features: feature name -> {raw user id -> value}.
      item_features: feature name -> {raw item id -> value}.
      name: the dataset name the interactions get.

    Returns:
      The interactions.
    """
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
