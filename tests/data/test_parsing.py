"""Tests of tff_rec.data.parsing: every format's loader on bad or fuzzed files."""

from __future__ import annotations

import os
import tempfile

import hypothesis
from absl.testing import absltest
from absl.testing import parameterized
from hypothesis import strategies as st

from tests.data import loader_files
from tff_rec import errors
from tff_rec.data import generic_csv
from tff_rec.data import movielens
from tff_rec.data import recbole_atomic


def _load_recbole(directory):
    return recbole_atomic.load_recbole_atomic(directory)


def _load_csv(directory):
    return generic_csv.load_csv(os.path.join(directory, "events.csv"))


# (loader, valid files) per format, for the error and fuzz tests.
FORMATS = {
    "recbole": (_load_recbole, loader_files.RECBOLE),
    "ml100k": (movielens.load_ml100k, loader_files.ML100K),
    "ml1m": (movielens.load_ml1m, loader_files.ML1M),
    "ml_latest": (movielens.load_ml_latest, loader_files.ML_LATEST),
    "csv": (_load_csv, loader_files.CSV),
}


BAD_INPUTS = (
    ("missing_file", "recbole", {"ml-100k.inter": None}, "ml-100k.inter", None,
     "file not found"),
    ("empty_file", "ml100k", {"u.data": ""}, "u.data", 1, "file is empty"),
    ("blank_file", "ml1m", {"ratings.dat": "\n \n"}, "ratings.dat", 1,
     "file is empty"),
    ("empty_side_file", "ml1m", {"users.dat": ""}, "users.dat", 1, "file is empty"),
    ("header_only", "csv", {"events.csv": "user,item,rating\n"}, "events.csv", 2,
     "no interactions"),
    ("missing_column", "recbole",
     {"ml-100k.inter": "user_id:token\trating:float\n1\t3\n"}, "ml-100k.inter", 1,
     "missing required column 'item_id'"),
    ("missing_rating_column", "csv", {"events.csv": "user,item\n1,2\n"},
     "events.csv", 1, "missing required column 'rating'"),
    ("missing_side_column", "ml_latest", {"movies.csv": "movieId,title\n1,a\n"},
     "movies.csv", 1, "missing required column 'genres'"),
    ("duplicate_column", "ml_latest",
     {"ratings.csv": "userId,movieId,rating,rating\n1,2,3,4\n"}, "ratings.csv", 1,
     "duplicate column 'rating'"),
    ("duplicate_recbole_column", "recbole",
     {"ml-100k.user": "user_id:token\tage:token\tage:float\n1\t2\t3\n"},
     "ml-100k.user", 1, "duplicate column 'age'"),
    ("unnamed_column", "csv", {"events.csv": "user,,item,rating\n1,2,3,4\n"},
     "events.csv", 1, "header column 2 has no name"),
    ("too_few_fields", "ml100k", {"u.data": "1\t2\t3\t4\n\n1\t2\t3\n"}, "u.data", 3,
     "expected 4 '\\t'-separated fields, found 3"),
    ("too_many_fields", "csv", {"events.csv": "user,item,rating\n1,2,3\n1,2,3,4\n"},
     "events.csv", 3, "expected 3 ','-separated fields, found 4"),
    ("side_file_fields", "ml1m", {"movies.dat": "1::Title\n"}, "movies.dat", 1,
     "expected 3 '::'-separated fields, found 2"),
    ("item_flags", "ml100k", {"u.item": "5|T|||u|0|2|0\n"}, "u.item", 1,
     "genre flag 'Action' is '2'"),
    ("rating_not_number", "ml1m", {"ratings.dat": "1::2::3::4\n1::2::x::5\n"},
     "ratings.dat", 2, "rating 'x' is not a number"),
    ("rating_nan", "ml_latest", {"ratings.csv": "userId,movieId,rating\n1,2,nan\n"},
     "ratings.csv", 2, "rating 'nan' is not a finite"),
    ("rating_huge", "csv", {"events.csv": "user,item,rating\n1,2,1e39\n"},
     "events.csv", 2, "rating '1e39' is not a finite"),
    ("timestamp_not_number", "recbole",
     {"ml-100k.inter": "user_id:token\titem_id:token\ttimestamp:float\n1\t2\tnow\n"},
     "ml-100k.inter", 2, "timestamp 'now' is not an integer"),
    ("timestamp_fraction", "csv",
     {"events.csv": "user,item,rating,timestamp\n1,2,3,4.5\n"}, "events.csv", 2,
     "timestamp '4.5' is not an integer"),
    ("timestamp_overflow", "ml100k", {"u.data": "1\t2\t3\t99999999999999999999\n"},
     "u.data", 1, "does not fit in 64 bits"),
    ("age_not_number", "ml100k", {"u.user": "2|old|F|other|94043\n"}, "u.user", 1,
     "age 'old' is not an integer"),
    ("empty_user_id", "csv", {"events.csv": "user,item,rating\n ,2,3\n"},
     "events.csv", 2, "user id is empty"),
    ("duplicate_item", "recbole",
     {"ml-100k.item": "item_id:token\tclass:token_seq\n5\tA\n\n5\tB\n"},
     "ml-100k.item", 4, "duplicate item id '5' (first on line 2)"),
    ("not_utf8", "ml_latest",
     {"ratings.csv": b"userId,movieId,rating\n1,2,3\n1,\xff,3\n"}, "ratings.csv", 3,
     "byte 0xff is not valid UTF-8"),
    ("not_utf8_tabs", "recbole",
     {"ml-100k.user": b"user_id:token\tgender:token\n1\t\xc3\n"}, "ml-100k.user", 2,
     "not valid UTF-8"),
    ("unterminated_quote", "csv", {"events.csv": 'user,item,rating\n1,"2,3\n'},
     "events.csv", 2, "malformed CSV"),
    ("bad_genre_index", "ml100k", {"u.genre": "Action|0\nDrama|x\n"}, "u.genre", 2,
     "genre index 'x'"),
    ("genre_index_gap", "ml100k", {"u.genre": "Action|0\nDrama|2\n"}, "u.genre",
     None, "genre indices [0, 2] are not 0..1"),
    ("directory_not_file", "ml1m", {"ratings.dat": "DIR"}, "ratings.dat", None,
     "is a directory"),
)  # fmt: skip


