"""Shared pytest configuration: markers and a guard against orphaned TFF workers.

TFF's local C++ runtime runs a `worker_binary` subprocess that can outlive the
interpreter that started it and keep its stdout open, which hangs CI. The
autouse fixture fails any test during which such a worker, started under this
pytest run, lost its owner: it is still running but no longer descends from the
pytest process (its parent died). It also kills that worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest
from absl import flags

# Inherited by every process started under this pytest run, workers included;
# tells our workers from those of other jobs on the same machine.
_SESSION_ENV = "TFF_REC_PYTEST_SESSION"
_SESSION_ID = str(os.getpid())
os.environ[_SESSION_ENV] = _SESSION_ID
# TensorFlow's C++ INFO/WARNING lines (grappler, CUDA probing) bury test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A worker whose parent is exiting is killed by the kernel a moment later.
_GRACE_SECONDS = 3.0
# A background job of a non-interactive shell starts with SIGINT ignored, and
# children inherit that: the tests that interrupt a child with SIGINT would
# fail. A handler (unlike "ignored") is reset to the default in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# absl's TestCase.create_tempdir() reads --test_tmpdir: under pytest nobody
# parses absl's flags, so take their defaults (a folder under the system's
# temporary directory, emptied after each test).
if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()

_MARKERS = {
    "slow": "long-running tests (real-data training); deselected by default.",
    "data": "downloads MovieLens-100K into a temporary cache.",
}


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml may declare them too; add only the missing ones.
    declared = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, description in _MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", f"{name}: {description}")


def _is_tff_worker(cmdline: list[str] | None) -> bool:
    command = " ".join(cmdline or ())
    return "tensorflow_federated" in command and "worker_binary" in command


def _orphaned_workers() -> dict[tuple[int, float], psutil.Process]:
    """Running workers of this pytest run that do not descend from pytest."""
    me = os.getpid()
    orphans = {}
    for process in psutil.process_iter(["cmdline", "create_time", "ppid", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if not _is_tff_worker(process.info["cmdline"]):
            continue
        try:
            if process.environ().get(_SESSION_ENV) != _SESSION_ID:
                continue
            if any(parent.pid == me for parent in process.parents()):
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        orphans[(process.pid, process.info["create_time"])] = process
    return orphans


@pytest.fixture(autouse=True)
def no_orphaned_tff_workers() -> Iterator[None]:
    """Fails the test if a TFF worker was orphaned while it ran."""
    before = _orphaned_workers().keys()
    yield
    deadline = time.monotonic() + _GRACE_SECONDS
    while True:
        new = {
            key: process
            for key, process in _orphaned_workers().items()
            if key not in before
        }
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if new:
        for process in new.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        pytest.fail(
            "Orphaned TFF worker_binary process(es) (now killed): "
            + ", ".join(
                f"pid {pid} (parent {p.info.get('ppid', '?')})"
                for (pid, _), p in new.items()
            ),
            pytrace=False,
        )


@pytest.fixture(autouse=True, scope="session")
def owned_tff_workers() -> Iterator[None]:
    """Runs in-process TFF computations on a worker this test session owns."""
    from tff_rec.runtime import local_cpp
    from tff_rec.runtime import worker_processes

    local_cpp.set_local_cpp_execution_context()
    yield
    worker_processes.shutdown_workers()
