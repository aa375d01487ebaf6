"""Fetches MovieLens-100K into a local cache.

GroupLens serves MovieLens from its own web site, which a machine that only
reaches a package index cannot use. The PyPI wheel `recbole==1.2.1` ships
MovieLens-100K in RecBole's atomic format
(`recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}`), so the dataset
is fetched with `pip download` and the three files are taken out of the wheel.
The wheel and every extracted file are checked against recorded SHA-256 sums.

Dataset: F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets:
History and Context", ACM Transactions on Interactive Intelligent Systems
5(4), 2015, doi:10.1145/2827872.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from absl import logging

from tff_rec import errors

CACHE_ENV_VAR = "TFF_REC_CACHE"
DEFAULT_CACHE_DIR = "~/.cache/tff_rec"

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = (
    "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
)

ML100K_DIR = "ml-100k"
ML100K_WHEEL_DIR = "recbole/dataset_example/ml-100k"
# SHA-256 of each file as stored in the recbole-1.2.1 wheel.
ML100K_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}

# Seconds `pip download` may take before it is given up.
PIP_TIMEOUT_S = 600

_HINT = (
    "download the wheel elsewhere (pip download --no-deps {req}), unzip {wheel_dir}/ "
    "from it and pass --data_dir=<dir containing ml-100k.inter, ml-100k.user, "
    "ml-100k.item>, or set {env} to a cache directory whose ml-100k/ holds them"
)


class _FetchError(Exception):
    """One step of the fetch failed; the message is a short reason."""


def cache_dir() -> pathlib.Path:
    """Returns the cache root: `$TFF_REC_CACHE` if set, else `~/.cache/tff_rec`."""
    return pathlib.Path(os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR).expanduser()


def ensure_movielens_100k(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns a directory holding MovieLens-100K, downloading it if needed.

    Files already in the cache are re-checked against their SHA-256 sums (a few
    milliseconds) and fetched again when missing or corrupt. A fetch downloads
    the `recbole==1.2.1` wheel with pip into a temporary directory inside the
    cache, checks it, extracts the three files, checks them and only then
    renames the directory into place, so an interrupted fetch never leaves a
    partial dataset behind.

    Args:
      cache_dir: the cache root. None means `cache_dir()`: `$TFF_REC_CACHE` if
        set, else `~/.cache/tff_rec`.

    Returns:
      `<cache_dir>/ml-100k`, containing `ml-100k.inter`, `ml-100k.user` and
      `ml-100k.item` in RecBole's atomic format.

    Raises:
      errors.DataUnavailableError: the files could not be fetched or verified
        (no pip, no network, checksum mismatch, unwritable cache). The one-line
        message says what failed and how to provide the data instead.
    """
    root = _cache_root(cache_dir)
    target = root / ML100K_DIR
    problem = _check_files(target)
    if problem is None:
        logging.info("MovieLens-100K found in %s (checksums verified).", target)
        return target
    # Shown at any verbosity: the download is the first run's long step.
    print(
        f"Fetching MovieLens-100K into {target} ({problem}).",
        file=sys.stderr,
        flush=True,
    )
    try:
        _fetch_into(root, target)
    except _FetchError as e:
        raise errors.DataUnavailableError(
            f"could not fetch MovieLens-100K ({RECBOLE_REQUIREMENT} wheel) with pip "
            f"into {target}: {e}; "
            + _HINT.format(
                req=RECBOLE_REQUIREMENT, wheel_dir=ML100K_WHEEL_DIR, env=CACHE_ENV_VAR
            )
        ) from e
    logging.info("MovieLens-100K ready in %s.", target)
    return target


def _cache_root(override: str | os.PathLike | None) -> pathlib.Path:
    if override is None:
        return cache_dir()
    return pathlib.Path(override).expanduser()


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: pathlib.Path, sha256: str) -> None:
    """Raises `_FetchError` unless the file at `path` has this SHA-256 sum."""
    try:
        actual = _sha256(path)
    except OSError as e:
        raise _FetchError(f"cannot read {path}: {e.strerror or e}") from e
    if actual != sha256:
        raise _FetchError(
            f"checksum mismatch for {pathlib.Path(path).name}: sha256 {actual}, "
            f"expected {sha256}"
        )


