"""Runs TFF computations on remote TFF workers (other processes or machines).

Each worker is TFF's own C++ ``worker_binary`` serving on a port
(``python -m pipelines.worker --port=P`` starts one). With one worker the
whole computation runs there, as in TFF's local runtime but over the network.
With several, the computation is compiled to TFF's `MergeableCompForm`
(``tff.backends.native.compile_to_mergeable_comp_form``): the clients of a
round are split into one sub-round per worker, each worker runs the part up to
the aggregation on its share, the partial aggregates are merged and the server
part runs once. The result is the same learning process, executed in
parallel.

Every call to a worker has a deadline (`DEFAULT_CALL_TIMEOUT_SECONDS`,
``train --workers_call_timeout``): a worker that dies, becomes unreachable or
does not answer within it stops the computation with
`tff_rec.errors.WorkerUnavailableError` naming the worker, instead of TFF's
endless retries of a refused connection.

Security: the worker speaks insecure gRPC (TFF's worker has no TLS or
authentication). Anyone who can reach its port can run computations there and
read the data sent to it: keep it on loopback and reach it over an SSH tunnel,
or on a private network (see `pipelines.worker`).

Example:
    from tff_rec.runtime import remote

    remote.set_remote_execution_context(["10.0.0.2:8000", "10.0.0.3:8000"])
    ...  # invoke TFF computations as usual
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Sequence

import grpc
import tensorflow_federated as tff

from tff_rec import errors
from tff_rec.runtime import local_cpp

DEFAULT_CONNECT_TIMEOUT_SECONDS = 30.0
DEFAULT_CALL_TIMEOUT_SECONDS = 60.0
# The codes of a worker that is gone or did not answer in time; TFF retries
# UNAVAILABLE for ever.
_LOST_WORKER_CODES = {
    grpc.StatusCode.UNAVAILABLE: "stopped answering",
    grpc.StatusCode.DEADLINE_EXCEEDED: "did not answer within",
    grpc.StatusCode.CANCELLED: "dropped the call",
}
_ADDRESS = re.compile(r"^(?P<host>[^\s:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def parse_addresses(addresses: str | Sequence[str]) -> list[str]:
    """Validates ``host:port`` worker addresses (a list or a comma-joined string).

    Raises:
      tff_rec.errors.UserInputError: on an empty list, a malformed address, a
        port outside 1..65535 or a repeated address.
    """
    if isinstance(addresses, str):
        addresses = [a for a in addresses.split(",")]
    parsed = [a.strip() for a in addresses]
    if not parsed or parsed == [""]:
        raise errors.UserInputError("workers: expected host:port[,host:port...]")
    for address in parsed:
        match = _ADDRESS.match(address)
        if match is None:
            raise errors.UserInputError(
                f"workers: {address!r} is not host:port (e.g. 127.0.0.1:8000)"
            )
        port = int(match["port"])
        if not 1 <= port <= 65535:
            raise errors.UserInputError(
                f"workers: port {port} of {address!r} is outside 1..65535"
            )
    if len(set(parsed)) != len(parsed):
        raise errors.UserInputError(f"workers: repeated address in {parsed}")
    return parsed


class _CallsWithDeadline:
    """The RPCs of an ``ExecutorGroupStub``, each with a deadline, a lost
    worker raised as `errors.WorkerUnavailableError` (which TFF does not
    retry)."""

    def __init__(self, stub, address: str, call_timeout: float):
        self._stub = stub
        self._address = address
        self._call_timeout = call_timeout

    def __getattr__(self, name: str) -> Callable:
        rpc = getattr(self._stub, name)

        @functools.wraps(rpc)
        def call(request):
            try:
                return rpc(request, timeout=self._call_timeout)
            except grpc.RpcError as e:
                code = e.code() if isinstance(e, grpc.Call) else None
                if code not in _LOST_WORKER_CODES:
                    raise
                what = _LOST_WORKER_CODES[code]
                if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    what += f" {self._call_timeout:g} s (--workers_call_timeout)"
                raise errors.WorkerUnavailableError(
                    f"TFF worker {self._address} {what} during {name}; the "
                    "checkpoint is kept: restart the worker and rerun the same "
                    "command to resume",
                    self._address,
                ) from None

        return call


def _stub(
    address: str, connect_timeout: float, call_timeout: float
) -> tff.framework.RemoteExecutorGrpcStub:
    channel = grpc.insecure_channel(address, options=local_cpp.GRPC_CHANNEL_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=connect_timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        raise errors.WorkerUnavailableError(
            f"workers: no TFF worker answered at {address} within "
            f"{connect_timeout:g} s (start one with `python -m pipelines.worker "
            f"--port={address.rsplit(':', 1)[1]}` on that host)",
            address,
        ) from None
    stub = tff.framework.RemoteExecutorGrpcStub(channel)
    # TFF's stub sends every RPC through `stub._stub` without a deadline.
    stub._stub = _CallsWithDeadline(stub._stub, address, call_timeout)  # noqa: SLF001
    return stub


def check_call_timeout(seconds: float) -> None:
    """Refuses a call deadline that is not a positive finite number of seconds.

    Raises:
      tff_rec.errors.UserInputError: naming ``workers_call_timeout``.
    """
    if not (isinstance(seconds, (int, float)) and 0 < seconds < float("inf")):
        raise errors.UserInputError(
            f"workers_call_timeout must be > 0 seconds and finite, got {seconds}"
        )


def _executor_factory(
    stub: tff.framework.RemoteExecutorGrpcStub, default_num_clients: int
) -> tff.framework.ResourceManagingExecutorFactory:
    def executor_stack_fn(cardinalities):
        if cardinalities.get(tff.CLIENTS) is None:
            cardinalities[tff.CLIENTS] = default_num_clients
        executor = tff.framework.RemoteExecutor(stub)
        executor.set_cardinalities(cardinalities)
        return executor

    return tff.framework.ResourceManagingExecutorFactory(
        executor_stack_fn=executor_stack_fn
    )


def create_remote_execution_context(
    addresses: str | Sequence[str],
    *,
    default_num_clients: int = 0,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
    simulate_secure_aggregation: bool = False,
):
    """Returns a sync TFF context that runs computations on the given workers.

    Args:
      addresses: ``host:port`` of each running TFF worker.
      default_num_clients: clients when a computation's arguments do not say.
      connect_timeout: seconds to wait for each worker to accept a connection.
      call_timeout: deadline of every call to a worker, in seconds.
      simulate_secure_aggregation: compile secure intrinsics to their insecure
        bodies first (see `tff_rec.runtime.local_cpp`).

    Returns:
      A `tff.framework.SyncExecutionContext` (one worker) or a
      `tff.framework.MergeableCompExecutionContext` (several).

    Raises:
      tff_rec.errors.UserInputError: on bad addresses or a bad call timeout.
      tff_rec.errors.WorkerUnavailableError: a worker did not answer within
        `connect_timeout`; later, from a computation, within `call_timeout`.
    """
    addresses = parse_addresses(addresses)
    check_call_timeout(call_timeout)
    stubs = [_stub(a, connect_timeout, call_timeout) for a in addresses]
    compiler = local_cpp.native_compiler(simulate_secure_aggregation)
    if len(stubs) == 1:
        return tff.framework.SyncExecutionContext(
            executor_fn=_executor_factory(stubs[0], default_num_clients),
            compiler_fn=compiler,
            transform_args=tff.tensorflow.transform_args,
            transform_result=tff.tensorflow.transform_result,
        )
    async_contexts = [
        tff.framework.AsyncExecutionContext(
            executor_fn=_executor_factory(stub, default_num_clients),
            compiler_fn=compiler,
            transform_args=tff.tensorflow.transform_args,
            transform_result=tff.tensorflow.transform_result,
        )
        for stub in stubs
    ]

    def compile_mergeable(comp):
        if simulate_secure_aggregation:
            comp = tff.backends.test.replace_secure_intrinsics_with_bodies(comp)
        return tff.backends.native.compile_to_mergeable_comp_form(comp)

    # Built directly: `create_mergeable_comp_execution_context` does not pass
    # the TensorFlow argument transforms that client datasets need.
    return tff.framework.MergeableCompExecutionContext(
        async_contexts,
        compiler_fn=compile_mergeable,
        transform_args=tff.tensorflow.transform_args,
        transform_result=tff.tensorflow.transform_result,
    )


def set_remote_execution_context(
    addresses: str | Sequence[str],
    *,
    default_num_clients: int = 0,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
    simulate_secure_aggregation: bool = False,
) -> tff.framework.SyncContext:
    """Installs `create_remote_execution_context(...)` as TFF's default context
    and returns it."""
    context = create_remote_execution_context(
        addresses,
        default_num_clients=default_num_clients,
        connect_timeout=connect_timeout,
        call_timeout=call_timeout,
        simulate_secure_aggregation=simulate_secure_aggregation,
    )
    tff.framework.set_default_context(context)
    return context