class BadInputTest(loader_files.LoaderTestCase):
    @parameterized.named_parameters(*BAD_INPUTS)
    def test_raises_data_format_error(self, fmt, overrides, file_name, line, problem):
        load, files = FORMATS[fmt]
        directory = self.make_dir()
        files = {**files, **overrides}
        loader_files.write_files(
            directory,
            {k: v for k, v in files.items() if v is not None and v != "DIR"},
        )
        for name, content in files.items():
            if content == "DIR":
                os.mkdir(os.path.join(directory, name))
        with self.assertRaises(errors.DataFormatError) as context:
            load(directory)
        self.assert_format_error(context, file_name, line, problem)

    def test_errors_are_user_input_errors(self):
        self.assertTrue(issubclass(errors.DataFormatError, errors.UserInputError))


class FuzzTest(absltest.TestCase):
    @hypothesis.settings(
        deadline=None,
        max_examples=100,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    @hypothesis.given(data=st.data())
    def test_any_bytes_load_or_raise_data_format_error(self, data):
        fmt = data.draw(st.sampled_from(sorted(FORMATS)), label="format")
        load, files = FORMATS[fmt]
        target = data.draw(st.sampled_from(sorted(files)), label="file")
        original = files[target]
        original = original if isinstance(original, bytes) else original.encode()
        mode = data.draw(st.sampled_from(["random", "structured", "truncate", "flip"]))
        if mode == "random":
            content = data.draw(st.binary(max_size=200))
        elif mode == "structured":
            text = data.draw(
                st.text(alphabet='0123456789\t|:,\n\r" .-_éx()', max_size=200)
            )
            encoding = data.draw(st.sampled_from(["utf-8", "latin-1"]))
            content = text.encode(encoding)
        elif mode == "truncate":
            content = original[: data.draw(st.integers(0, len(original)))]
        else:
            position = data.draw(st.integers(0, len(original) - 1))
            byte = data.draw(st.integers(0, 255))
            content = original[:position] + bytes([byte]) + original[position + 1 :]
        with tempfile.TemporaryDirectory() as directory:
            loader_files.write_files(directory, {**files, target: content})
            try:
                result = load(directory)
            except errors.DataFormatError:
                return
            self.assertGreater(len(result), 0)


if __name__ == "__main__":
    absltest.main()
