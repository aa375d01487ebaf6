"""The commands in README.md and docs/ name real entry points and real flags.

Every ``python -m pipelines.<name>`` or ``python -m benchmarks.<name>``
command in the docs (with its backslash-continued lines) must name a module
that exists, and every ``--flag`` on it must be a flag that module defines,
so the docs cannot drift from the code. Each module's flags are read in a
fresh process (importing two entry points into one process could clash on
their flag names).
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"python -m ((?:pipelines|benchmarks)\.[a-z_0-9]+)")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9_]*)")
PRINT_FLAGS = (
    "import importlib, json, sys\n"
    "from absl import flags\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(json.dumps(sorted(flags.FLAGS)))\n"
)


def doc_commands() -> list[tuple[str, str, str]]:
    """(doc file, module, command text) of every documented command."""
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            match = COMMAND.search(line)
            if not match:
                i += 1
                continue
            # A command runs to the end of its line, plus continuations; in
            # prose it ends at the closing backquote.
            text = line[match.start() :]
            while text.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i]
            text = text.split("`")[0]
            found.append((path.name, match.group(1), text))
            i += 1
    return found


def test_the_docs_have_commands():
    modules = {module for _, module, _ in doc_commands()}
    assert "pipelines.train" in modules
    assert "benchmarks.scale_ml1m" in modules


def test_a_made_up_flag_is_caught():
    commands = [
        ("x.md", "pipelines.train", "python -m pipelines.train --no_such_flag=1")
    ]
    known = {"pipelines.train": {"rounds"}}
    assert _problems(commands, known) == [
        "x.md: python -m pipelines.train: no flag --no_such_flag"
    ]


def _module_flags(module: str) -> set[str] | None:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        return None
    result = subprocess.run(
        [sys.executable, "-c", PRINT_FLAGS, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _problems(commands, known) -> list[str]:
    problems = []
    for doc, module, text in commands:
        flags = known[module]
        if flags is None:
            problems.append(f"{doc}: python -m {module}: no such module")
            continue
        for name in FLAG.findall(text):
            boolean_negation = name.startswith("no") and name[2:] in flags
            if name not in flags and not boolean_negation:
                problems.append(f"{doc}: python -m {module}: no flag --{name}")
    return problems


def test_documented_commands_use_real_modules_and_flags():
    commands = doc_commands()
    known = {module: _module_flags(module) for module in {m for _, m, _ in commands}}
    assert _problems(commands, known) == []
