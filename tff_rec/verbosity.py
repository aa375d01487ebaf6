"""How much TensorFlow and TFF print: their warnings and errors, not their chatter.

A pipeline's output is for its user: the data summary, progress, the results
and where they went. TensorFlow and TFF log much more on every run: CUDA
plugin registration when TensorFlow loads, a Grappler note for every graph
TFF compiles, a Grappler error for graphs that have nothing to fetch (TFF
then uses the graph as it is). None of it is a problem; all of it looks like
one.

absl's ``--verbosity`` flag (``-v``) sets what shows, for the Python loggers
(absl, ``tensorflow``, TFF) and TensorFlow's C++ logging alike:

  ==============  ==============  ===================================  ===========
  --verbosity     Python logging  C++ logging (TF_CPP_MIN_LOG_LEVEL)   known noise
  ==============  ==============  ===================================  ===========
  -1 (default)    WARNING and up  WARNING and up (1)                   dropped
  -2              ERROR and up    ERROR and up (2)                     dropped
  -3              FATAL           FATAL (3)                            dropped
  0 (INFO), 1     INFO (DEBUG)    everything (0)                       shown
  ==============  ==============  ===================================  ===========

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, as it loads, before any flag
is parsed; so the entry-point packages (`pipelines`, `benchmarks`) call
`configure` with the command line before anything imports TensorFlow. A
``TF_CPP_MIN_LOG_LEVEL`` already in the environment is kept unless
``--verbosity`` is given.

Known noise (`KNOWN_NOISE`) is a short list of C++ messages TensorFlow 2.14
and TFF 0.87 print although nothing is wrong. It is dropped only where it is
printed (while TensorFlow loads, while TFF compiles a process to its
MapReduce form): there TensorFlow's stderr is captured and replayed without
those lines, so every other line, a real warning or error included, still
shows. ``--verbosity=0`` shows everything unfiltered.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from collections.abc import Sequence

# absl's --verbosity without the flag: WARNING (absl.logging.WARNING is -1).
DEFAULT_VERBOSITY = -1
CPP_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
_FLAG_NAMES = ("v", "verbosity")
KNOWN_NOISE = (
    # TF 2.14's wheel registers its CUDA plugins twice, with or without a GPU.
    re.compile(r"Unable to register cu(DNN|FFT|BLAS) factory"),
    # TensorFlow looks for TensorRT (an optional library) as it loads.
    re.compile(r"TF-TRT Warning: Could not find TensorRT"),
    # TFF hands Grappler graphs without fetch nodes; Grappler declines, TFF
    # keeps the graph unoptimized (and says so at INFO).
    re.compile(r"grappler_item_builder\.cc:\d+\] Failed to detect the fetch node"),
)

_filtering = False


def verbosity_from_argv(argv: Sequence[str]) -> int | None:
    """The ``--verbosity`` (``-v``) value on a command line, None if absent.

    Reads the forms absl accepts (``--verbosity=1``, ``--verbosity 1``,
    ``-v=1``, ``-v 1``, one or two dashes); a value that is not an integer is
    ignored here and reported by absl when it parses the flags.
    """
    value = None
    args = list(argv[1:])
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        if arg.startswith("-"):
            name, has_value, text = arg.lstrip("-").partition("=")
            if name in _FLAG_NAMES:
                if not has_value and index + 1 < len(args):
                    index += 1
                    text = args[index]
                with contextlib.suppress(ValueError):
                    value = int(text)
        index += 1
    return value


def cpp_min_log_level(verbosity: int) -> int:
    """TensorFlow's C++ log level that matches absl's `verbosity`."""
    return 0 if verbosity >= 0 else min(-verbosity, 3)


def configure(argv: Sequence[str] | None = None) -> None:
    """Sets what TensorFlow will print, from ``--verbosity`` in `argv`.

    Call it before TensorFlow is imported (the entry-point packages do, on
    import). Sets ``TF_CPP_MIN_LOG_LEVEL``; below INFO, also drops
    `KNOWN_NOISE` from what TensorFlow prints while it loads and while TFF
    compiles (`filter_known_noise`).

    Args:
      argv: the command line; None means `sys.argv`.
    """
    global _filtering
    given = verbosity_from_argv(sys.argv if argv is None else argv)
    if given is not None:
        os.environ[CPP_LOG_LEVEL_ENV] = str(cpp_min_log_level(given))
    else:
        os.environ.setdefault(
            CPP_LOG_LEVEL_ENV, str(cpp_min_log_level(DEFAULT_VERBOSITY))
        )
    verbosity = DEFAULT_VERBOSITY if given is None else given
    _filtering = verbosity < 0
    hooked = any(isinstance(f, _FilteredImport) for f in sys.meta_path)
    if _filtering and "tensorflow" not in sys.modules and not hooked:
        sys.meta_path.insert(0, _FilteredImport("tensorflow"))


def default_python_verbosity(flag_values) -> None:
    """After flags are parsed: WARNING unless ``--verbosity`` was given.

    absl's `app.run` raises an unset ``--verbosity`` to INFO; setting it
    here (`tff_rec.cli.parse_flags` does) keeps the default at WARNING.
    """
    if flag_values["verbosity"].using_default_value:
        flag_values.verbosity = DEFAULT_VERBOSITY


def is_known_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in KNOWN_NOISE)


@contextlib.contextmanager
def filter_known_noise() -> Iterator[None]:
    """Drops `KNOWN_NOISE` from what is written to stderr (fd 2) meanwhile.

    Everything written to the process's stderr, by Python or C++, goes to a
    temporary file and is written back, without the known noise, when the
    block ends (also when it raises). A no-op unless `configure` chose a
    verbosity below INFO.
    """
    if not _filtering:
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().splitlines(keepends=True)
                if not is_known_noise(line.decode("utf-8", "replace"))
            ]
            if kept:
                os.write(2, b"".join(kept))


class _FilteredImport(importlib.abc.MetaPathFinder):
    """Loads one top-level module inside `filter_known_noise`."""

    def __init__(self, name: str):
        self._name = name

    def find_spec(self, fullname, path, target=None):
        if fullname != self._name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The module's own loader, for importlib.reload and introspection.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filter_known_noise():
            self._loader.exec_module(module)
