"""Tests of tff_rec.data.loaders on tiny hand-written files."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import time
from unittest import mock

import hypothesis
import numpy as np
from absl.testing import absltest
from absl.testing import parameterized
from hypothesis import strategies as st

from tff_rec import errors
from tff_rec.data import download
from tff_rec.data import loaders

# Raw user ids are numbered numerically: '2' < '7' < '10'.
RECBOLE = {
    "ml-100k.inter": (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "10\t5\t4\t881250949\n"
        "2\t5\t3\t881250950\n"
        "7\t9\t1\t881250951\n"
        "2\t30\t5\t881250952\n"
    ),
    "ml-100k.user": (
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "2\t53\tF\tother\t94043\n"
        "7\t24\tM\ttechnician\tT8H1N\n"
        "10\t33\tF\twriter\t32067\n"
        "99\t40\tM\tartist\t11111\n"
    ),
    "ml-100k.item": (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "5\tToy Story\t1995\tAnimation Children's Comedy\n"
        "9\tLand Before Time III (1995)\tV\tAnimation\n"
        "30\tunkonwn\tunkonwn\tunknown\n"
    ),
}

ML100K = {
    "u.data": "10\t5\t4\t881250949\n2\t5\t3\t881250950\n7\t9\t1\t881250951\n",
    "u.user": "2|53|F|other|94043\n7|24|M|technician|T8H1N\n10|33|F|writer|32067\n",
    # u.item is Latin-1 in the GroupLens original.
    "u.item": (
        "5|Misérables, Les (1995)|01-Jan-1995||http://x|0|0|1\n"
        "9|Good Morning (1971)||||1|0|0\n"
    ).encode("latin-1"),
    "u.genre": "unknown|0\nAction|1\nDrama|2\n\n",
}

ML1M = {
    "ratings.dat": (
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
    ),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
    "movies.dat": (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Cérémonie, La (1995)::Drama|Thriller\n"
    ).encode("latin-1"),
}

ML_LATEST = {
    "ratings.csv": (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n"
        "1,11,3.5,964981247\n"
        "3,1,0.5,1306463578\n"
    ),
    "movies.csv": (
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",(no genres listed)\n'
        "12,No Year,Drama\n"
    ),
}

CSV = {
    "events.csv": (
        "user,item,rating,timestamp\nalice,x,5,3\nbob,y,2.5,1\nalice,y,1,2\n"
    ),
}


def _write(directory: str | os.PathLike, files: dict[str, str | bytes]) -> str:
    for name, content in files.items():
        path = pathlib.Path(directory, name)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
    return str(directory)


def _load_recbole(directory):
    return loaders.load_recbole_atomic(directory)


def _load_csv(directory):
    return loaders.load_csv(os.path.join(directory, "events.csv"))


# (loader, valid files) per format, for the error and fuzz tests.
FORMATS = {
    "recbole": (_load_recbole, RECBOLE),
    "ml100k": (loaders.load_ml100k, ML100K),
    "ml1m": (loaders.load_ml1m, ML1M),
    "ml_latest": (loaders.load_ml_latest, ML_LATEST),
    "csv": (_load_csv, CSV),
}


class LoaderTestCase(parameterized.TestCase):
    def make_dir(self, parent: str | None = None, name: str | None = None) -> str:
        """A fresh directory (absltest's create_tempdir needs parsed flags)."""
        if parent is not None:
            path = os.path.join(parent, name)
            os.mkdir(path)
            return path
        path = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path

    def write(self, files: dict[str, str | bytes]) -> str:
        return _write(self.make_dir(), files)

    def assert_ids_map_back(self, data, raw_users, raw_items):
        self.assertEqual(data.users.dtype, np.int32)
        self.assertEqual(data.items.dtype, np.int32)
        self.assertCountEqual(set(data.users), range(data.num_users))
        self.assertCountEqual(set(data.items), range(data.num_items))
        self.assertEqual([data.user_vocab[u] for u in data.users], raw_users)
        self.assertEqual([data.item_vocab[i] for i in data.items], raw_items)

    def assert_format_error(self, context, file_name, line, problem):
        message = str(context.exception)
        where = file_name if line is None else f"{file_name}:{line}"
        self.assertIn(f"{where}: ", message)
        self.assertIn(problem, message)
        self.assertEqual(context.exception.line, line)
        self.assertEqual(os.path.basename(context.exception.path), file_name)


class RecboleAtomicTest(LoaderTestCase):
    def test_interactions(self):
        data = loaders.load_recbole_atomic(self.write(RECBOLE))
        self.assertEqual(data.name, "ml-100k")
        self.assertEqual(data.user_vocab, ("2", "7", "10"))
        self.assertEqual(data.item_vocab, ("5", "9", "30"))
        self.assert_ids_map_back(data, ["10", "2", "7", "2"], ["5", "5", "9", "30"])
        np.testing.assert_array_equal(data.ratings, [4.0, 3.0, 1.0, 5.0])
        self.assertEqual(data.ratings.dtype, np.float32)
        np.testing.assert_array_equal(
            data.timestamps, [881250949, 881250950, 881250951, 881250952]
        )
        self.assertEqual(data.timestamps.dtype, np.int64)

    def test_user_features_only_for_users_with_interactions(self):
        data = loaders.load_recbole_atomic(self.write(RECBOLE))
        self.assertEqual(
            dict(data.user_features),
            {
                "age": [53, 24, 33],
                "gender": ["F", "M", "F"],
                "occupation": ["other", "technician", "writer"],
                "zip_code": ["94043", "T8H1N", "32067"],
            },
        )

    def test_item_features(self):
        data = loaders.load_recbole_atomic(self.write(RECBOLE))
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Toy Story", "Land Before Time III (1995)", "unkonwn"],
                "genres": [
                    ("Animation", "Children's", "Comedy"),
                    ("Animation",),
                    ("unknown",),
                ],
                # 'V' is not a year: taken from the title; 'unkonwn' gives None.
                "year": [1995, 1995, None],
            },
        )

    def test_side_files_are_optional(self):
        data = loaders.load_recbole_atomic(
            self.write({"ml-100k.inter": RECBOLE["ml-100k.inter"]})
        )
        self.assertEqual(len(data), 4)
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(dict(data.item_features), {})

    def test_other_prefix_columns_in_any_order_without_rating(self):
        directory = self.write(
            {
                "ml-1m.inter": "item_id:token\tuser_id:token\n1\t2\n3\t2\n",
                "ml-1m.item": "item_id:token\tgenre:token_seq\n1\tDrama War\n",
            }
        )
        data = loaders.load_recbole_atomic(directory, prefix="ml-1m")
        self.assertEqual(data.name, "ml-1m")
        self.assert_ids_map_back(data, ["2", "2"], ["1", "3"])
        np.testing.assert_array_equal(data.ratings, [1.0, 1.0])
        self.assertIsNone(data.timestamps)
        self.assertEqual(dict(data.item_features), {"genres": [("Drama", "War"), None]})

    def test_crlf_and_float_timestamps(self):
        directory = self.write(
            {
                "ml-100k.inter": "user_id:token\titem_id:token\trating:float\t"
                "timestamp:float\r\n1\t2\t3.5\t12.0\r\n"
            }
        )
        data = loaders.load_recbole_atomic(directory)
        np.testing.assert_array_equal(data.ratings, [3.5])
        np.testing.assert_array_equal(data.timestamps, [12])

    def test_100k_lines_load_fast(self):
        rng = np.random.default_rng(0)
        lines = [
            f"{u}\t{i}\t{r}\t{t}"
            for u, i, r, t in zip(
                rng.integers(1, 944, 100_000),
                rng.integers(1, 1683, 100_000),
                rng.integers(1, 6, 100_000),
                rng.integers(874_000_000, 893_000_000, 100_000),
                strict=False,
            )
        ]
        inter = RECBOLE["ml-100k.inter"].split("\n")[0] + "\n" + "\n".join(lines)
        directory = self.write({"ml-100k.inter": inter})
        start = time.perf_counter()
        data = loaders.load_recbole_atomic(directory)
        elapsed = time.perf_counter() - start
        self.assertLen(data, 100_000)
        self.assertLess(elapsed, 2.0)


