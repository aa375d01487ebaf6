"""Fetches MovieLens-1M from GroupLens into the local cache.

GroupLens serves ``ml-1m.zip`` (about 6 MB) from files.grouplens.org. When
the site answers, the archive is downloaded into a temporary folder inside
the cache, its three ``.dat`` files are extracted, the ratings are checked,
and only then is the folder renamed into place (``<cache>/ml-1m/``), so an
interrupted fetch never leaves a partial dataset behind. When it does not
answer, the error says where to put the files instead.

The check is on the content, not the archive's bytes: the SHA-256 of every
rating as ``UserID::MovieID::Rating`` lines sorted by user then movie
(timestamps left out, so that a copy rebuilt without them checks the same),
1,000,209 lines from 6,040 users and 3,706 movies.

Dataset: F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets:
History and Context", ACM Transactions on Interactive Intelligent Systems
5(4), 2015, doi:10.1145/2827872.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile

from tff_rec import errors
from tff_rec.data import download

ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
ML1M_DIR = "ml-1m"
ML1M_FILES = ("ratings.dat", "users.dat", "movies.dat")
ML1M_RATINGS = 1_000_209
ML1M_RATINGS_SHA256 = "8644714f61288184078642373c32c4db000f488ef50697a5054d583e8ecc1bb1"
# Seconds to wait for the site before giving up.
TIMEOUT_S = 30


class _FetchError(Exception):
    """One step of the fetch failed; the message is a short reason."""


def ratings_digest(path: str | os.PathLike) -> tuple[str, int]:
    """(SHA-256, line count) of a ``ratings.dat``'s ratings without times."""
    triples = []
    with open(path, "rb") as f:
        for line in f:
            fields = line.rstrip(b"\r\n").split(b"::")
            if len(fields) < 3:
                raise _FetchError(f"{pathlib.Path(path).name}: bad line {line[:60]!r}")
            triples.append((int(fields[0]), int(fields[1]), fields[2]))
    triples.sort()
    digest = hashlib.sha256()
    for user, movie, rating in triples:
        digest.update(b"%d::%d::%s\n" % (user, movie, rating))
    return digest.hexdigest(), len(triples)


def _check(directory: pathlib.Path) -> str | None:
    """Why `directory` is not a verified ML-1M copy, or None if it is."""
    for name in ML1M_FILES:
        if not (directory / name).is_file():
            return f"{name} is missing"
    try:
        sha256, lines = ratings_digest(directory / "ratings.dat")
    except (OSError, ValueError, _FetchError) as e:
        return f"ratings.dat is unreadable ({e})"
    if (sha256, lines) != (ML1M_RATINGS_SHA256, ML1M_RATINGS):
        return (
            f"ratings.dat has {lines} ratings with content sha256 {sha256}, "
            f"expected {ML1M_RATINGS} and {ML1M_RATINGS_SHA256}"
        )
    return None


def _fetch_into(root: pathlib.Path, target: pathlib.Path, url: str) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch = pathlib.Path(tempfile.mkdtemp(prefix=".ml-1m-", dir=root))
    except OSError as e:
        raise _FetchError(f"cannot write to {root}: {e.strerror or e}") from e
    try:
        archive = scratch / "ml-1m.zip"
        try:
            with (
                urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
                open(archive, "wb") as f,
            ):
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
            raise _FetchError(f"{url} is not reachable ({reason})") from e
        extracted = scratch / ML1M_DIR
        try:
            with zipfile.ZipFile(archive) as z:
                for name in ML1M_FILES:
                    with z.open(f"{ML1M_DIR}/{name}") as src:
                        extracted.mkdir(exist_ok=True)
                        with open(extracted / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, KeyError, OSError) as e:
            raise _FetchError(f"the download is not the ML-1M archive ({e})") from e
        problem = _check(extracted)
        if problem is not None:
            raise _FetchError(problem)
        if target.exists():
            shutil.rmtree(target)
        os.replace(extracted, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ensure_movielens_1m(
    cache_dir: str | os.PathLike | None = None, *, url: str = ML1M_URL
) -> pathlib.Path:
    """A folder holding MovieLens-1M's ``.dat`` files, downloading them if
    needed (see the module docstring).

    Args:
      cache_dir: the cache root; None means `download.cache_dir()`.
      url: where ``ml-1m.zip`` is fetched from.

    Returns:
      ``<cache_dir>/ml-1m``.

    Raises:
      errors.DataUnavailableError: the files are not in the cache and could
        not be downloaded or verified; the one-line message says why and
        where to put them instead.
    """
    root = (
        download.cache_dir()
        if cache_dir is None
        else pathlib.Path(cache_dir).expanduser()
    )
    target = root / ML1M_DIR
    problem = _check(target)
    if problem is None:
        return target
    # Shown at any verbosity: the download is the first run's long step.
    print(
        f"Downloading MovieLens-1M into {target} ({problem}).",
        file=sys.stderr,
        flush=True,
    )
    try:
        _fetch_into(root, target, url)
    except _FetchError as e:
        raise errors.DataUnavailableError(
            f"could not download MovieLens-1M into {target}: {e}; download "
            f"{ML1M_URL} elsewhere, unzip it and pass --data_dir=<the ml-1m folder "
            "with ratings.dat, users.dat, movies.dat>, or copy those files into "
            f"{target}/"
        ) from e
    return target
