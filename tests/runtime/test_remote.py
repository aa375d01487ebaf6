"""Remote TFF workers: `pipelines.worker` processes driven over gRPC.

Workers listen on all interfaces; the tests talk to them on 127.0.0.1 only.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import portpicker
import psutil
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.algorithms import fed_avg
from tff_rec.algorithms import fed_recon
from tff_rec.models import matrix_factorization as mf
from tff_rec.runtime import remote

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _start_worker(port: int, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=_REPO, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.worker", f"--port={port}"],
        cwd=_REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def two_workers():
    ports = [portpicker.pick_unused_port() for _ in range(2)]
    processes = [_start_worker(p) for p in ports]
    try:
        for process in processes:
            line = process.stdout.readline()
            assert "serving on" in line, line
        yield [f"127.0.0.1:{p}" for p in ports]
    finally:
        for process in processes:
            _stop(process)


@pytest.mark.parametrize(
    "signum,returncode",
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)],
    ids=["sigterm", "sigint"],
)
def test_signal_stops_worker_pipeline_and_its_worker(signum, returncode):
    process = _start_worker(portpicker.pick_unused_port(), stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert "serving on" in line, line
        worker_pid = int(line.split()[2])
        assert psutil.pid_exists(worker_pid)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == returncode, stderr[-2000:]
    # The worker was reaped on the first try, not after timeouts and SIGKILL.
    assert "ignored SIGTERM" not in stderr, stderr[-2000:]
    assert "survived SIGKILL" not in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert "Exception ignored" not in stderr, stderr[-2000:]
    assert not psutil.pid_exists(worker_pid)


def _client_datasets(num_clients=6, seed=0):
    rng = np.random.default_rng(seed)
    datasets = []
    for _ in range(num_clients):
        n = int(rng.integers(4, 9))
        batch = collections.OrderedDict(
            x=collections.OrderedDict(
                user=np.zeros(n, np.int32),
                item=rng.integers(0, 7, n).astype(np.int32),
            ),
            y=rng.integers(1, 6, (n, 1)).astype(np.float32),
        )
        datasets.append(tf.data.Dataset.from_tensor_slices(batch).batch(3))
    return datasets


def _train(process, context, rounds=3):
    with tff.framework.get_context_stack().install(context):
        state = process.initialize()
        start = time.perf_counter()
        for _ in range(rounds):
            state = process.next(state, _client_datasets()).state
        seconds = (time.perf_counter() - start) / rounds
        weights = process.get_model_weights(state)
    return [np.asarray(w) for w in weights.trainable], seconds


def _model_fn(num_users):
    return lambda: mf.build_matrix_factorization(
        num_users, 7, embedding_dim=3, global_bias=3.0, seed=1
    )


@pytest.mark.parametrize(
    "builder",
    [
        lambda: fed_recon.build_fed_recon(_model_fn(1)),
        lambda: fed_avg.build_weighted_fed_avg(_model_fn(1)),
    ],
    ids=["fedrecon", "fedavg"],
)
def test_two_workers_match_local_runtime(two_workers, builder, capsys):
    process = builder()
    local_context = tff.framework.get_context_stack().current
    local, local_seconds = _train(process, local_context)
    context = remote.create_remote_execution_context(two_workers)
    assert isinstance(context, tff.framework.MergeableCompExecutionContext)
    distributed, remote_seconds = _train(process, context)
    for a, b in zip(local, distributed, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with capsys.disabled():
        print(
            f"\n  seconds per round: local {local_seconds:.3f}, "
            f"two workers {remote_seconds:.3f}"
        )


def test_one_worker_matches_local_runtime(two_workers):
    process = fed_recon.build_fed_recon(_model_fn(1))
    local, _ = _train(process, tff.framework.get_context_stack().current)
    context = remote.create_remote_execution_context(two_workers[:1])
    assert isinstance(context, tff.framework.SyncExecutionContext)
    single, _ = _train(process, context)
    for a, b in zip(local, single, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    "addresses, message",
    [
        ("", "host:port"),
        ("localhost", "not host:port"),
        ("localhost:0", "outside"),
        ("localhost:99999", "outside"),
        ("a:1,a:1", "repeated"),
    ],
)
def test_bad_addresses_are_user_errors(addresses, message):
    with pytest.raises(errors.UserInputError, match=message):
        remote.parse_addresses(addresses)


def test_unreachable_worker_raises_worker_unavailable():
    port = portpicker.pick_unused_port()
    with pytest.raises(errors.WorkerUnavailableError, match="no TFF worker answered"):
        remote.create_remote_execution_context(
            [f"127.0.0.1:{port}"], connect_timeout=1.0
        )


def test_worker_pipeline_rejects_bad_port():
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.worker", "--port=70000"],
        cwd=_REPO,
        env=dict(os.environ, PYTHONPATH=_REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "outside 1..65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_pipeline_runs_on_workers_and_matches_local(two_workers, tmp_path):
    from tests import synthetic
    from tests.pipelines import base

    data = synthetic.write_csv(tmp_path / "ratings.csv", num_users=16)
    common = [
        "--dataset=csv",
        f"--data_dir={data}",
        f"--root_output_dir={tmp_path / 'runs'}",
        "--rounds=2",
        "--clients_per_round=4",
        "--embedding_dim=3",
        "--nobaselines",
    ]
    local = base.run_pipeline("train", *common, "--experiment_name=local")
    assert local.returncode == 0, local.stderr[-3000:]
    distributed = base.run_pipeline(
        "train",
        *common,
        "--experiment_name=workers",
        f"--workers={','.join(two_workers)}",
    )
    assert distributed.returncode == 0, distributed.stderr[-3000:]
    a = np.load(tmp_path / "runs" / "local" / "final_weights.npz")
    b = np.load(tmp_path / "runs" / "workers" / "final_weights.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)


def test_train_pipeline_unreachable_worker_exits_4(tmp_path):
    from tests.pipelines import base

    port = portpicker.pick_unused_port()
    result = base.run_pipeline(
        "train",
        "--rounds=1",
        f"--workers=127.0.0.1:{port}",
        "--workers_connect_timeout=2",
        timeout=300,
    )
    assert result.returncode == 4, result.stderr[-2000:]
    assert f"no TFF worker answered at 127.0.0.1:{port} within 2 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_connect_timeout_help_states_the_default():
    from absl import flags

    from pipelines import train  # noqa: F401  (defines the flags)

    help_text = flags.FLAGS["workers_connect_timeout"].help
    assert f"Default: {remote.DEFAULT_CONNECT_TIMEOUT_SECONDS:g}." in help_text


def test_call_timeout_help_states_the_default():
    from absl import flags

    from pipelines import train  # noqa: F401  (defines the flags)

    help_text = flags.FLAGS["workers_call_timeout"].help
    assert f"Default: {remote.DEFAULT_CALL_TIMEOUT_SECONDS:g}." in help_text
    assert remote.DEFAULT_CALL_TIMEOUT_SECONDS <= 60


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan")])
def test_bad_call_timeout_is_a_user_error(seconds):
    with pytest.raises(errors.UserInputError, match="workers_call_timeout"):
        remote.check_call_timeout(seconds)


def _train_flags(data, root, port, rounds, *extra):
    return [
        "--dataset=csv",
        f"--data_dir={data}",
        f"--root_output_dir={root}",
        f"--rounds={rounds}",
        "--clients_per_round=4",
        "--embedding_dim=3",
        "--eval_every=1000",
        "--nobaselines",
        "--experiment_name=remote",
        *([f"--workers=127.0.0.1:{port}"] if port else ["--runtime=tff_cpp"]),
        *extra,
    ]


def _start_train(flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.train", *flags],
        cwd=_REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_round(process, round_num, timeout=240):
    """Reads the run's output (progress lines on stderr, merged into stdout)
    until round `round_num` is done."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith(f"round {round_num}/"):
            return
        assert time.monotonic() < deadline, "no progress"
    raise AssertionError(f"train ended before round {round_num}")