class OriginalMovieLensTest(LoaderTestCase):
    def test_ml100k(self):
        data = loaders.load_ml100k(self.write(ML100K))
        self.assertEqual(data.name, "ml-100k")
        self.assert_ids_map_back(data, ["10", "2", "7"], ["5", "5", "9"])
        np.testing.assert_array_equal(data.ratings, [4, 3, 1])
        np.testing.assert_array_equal(
            data.timestamps, [881250949, 881250950, 881250951]
        )
        self.assertEqual(data.user_features["age"], [53, 24, 33])
        self.assertEqual(data.user_features["zip_code"], ["94043", "T8H1N", "32067"])
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Misérables, Les (1995)", "Good Morning (1971)"],
                "genres": [("Drama",), ("unknown",)],
                "year": [1995, 1971],
            },
        )

    def test_ml100k_standard_genres_without_u_genre(self):
        flags = ["0"] * 19
        flags[1] = flags[18] = "1"
        files = {
            "u.data": "1\t5\t4\t1\n",
            "u.item": "5|Title|||url|" + "|".join(flags) + "\n",
        }
        data = loaders.load_ml100k(self.write(files))
        self.assertEqual(data.item_features["genres"], [("Action", "Western")])
        self.assertEqual(data.item_features["year"], [None])

    def test_ml1m(self):
        data = loaders.load_ml1m(self.write(ML1M))
        self.assertEqual(data.name, "ml-1m")
        self.assert_ids_map_back(data, ["1", "1", "2"], ["1193", "661", "1193"])
        self.assertEqual(data.item_vocab, ("661", "1193"))
        np.testing.assert_array_equal(data.ratings, [5, 3, 4])
        np.testing.assert_array_equal(
            data.timestamps, [978300760, 978302109, 978298413]
        )
        self.assertEqual(
            dict(data.user_features),
            {
                "gender": ["F", "M"],
                "age": [1, 56],
                "occupation": ["K-12 student", "self-employed"],
                "zip_code": ["48067", "70072"],
            },
        )
        self.assertEqual(
            dict(data.item_features),
            {
                "title": [
                    "Cérémonie, La (1995)",
                    "One Flew Over the Cuckoo's Nest (1975)",
                ],
                "genres": [("Drama", "Thriller"), ("Drama",)],
                "year": [1995, 1975],
            },
        )

    def test_ml_latest(self):
        data = loaders.load_ml_latest(self.write(ML_LATEST))
        self.assertEqual(data.name, "ml-latest")
        self.assert_ids_map_back(data, ["1", "1", "3"], ["1", "11", "1"])
        np.testing.assert_array_equal(data.ratings, [4.0, 3.5, 0.5])
        np.testing.assert_array_equal(
            data.timestamps, [964982703, 964981247, 1306463578]
        )
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(
            dict(data.item_features),
            {
                "title": ["Toy Story (1995)", "American President, The (1995)"],
                "genres": [
                    ("Adventure", "Animation", "Children", "Comedy", "Fantasy"),
                    (),
                ],
                "year": [1995, 1995],
            },
        )

    @parameterized.named_parameters(
        ("ml100k", loaders.load_ml100k, "u.data", ML100K),
        ("ml1m", loaders.load_ml1m, "ratings.dat", ML1M),
        ("ml_latest", loaders.load_ml_latest, "ratings.csv", ML_LATEST),
    )
    def test_side_files_are_optional(self, load, name, files):
        data = load(self.write({name: files[name]}))
        self.assertEqual(dict(data.user_features), {})
        self.assertEqual(dict(data.item_features), {})


