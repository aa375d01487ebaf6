"""Tests of tff_rec.data.download without network, plus one real download."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import sys
import tempfile
import time
import zipfile
from unittest import mock

import pytest
from absl.testing import absltest

from tff_rec import errors
from tff_rec.data import download
from tff_rec.data import loaders

FAKE_FILES = {
    "ml-100k.inter": (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t100\n2\t10\t3\t101\n"
    ),
    "ml-100k.user": (
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t20\tF\tother\t00001\n2\t30\tM\twriter\t00002\n"
    ),
    "ml-100k.item": (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tA Film\t1990\tDrama War\n"
    ),
}
FAKE_SHA256 = {
    name: hashlib.sha256(content.encode()).hexdigest()
    for name, content in FAKE_FILES.items()
}


def _fake_wheel(path: pathlib.Path, files: dict[str, str]) -> str:
    """Writes a zip laid out like the recbole wheel; returns its SHA-256."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("recbole/__init__.py", "")
        archive.writestr(f"{download.ML100K_WHEEL_DIR}/ml-100k.kg", "not wanted")
        for name, content in files.items():
            archive.writestr(f"{download.ML100K_WHEEL_DIR}/{name}", content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DownloadTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.cache = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.cache, ignore_errors=True)
        # Built outside the cache, so the cache holds only what ensure writes.
        self.wheel_src = pathlib.Path(tempfile.mkdtemp()) / download.RECBOLE_WHEEL
        self.addCleanup(shutil.rmtree, self.wheel_src.parent, ignore_errors=True)
        self.wheel_sha256 = _fake_wheel(self.wheel_src, FAKE_FILES)

    def patch_pip(self, wheel_sha256=None, file_sha256=None):
        """Replaces the pip step by a copy of the fake wheel; returns the mock."""

        def fake_pip_download(dest_dir):
            target = pathlib.Path(dest_dir) / download.RECBOLE_WHEEL
            shutil.copyfile(self.wheel_src, target)
            return target

        pip = mock.patch.object(
            download, "_pip_download", side_effect=fake_pip_download
        ).start()
        mock.patch.object(
            download, "RECBOLE_WHEEL_SHA256", wheel_sha256 or self.wheel_sha256
        ).start()
        mock.patch.object(download, "ML100K_SHA256", file_sha256 or FAKE_SHA256).start()
        self.addCleanup(mock.patch.stopall)
        return pip

    def test_cache_dir_from_environment(self):
        with mock.patch.dict(os.environ, {"TFF_REC_CACHE": "/x/cache"}):
            self.assertEqual(download.cache_dir(), pathlib.Path("/x/cache"))
        with mock.patch.dict(os.environ):
            os.environ.pop("TFF_REC_CACHE", None)
            self.assertEqual(
                download.cache_dir(), pathlib.Path.home() / ".cache" / "tff_rec"
            )

    def test_verify_rejects_corrupted_file(self):
        path = self.cache / "f"
        path.write_bytes(b"hello")
        good = hashlib.sha256(b"hello").hexdigest()
        download._verify(path, good)
        path.write_bytes(b"hellO")
        with self.assertRaisesRegex(download._FetchError, "checksum mismatch for f"):
            download._verify(path, good)

    def test_extracts_only_the_three_files(self):
        pip = self.patch_pip()
        directory = download.ensure_movielens_100k(self.cache)
        pip.assert_called_once()
        self.assertEqual(directory, self.cache / "ml-100k")
        self.assertEqual(os.listdir(self.cache), ["ml-100k"])
        self.assertCountEqual(os.listdir(directory), FAKE_FILES)
        for name, content in FAKE_FILES.items():
            self.assertEqual((directory / name).read_text(), content)

    def test_uses_environment_cache_and_loads(self):
        self.patch_pip()
        with mock.patch.dict(os.environ, {"TFF_REC_CACHE": str(self.cache)}):
            data = loaders.load_dataset("ml-100k")
        self.assertTrue((self.cache / "ml-100k" / "ml-100k.inter").is_file())
        self.assertLen(data, 2)
        self.assertEqual(data.item_features["genres"], [("Drama", "War")])

    def test_verified_cache_is_not_fetched_again(self):
        pip = self.patch_pip()
        first = download.ensure_movielens_100k(self.cache)
        second = download.ensure_movielens_100k(self.cache)
        self.assertEqual(first, second)
        pip.assert_called_once()

    def test_corrupt_cached_file_is_fetched_again(self):
        pip = self.patch_pip()
        directory = download.ensure_movielens_100k(self.cache)
        (directory / "ml-100k.user").write_text("truncated")
        download.ensure_movielens_100k(self.cache)
        self.assertEqual(pip.call_count, 2)
        self.assertEqual(
            (directory / "ml-100k.user").read_text(), FAKE_FILES["ml-100k.user"]
        )
        self.assertEqual(os.listdir(self.cache), ["ml-100k"])

    def test_wheel_checksum_mismatch_leaves_nothing(self):
        self.patch_pip(wheel_sha256="0" * 64)
        with self.assertRaisesRegex(
            errors.DataUnavailableError, "checksum mismatch for recbole-1.2.1"
        ):
            download.ensure_movielens_100k(self.cache)
        self.assertEqual(os.listdir(self.cache), [])

    def test_file_checksum_mismatch_leaves_nothing(self):
        self.patch_pip(file_sha256={**FAKE_SHA256, "ml-100k.item": "0" * 64})
        with self.assertRaisesRegex(
            errors.DataUnavailableError, "checksum mismatch for ml-100k.item"
        ):
            download.ensure_movielens_100k(self.cache)
        self.assertEqual(os.listdir(self.cache), [])

    def test_wheel_without_dataset(self):
        self.wheel_sha256 = _fake_wheel(self.wheel_src, {})
        self.patch_pip()
        with self.assertRaisesRegex(errors.DataUnavailableError, "has no member"):
            download.ensure_movielens_100k(self.cache)

    def _pip_fails(self, command, **patches):
        for name, value in patches.items():
            mock.patch.object(download, name, value).start()
        mock.patch.object(download, "_pip_command", return_value=command).start()
        self.addCleanup(mock.patch.stopall)
        with self.assertRaises(errors.DataUnavailableError) as context:
            download.ensure_movielens_100k(self.cache)
        message = str(context.exception)
        self.assertNotIn("\n", message)
        self.assertIn("--data_dir=<dir containing ml-100k.inter", message)
        self.assertIn("TFF_REC_CACHE", message)
        self.assertEqual(os.listdir(self.cache), [])
        return message

    def test_impossible_download_gives_data_dir_hint(self):
        script = (
            "import sys; print('WARNING: ignored', file=sys.stderr); "
            "print('ERROR: No matching distribution found for recbole==1.2.1', "
            "file=sys.stderr); sys.exit(1)"
        )
        message = self._pip_fails([sys.executable, "-c", script])
        self.assertIn(
            "pip exited with status 1: ERROR: No matching distribution found", message
        )

    def test_missing_pip(self):
        script = "import sys; sys.exit('No module named pip')"
        self.assertIn(
            "No module named pip", self._pip_fails([sys.executable, "-c", script])
        )

    def test_missing_executable(self):
        message = self._pip_fails([str(self.cache / "no-such-python")])
        self.assertIn("cannot run", message)

    def test_pip_timeout(self):
        script = "import time; time.sleep(30)"
        message = self._pip_fails([sys.executable, "-c", script], PIP_TIMEOUT_S=1)
        self.assertIn("timed out after 1 s", message)

    def test_pip_without_wheel(self):
        message = self._pip_fails([sys.executable, "-c", "pass"])
        self.assertIn("pip did not produce recbole-1.2.1-py3-none-any.whl", message)

    def test_unwritable_cache(self):
        blocker = self.cache / "file"
        blocker.write_text("")
        with self.assertRaisesRegex(
            errors.DataUnavailableError, "cannot create cache directory.*--data_dir"
        ):
            download.ensure_movielens_100k(blocker / "cache")

    @pytest.mark.data
    def test_real_download(self):
        directory = download.ensure_movielens_100k(self.cache)
        start = time.perf_counter()
        data = loaders.load_dataset("ml-100k", cache_dir=self.cache)
        elapsed = time.perf_counter() - start
        self.assertEqual(directory, self.cache / "ml-100k")
        self.assertEqual(data.name, "ml-100k")
        self.assertEqual(
            (data.num_users, data.num_items, len(data)), (943, 1682, 100000)
        )
        self.assertEqual(
            set(data.user_features), {"age", "gender", "occupation", "zip_code"}
        )
        self.assertNotIn(None, data.user_features["age"])
        self.assertIn(
            ("Animation", "Children's", "Comedy"), data.item_features["genres"]
        )
        self.assertEqual(data.item_features["title"][0], "Toy Story")
        self.assertLess(elapsed, 2.0)


if __name__ == "__main__":
    absltest.main()
