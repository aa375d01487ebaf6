"""Runs a pipeline as a user would: ``python -m pipelines.<name> ...``."""

import os
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_S = 300


def run_pipeline(
    name: str, *flags: str, timeout: float = DEFAULT_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Runs `pipelines.<name>` in a subprocess from the repository root."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", f"pipelines.{name}", *flags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