class CsvTest(LoaderTestCase):
    def test_default_columns(self):
        data = loaders.load_csv(os.path.join(self.write(CSV), "events.csv"))
        self.assertEqual(data.name, "events")
        self.assertEqual(data.user_vocab, ("alice", "bob"))
        self.assert_ids_map_back(data, ["alice", "bob", "alice"], ["x", "y", "y"])
        np.testing.assert_array_equal(data.ratings, [5.0, 2.5, 1.0])
        np.testing.assert_array_equal(data.timestamps, [3, 1, 2])

    def test_custom_columns_delimiter_bom_and_quotes(self):
        content = '\ufeffwho\ttime\twhat\n"u 1"\t7\t"a\tb"\n'
        path = os.path.join(self.write({"x.tsv": content}), "x.tsv")
        data = loaders.load_csv(
            path, user_col="who", item_col="what", rating_col=None,
            timestamp_col="time", delimiter="\t",
        )  # fmt: skip
        self.assert_ids_map_back(data, ["u 1"], ["a\tb"])
        np.testing.assert_array_equal(data.ratings, [1.0])
        np.testing.assert_array_equal(data.timestamps, [7])

    def test_timestamp_column_is_optional(self):
        path = os.path.join(self.write({"r.csv": "user,item,rating\n1,2,3\n"}), "r.csv")
        data = loaders.load_csv(path)
        self.assertIsNone(data.timestamps)
        data = loaders.load_csv(os.path.join(self.write(CSV), "events.csv"),
                                timestamp_col=None)  # fmt: skip
        self.assertIsNone(data.timestamps)

    @parameterized.named_parameters(
        ("long", ";;"),
        ("quote", '"'),
        ("newline", "\n"),
        ("not_a_string", 1),
    )
    def test_bad_delimiter(self, delimiter):
        with self.assertRaisesRegex(errors.UserInputError, "delimiter"):
            loaders.load_csv("unused.csv", delimiter=delimiter)


# name, files (overriding the valid ones), file named in the error, line, problem.
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


