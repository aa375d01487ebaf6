"""Tests of tff_rec.data.loaders: datasets by name, on tiny hand-written files."""

from __future__ import annotations

import os
import pathlib
from unittest import mock

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tests.data import loader_files
from tff_rec import errors
from tff_rec.data import download
from tff_rec.data import loaders
from tff_rec.data import movielens


class LoadDatasetTest(loader_files.LoaderTestCase):
    def test_unknown_name_lists_allowed_names(self):
        with self.assertRaisesRegex(
            errors.UserInputError,
            "unknown dataset 'ml-20m'; allowed: ml-100k, ml-100k-original, ml-1m, "
            "ml-latest, ml-latest-small, csv",
        ):
            loaders.load_dataset("ml-20m", self.make_dir())

    def test_ml100k_recbole_from_data_dir(self):
        data = loaders.load_dataset("ml-100k", self.write(loader_files.RECBOLE))
        self.assertEqual(data.name, "ml-100k")
        self.assertLen(data, 4)
        self.assertIn("genres", data.item_features)

    def test_ml100k_recbole_from_subdirectory(self):
        root = self.make_dir()
        loader_files.write_files(self.make_dir(root, "ml-100k"), loader_files.RECBOLE)
        self.assertLen(loaders.load_dataset("ML-100K", root), 4)

    def test_ml100k_original_files_in_data_dir(self):
        with mock.patch.object(
            movielens, "load_ml100k", wraps=movielens.load_ml100k
        ) as load:
            data = loaders.load_dataset("ml-100k", self.write(loader_files.ML100K))
        load.assert_called_once()
        self.assertEqual(data.name, "ml-100k")
        self.assertLen(data, 3)

    def test_ml100k_downloads_without_data_dir(self):
        directory = pathlib.Path(self.write(loader_files.RECBOLE))
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
        ("original", "ml-100k-original", loader_files.ML100K, 3),
        ("ml1m", "ml-1m", loader_files.ML1M, 3),
        ("latest", "ml-latest", loader_files.ML_LATEST, 3),
        ("latest_small", "ml-latest-small", loader_files.ML_LATEST, 3),
    )
    def test_grouplens_datasets(self, name, files, size):
        data = loaders.load_dataset(name, self.write(files))
        self.assertEqual(data.name, name)
        self.assertLen(data, size)

    def test_grouplens_subdirectory(self):
        root = self.make_dir()
        loader_files.write_files(self.make_dir(root, "ml-1m"), loader_files.ML1M)
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
        directory = self.write({"a.csv": loader_files.CSV["events.csv"], "b.csv": ""})
        with self.assertRaisesRegex(errors.UserInputError, "holds 2 .csv files"):
            loaders.load_dataset("csv", directory)

    def test_csv_options_only_for_csv(self):
        with self.assertRaisesRegex(errors.UserInputError, "apply only to dataset"):
            loaders.load_dataset("ml-1m", "/unused", delimiter=";")
        with self.assertRaisesRegex(errors.UserInputError, "unknown csv option 'sep'"):
            loaders.load_dataset("csv", "/unused", sep=";")


if __name__ == "__main__":
    absltest.main()
