"""MovieLens-1M from GroupLens: download, check, cache, and clear failures."""

import hashlib
import pathlib
import zipfile
from unittest import mock

from absl.testing import absltest

from tff_rec import errors
from tff_rec.data import grouplens

RATINGS = b"2::10::4::978300760\n1::20::5::978824291\n1::3::3::978302109\n"
# The same ratings as sorted UserID::MovieID::Rating lines.
SORTED = b"1::3::3\n1::20::5\n2::10::4\n"


def _archive(directory: pathlib.Path, *, ratings: bytes = RATINGS) -> str:
    path = directory / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/ratings.dat", ratings)
        z.writestr("ml-1m/users.dat", b"1::F::1::10::48067\n2::M::56::16::70072\n")
        z.writestr("ml-1m/movies.dat", b"3::A (1995)::Comedy\n")
    return path.as_uri()


class GroupLensTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = pathlib.Path(self.create_tempdir().full_path)
        self.expected = mock.patch.multiple(
            grouplens,
            ML1M_RATINGS_SHA256=hashlib.sha256(SORTED).hexdigest(),
            ML1M_RATINGS=3,
        )

    def test_ratings_digest_ignores_order_and_times(self):
        path = self.tmp / "ratings.dat"
        path.write_bytes(RATINGS)
        digest, lines = grouplens.ratings_digest(path)
        self.assertEqual((digest, lines), (hashlib.sha256(SORTED).hexdigest(), 3))

    def test_downloads_checks_and_caches(self):
        url = _archive(self.tmp)
        with self.expected:
            target = grouplens.ensure_movielens_1m(self.tmp / "cache", url=url)
            self.assertEqual(target, self.tmp / "cache" / "ml-1m")
            self.assertEqual((target / "ratings.dat").read_bytes(), RATINGS)
            # Cached: no second download.
            again = grouplens.ensure_movielens_1m(
                self.tmp / "cache", url="file:///nowhere/ml-1m.zip"
            )
        self.assertEqual(again, target)
        self.assertEqual(
            sorted(p.name for p in (self.tmp / "cache").iterdir()), ["ml-1m"]
        )

    def test_unreachable_site_says_where_to_put_the_files(self):
        with self.assertRaisesRegex(
            errors.DataUnavailableError,
            r"not reachable.*--data_dir=<the ml-1m folder.*ml-1m/$",
        ):
            grouplens.ensure_movielens_1m(
                self.tmp / "cache", url="file:///nowhere/ml-1m.zip"
            )
        self.assertEqual(list((self.tmp / "cache").iterdir()), [])

    def test_wrong_content_is_refused_and_not_cached(self):
        url = _archive(self.tmp, ratings=b"1::3::1::0\n")
        with (
            self.expected,
            self.assertRaisesRegex(
                errors.DataUnavailableError, "has 1 ratings with content sha256"
            ),
        ):
            grouplens.ensure_movielens_1m(self.tmp / "cache", url=url)
        self.assertEqual(list((self.tmp / "cache").iterdir()), [])

    def test_not_a_zip(self):
        bad = self.tmp / "ml-1m.zip"
        bad.write_bytes(b"<html>moved</html>")
        with self.assertRaisesRegex(errors.DataUnavailableError, "not the ML-1M"):
            grouplens.ensure_movielens_1m(self.tmp / "cache", url=bad.as_uri())


if __name__ == "__main__":
    absltest.main()