class BadInputTest(LoaderTestCase):
    @parameterized.named_parameters(*BAD_INPUTS)
    def test_raises_data_format_error(self, fmt, overrides, file_name, line, problem):
        load, files = FORMATS[fmt]
        directory = self.make_dir()
        files = {**files, **overrides}
        _write(
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
            _write(directory, {**files, target: content})
            try:
                result = load(directory)
            except errors.DataFormatError:
                return
            self.assertGreater(len(result), 0)


class LoadDatasetTest(LoaderTestCase):
    def test_unknown_name_lists_allowed_names(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "unknown dataset 'ml-20m'; allowed: ml-100k, ml-100k-original, ml-1m, "
            "ml-latest, ml-latest-small, csv",
        ):
            loaders.load_dataset("ml-20m", self.make_dir())

    def test_ml100k_recbole_from_data_dir(self):
        data = loaders.load_dataset("ml-100k", self.write(RECBOLE))
        self.assertEqual(data.name, "ml-100k")
        self.assertLen(data, 4)
        self.assertIn("genres", data.item_features)

    def test_ml100k_recbole_from_subdirectory(self):
        root = self.make_dir()
        _write(self.make_dir(root, "ml-100k"), RECBOLE)
        self.assertLen(loaders.load_dataset("ML-100K", root), 4)

    def test_ml100k_original_files_in_data_dir(self):
        with mock.patch.object(
            loaders, "load_ml100k", wraps=loaders.load_ml100k
        ) as load:
            data = loaders.load_dataset("ml-100k", self.write(ML100K))
        load.assert_called_once()
        self.assertEqual(data.name, "ml-100k")
        self.assertLen(data, 3)

    def test_ml100k_downloads_without_data_dir(self):
        directory = pathlib.Path(self.write(RECBOLE))
        with mock.patch.object(
            download, "ensure_movielens_100k", return_value=directory
        ) as ensure:
            data = loaders.load_dataset(cache_dir="/some/cache")
        ensure.assert_called_once_with("/some/cache")
        self.assertEqual(data.name, "ml-100k")
        self.assertLen(data, 4)

    def test_ml100k_data_dir_without_files(self):
        with self.assertRaisesRegex(errors.DataUnavailableError, "--data_dir="):
            loaders.load_dataset("ml-100k", self.make_dir())

    @parameterized.named_parameters(
        ("original", "ml-100k-original", ML100K, 3),
        ("ml1m", "ml-1m", ML1M, 3),
        ("latest", "ml-latest", ML_LATEST, 3),
        ("latest_small", "ml-latest-small", ML_LATEST, 3),
    )
    def test_grouplens_datasets(self, name, files, size):
        data = loaders.load_dataset(name, self.write(files))
        self.assertEqual(data.name, name)
        self.assertLen(data, size)

    def test_grouplens_subdirectory(self):
        root = self.make_dir()
        _write(self.make_dir(root, "ml-1m"), ML1M)
        self.assertLen(loaders.load_dataset("ml-1m", root), 3)

    def test_needs_data_dir(self):
        with self.assertRaisesRegex(errors.UserInputError, "ratings.dat"):
            loaders.load_dataset("ml-1m")
        with self.assertRaisesRegex(errors.UserInputError, "needs data_dir"):
            loaders.load_dataset("csv")

    def test_missing_primary_file_is_format_error(self):
        with self.assertRaisesRegex(errors.DataFormatError, "ratings.csv: file not"):
            loaders.load_dataset("ml-latest", self.make_dir())

    def test_csv_file_or_directory_with_options(self):
        directory = self.write({"e.csv": "u;i;t\na;x;1\n", "notes.txt": "not data"})
        options = dict(user_col="u", item_col="i", rating_col=None, delimiter=";",
                       timestamp_col="t")  # fmt: skip
        for data_dir in (directory, os.path.join(directory, "e.csv")):
            data = loaders.load_dataset("csv", data_dir, **options)
            self.assertEqual(data.name, "csv")
            self.assert_ids_map_back(data, ["a"], ["x"])
            np.testing.assert_array_equal(data.timestamps, [1])

    def test_csv_directory_must_hold_one_csv(self):
        directory = self.write({"a.csv": CSV["events.csv"], "b.csv": ""})
        with self.assertRaisesRegex(errors.UserInputError, "holds 2 .csv files"):
            loaders.load_dataset("csv", directory)

    def test_csv_options_only_for_csv(self):
        with self.assertRaisesRegex(errors.UserInputError, "apply only to dataset"):
            loaders.load_dataset("ml-1m", "/unused", delimiter=";")
        with self.assertRaisesRegex(errors.UserInputError, "unknown csv option 'sep'"):
            loaders.load_dataset("csv", "/unused", sep=";")


if __name__ == "__main__":
    absltest.main()
