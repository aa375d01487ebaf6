r"""Serves TFF computations on this machine for `pipelines.train --workers`.

Starts TFF's own C++ worker (`worker_binary`) on `--port` and waits until it
exits or this process is stopped (Ctrl-C / SIGTERM stop the worker too):

  python -m pipelines.worker --port=8000

then, on the driver:

  python -m pipelines.train --workers=HOST1:8000,HOST2:8000

The worker speaks insecure gRPC (no TLS, no authentication) and TFF's
worker binary listens on all interfaces (it has no option to bind one
address): anyone who can reach the port can run computations on it and read
the client data sent to it. Block the port at the host's firewall and reach
it over an SSH tunnel or a private network (docs/runtime.md). A port that is
already in use is refused (exit status 2).
"""

from __future__ import annotations

import errno
import socket
import sys

from absl import app
from absl import flags

from tff_rec import cli

_PORT = flags.DEFINE_integer("port", 8000, "TCP port to serve on (1..65535).")
_MAX_CALLS = flags.DEFINE_integer(
    "max_concurrent_computation_calls",
    -1,
    "Cap on concurrent calls of one computation; nonpositive means no cap.",
)
_LOG = flags.DEFINE_string(
    "log_path", None, "Append the worker's own output to this file."
)


def check_port_free(port: int) -> None:
    """Exits with status 2 if `port` is taken on any interface.

    TFF's worker binds with SO_REUSEPORT, so on a taken port it would start,
    share the port (or fail in the background) and look healthy; binding
    without SO_REUSEPORT first tells.
    """
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # No IPv6 (or IPv4) on this host.
            continue
        with probe:
            # Connections of a worker that just stopped linger in TIME_WAIT;
            # SO_REUSEADDR ignores them, not a listening socket.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    cli.fail(f"--port={port} is already in use on this host")
                if e.errno != errno.EADDRNOTAVAIL:
                    cli.fail(f"--port={port}: cannot listen there ({e.strerror})")


def main(argv):
    del argv
    if not 1 <= _PORT.value <= 65535:
        cli.fail(f"--port={_PORT.value} is outside 1..65535")
    check_port_free(_PORT.value)
    from tff_rec.runtime import inprocess
    from tff_rec.runtime import worker_processes

    # This process only serves. Replacing the context TFF installs at import
    # (by one that starts nothing) drops TFF's worker manager, whose
    # finalizer fails at interpreter exit.
    inprocess.set_inprocess_execution_context()
    worker = worker_processes.start_worker(
        _PORT.value,
        max_concurrent_computation_calls=_MAX_CALLS.value,
        log_path=_LOG.value,
    )
    print(
        f"TFF worker {worker.pid} serving on port {_PORT.value} of all "
        "interfaces (insecure gRPC: firewall it, reach it over an SSH tunnel "
        "or a private network). Ctrl-C stops it.",
        flush=True,
    )
    try:
        status = worker.wait()
    except KeyboardInterrupt:
        # The interrupt handler has already stopped the worker.
        print("Stopped.", file=sys.stderr, flush=True)
        return 130
    if status != 0:
        print(f"worker exited with status {status}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