def _serving_worker(port):
    worker = _start_worker(port)
    line = worker.stdout.readline()
    assert "serving on" in line, line
    return worker, int(line.split()[2])


def test_killed_worker_stops_train_with_exit_4_and_rerun_resumes(tmp_path):
    from tests import synthetic

    data = synthetic.write_csv(tmp_path / "ratings.csv", num_users=16)
    port = portpicker.pick_unused_port()
    rounds = 40
    worker, _ = _serving_worker(port)
    try:
        train = _start_train(_train_flags(data, tmp_path / "runs", port, rounds))
        _wait_for_round(train, 5)
        worker.kill()  # The worker binary dies with it (PR_SET_PDEATHSIG).
        worker.wait()
        killed_at = time.monotonic()
        stderr, _ = train.communicate(timeout=remote.DEFAULT_CALL_TIMEOUT_SECONDS + 30)
        stopped_after = time.monotonic() - killed_at
    finally:
        _stop(worker)
        if train.poll() is None:
            train.kill()
    assert train.returncode == 4, stderr[-2000:]
    assert stopped_after < remote.DEFAULT_CALL_TIMEOUT_SECONDS, stopped_after
    assert "Traceback" not in stderr, stderr[-2000:]
    errors_lines = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors_lines) == 1, stderr[-2000:]
    assert f"TFF worker 127.0.0.1:{port}" in errors_lines[0]
    assert "rerun the same command" in errors_lines[0]
    run_dir = tmp_path / "runs" / "remote"
    assert not (run_dir / "results.json").exists()

    # The worker is back: the same command resumes and ends as a run that was
    # never interrupted (TFF's local C++ runtime, same seed).
    worker, _ = _serving_worker(port)
    try:
        resumed = subprocess.run(
            [sys.executable, "-m", "pipelines.train"]
            + _train_flags(data, tmp_path / "runs", port, rounds),
            cwd=_REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        _stop(worker)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from round" in resumed.stdout + resumed.stderr
    reference = subprocess.run(
        [sys.executable, "-m", "pipelines.train"]
        + _train_flags(data, tmp_path / "reference", None, rounds),
        cwd=_REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert reference.returncode == 0, reference.stderr[-3000:]
    a = np.load(run_dir / "final_weights.npz")
    b = np.load(tmp_path / "reference" / "remote" / "final_weights.npz")
    for name in a.files:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)


def test_hung_worker_stops_train_at_the_call_deadline(tmp_path):
    from tests import synthetic

    data = synthetic.write_csv(tmp_path / "ratings.csv", num_users=16)
    port = portpicker.pick_unused_port()
    worker, binary_pid = _serving_worker(port)
    try:
        train = _start_train(
            _train_flags(data, tmp_path / "runs", port, 400, "--workers_call_timeout=5")
        )
        _wait_for_round(train, 3)
        os.kill(binary_pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        stderr, _ = train.communicate(timeout=60)
        waited = time.monotonic() - stopped_at
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(binary_pid, signal.SIGCONT)
        _stop(worker)
        if train.poll() is None:
            train.kill()
    assert train.returncode == 4, stderr[-2000:]
    assert waited < 5 + 20, waited
    assert "did not answer within 5 s (--workers_call_timeout)" in stderr
    assert "Traceback" not in stderr, stderr[-2000:]


def test_worker_pipeline_refuses_a_busy_port():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.worker", f"--port={port}"],
            cwd=_REPO,
            env=dict(os.environ, PYTHONPATH=_REPO, TF_CPP_MIN_LOG_LEVEL="2"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stdout + result.stderr[-2000:]
    assert f"--port={port} is already in use" in result.stderr
    assert "serving on" not in result.stdout
    assert "Traceback" not in result.stderr
