r"""Serves TFF computations on this machine for `pipelines.train --workers`.

Starts TFF's own C++ worker (`worker_binary`) on `--port` and waits until it
exits or this process is stopped (Ctrl-C / SIGTERM stop the worker too):

  python -m pipelines.worker --port=8000

then, on the driver:

  python -m pipelines.train --workers=HOST1:8000,HOST2:8000

The worker speaks insecure gRPC (no TLS, no authentication) and listens on
all interfaces: anyone who can reach the port can run computations on it and
read the client data sent to it. Run it on a private network only.
"""

from __future__ import annotations

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


def main(argv):
    del argv
    if not 1 <= _PORT.value <= 65535:
        cli.fail(f"--port={_PORT.value} is outside 1..65535")
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
        f"TFF worker {worker.pid} serving on 0.0.0.0:{_PORT.value} "
        "(insecure gRPC: private networks only). Ctrl-C stops it.",
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
