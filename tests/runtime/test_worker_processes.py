"""Tests that an owned TFF worker never outlives the process that started it.

Each scenario runs in its own child interpreter (importing TensorFlow takes
several seconds, so all children start together in `setUpClass`). A child sets
the context, runs a TensorFlow and a federated computation, prints its worker's
pid and then exits, raises, or waits for a signal from the test. The test reads
the child's stdout to EOF, as `child | cat` would, and checks the worker is gone.
The "exit" child first runs a computation in TFF's own default context, to check
that installing ours stops the worker TFF started.
"""

from __future__ import annotations

import os
import pathlib
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil
from absl.testing import absltest
from absl.testing import parameterized

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Importing TF + TFF takes ~8 s alone; five children share two cores.
_READY_TIMEOUT_SECONDS = 120.0
_EXIT_TIMEOUT_SECONDS = 15.0
_GONE_TIMEOUT_SECONDS = 5.0

_CHILD_SCRIPT = """
import os, sys, time
import numpy as np
import psutil
import tensorflow_federated as tff
from tff_rec.runtime import local_cpp
from tff_rec.runtime import worker_processes

mode = sys.argv[1]

@tff.tensorflow.computation(tff.TensorType(np.int32))
def add_one(x):
    return x + 1

@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def total(values):
    return tff.federated_sum(values)

tff_pids = []
if mode == "exit":
    assert add_one(0) == 1  # Makes TFF's default context start its worker.
    tff_pids = [
        p.pid for p in psutil.Process().children()
        if "worker_binary" in " ".join(p.cmdline())
    ]
    assert tff_pids, "TFF started no worker"

local_cpp.set_local_cpp_execution_context()
assert add_one(2) == 3
assert total([1.0, 2.0, 3.5]) == 6.5
(pid,) = worker_processes.worker_pids()
print("WORKER", pid, os.readlink(f"/proc/{pid}/fd/1"), flush=True)
print("TFF_LEFT", sum(psutil.pid_exists(p) for p in tff_pids), flush=True)
if mode == "raise":
    raise RuntimeError("boom")
if mode in ("sigint", "sigterm", "sigkill"):
    print("READY", flush=True)
    time.sleep(300)
"""

# mode -> (signal the test sends after READY, expected return code, text
# expected on stderr).
_SCENARIOS = {
    "exit": (None, 0, ""),
    "raise": (None, 1, "RuntimeError: boom"),
    "sigint": (signal.SIGINT, -signal.SIGINT, "KeyboardInterrupt"),
    "sigterm": (signal.SIGTERM, -signal.SIGTERM, ""),
    "sigkill": (signal.SIGKILL, -signal.SIGKILL, ""),
}


class _Child:
    """A child interpreter whose stdout is read to EOF on a thread."""

    def __init__(self, mode: str, stderr_dir: str):
        self.stderr_path = os.path.join(stderr_dir, f"{mode}.stderr")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")])
        )
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_SCRIPT, mode],
                cwd=_REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.eof = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.decode())
        self.eof.set()

    def wait_for(self, prefix: str, timeout: float) -> list[str]:
        """Returns the words of the first line starting with `prefix`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(0.01, remaining))
            except queue.Empty:
                raise AssertionError(
                    f"No {prefix!r} line in {timeout} s; stderr:\n{self.stderr()}"
                ) from None
            if line.startswith(prefix):
                return line.split()

    def stderr(self) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return f.read()[-3000:]


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class LocalCppWorkerLifetimeTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._stderr_dir = tempfile.TemporaryDirectory()
        cls._children = {
            mode: _Child(mode, cls._stderr_dir.name) for mode in _SCENARIOS
        }
        cls._worker_pids = []

    @classmethod
    def tearDownClass(cls):
        for child in cls._children.values():
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
        for pid in cls._worker_pids:
            if not _is_gone(pid):
                os.kill(pid, signal.SIGKILL)
        cls._stderr_dir.cleanup()
        super().tearDownClass()

    @parameterized.named_parameters((mode, mode) for mode in _SCENARIOS)
    def test_worker_dies_and_stdout_closes(self, mode):
        signum, expected_returncode, expected_stderr = _SCENARIOS[mode]
        child = self._children[mode]

        _, pid, worker_stdout = child.wait_for("WORKER", _READY_TIMEOUT_SECONDS)
        worker_pid = int(pid)
        self._worker_pids.append(worker_pid)
        _, tff_workers_left = child.wait_for("TFF_LEFT", _EXIT_TIMEOUT_SECONDS)
        if signum is not None:
            child.wait_for("READY", _EXIT_TIMEOUT_SECONDS)
            child.process.send_signal(signum)

        self.assertTrue(
            child.eof.wait(_EXIT_TIMEOUT_SECONDS),
            f"stdout still open {_EXIT_TIMEOUT_SECONDS} s on; "
            f"stderr:\n{child.stderr()}",
        )
        self.assertEqual(
            child.process.wait(_EXIT_TIMEOUT_SECONDS),
            expected_returncode,
            child.stderr(),
        )
        self.assertIn(expected_stderr, child.stderr())
        deadline = time.monotonic() + _GONE_TIMEOUT_SECONDS
        while not _is_gone(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(_is_gone(worker_pid), f"worker {worker_pid} still runs")
        self.assertEqual(worker_stdout, "/dev/null")
        self.assertEqual(tff_workers_left, "0")


if __name__ == "__main__":
    absltest.main()
