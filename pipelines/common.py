"""What every pipeline shares: flag parsing and one-line error reporting.

The helpers are `tff_rec.cli`'s, which the benchmarks use too.
"""

from __future__ import annotations

from tff_rec import cli

USAGE_ERROR_EXIT_CODE = cli.USAGE_ERROR_EXIT_CODE
fail = cli.fail
parse_flags = cli.parse_flags
user_errors_exit = cli.user_errors_exit


def __getattr__(name: str):
    # pipelines.train still selects its runtime through these two names; the
    # selection itself is `tff_rec.runtime.selection`. Resolved on first use so
    # that the other pipelines do not import TensorFlow to parse their flags.
    if name == "RUNTIMES":
        from tff_rec.runtime import selection

        return tuple(runtime.value for runtime in selection.RuntimeType)
    if name == "install_runtime":
        from tff_rec.runtime import selection

        return selection.install_runtime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