def _check_files(directory: pathlib.Path) -> str | None:
    """Returns why `directory` is not a verified copy, or None if it is."""
    for name, sha256 in ML100K_SHA256.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            _verify(path, sha256)
        except _FetchError as e:
            return str(e)
    return None


def _pip_command(dest_dir: pathlib.Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest_dir),
        RECBOLE_REQUIREMENT,
    ]


def _pip_download(dest_dir: pathlib.Path) -> pathlib.Path:
    """Downloads the recbole wheel into `dest_dir` and returns its path."""
    command = _pip_command(dest_dir)
    logging.info("Running %s", " ".join(command))
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as e:
        raise _FetchError(f"cannot run {command[0]}: {e.strerror or e}") from e
    except subprocess.TimeoutExpired as e:
        raise _FetchError(f"pip download timed out after {PIP_TIMEOUT_S} s") from e
    except OSError as e:
        raise _FetchError(f"cannot run pip: {e.strerror or e}") from e
    if result.returncode != 0:
        raise _FetchError(
            f"pip exited with status {result.returncode}: "
            + _short_reason(result.stderr or result.stdout)
        )
    wheel = pathlib.Path(dest_dir) / RECBOLE_WHEEL
    if not wheel.is_file():
        found = ", ".join(sorted(p.name for p in wheel.parent.iterdir()))
        raise _FetchError(
            f"pip did not produce {RECBOLE_WHEEL} (got: {found or 'nothing'})"
        )
    return wheel


def _short_reason(output: str, limit: int = 200) -> str:
    """Returns the most telling line of pip's output: its last ERROR line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return "no output"
    errors_only = [line for line in lines if line.startswith("ERROR")]
    reason = (errors_only or lines)[-1]
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def _extract(wheel: pathlib.Path, dest_dir: pathlib.Path) -> None:
    """Extracts the three ML-100K files from the wheel and verifies them."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, sha256 in ML100K_SHA256.items():
                member = f"{ML100K_WHEEL_DIR}/{name}"
                try:
                    source = archive.open(member)
                except KeyError as e:
                    raise _FetchError(f"{wheel.name} has no member {member}") from e
                with source, open(dest_dir / name, "wb") as target:
                    shutil.copyfileobj(source, target)
                _verify(dest_dir / name, sha256)
    except zipfile.BadZipFile as e:
        raise _FetchError(f"{wheel.name} is not a valid zip file: {e}") from e
    except OSError as e:
        raise _FetchError(f"cannot extract {wheel.name}: {e.strerror or e}") from e


def _fetch_into(root: pathlib.Path, target: pathlib.Path) -> None:
    """Downloads, verifies and atomically installs the files as `target`."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = pathlib.Path(tempfile.mkdtemp(prefix=".ml-100k-fetch-", dir=root))
    except OSError as e:
        raise _FetchError(
            f"cannot create cache directory {root}: {e.strerror or e}"
        ) from e
    try:
        wheel_dir = work / "wheel"
        staged = work / ML100K_DIR
        wheel_dir.mkdir()
        staged.mkdir()
        wheel = _pip_download(wheel_dir)
        _verify(wheel, RECBOLE_WHEEL_SHA256)
        logging.info("Verified %s; extracting MovieLens-100K.", wheel.name)
        _extract(wheel, staged)
        _install(staged, target, work / "previous")
    except OSError as e:
        raise _FetchError(f"cannot write to {root}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(staged: pathlib.Path, target: pathlib.Path, trash: pathlib.Path) -> None:
    """Renames `staged` to `target`, moving a stale `target` out of the way."""
    if target.exists() or target.is_symlink():
        os.replace(target, trash)
    try:
        os.replace(staged, target)
    except OSError:
        # Another process may have installed a verified copy in the meantime.
        if _check_files(target) is None:
            return
        raise
