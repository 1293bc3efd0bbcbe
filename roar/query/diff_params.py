"""A command line as a program and named parameters, so two runs compare option by option.

``python train.py data.csv --lr=0.1 --epochs 3`` is the program ``python train.py`` and the
parameters ``#1=data.csv``, ``--lr=0.1``, ``--epochs=3``: ``--lr=0.1`` and ``--lr 0.1`` are the
same parameter, so ``--lr=0.1`` against ``--lr 0.01`` reads as one change named ``--lr``.
Hydra-style ``key=value`` arguments are named by their key. Pure functions: no store, no disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from roar.records import record

# Programs that run a script named by their first argument: the script is part of the program.
INTERPRETERS = frozenset("python pypy Rscript R julia node deno bun bash sh zsh perl ruby".split())
# Interpreter options that take a value (``python -X importtime train.py``).
_VALUED_FLAGS = frozenset({"-X", "-W", "-Q", "--check-hash-based-pycs"})
_NUMBER = re.compile(r"^-\.?\d")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][\w.\-/+~]*=")
FLAG = None  # the value of an option given without one (``--verbose``)


@record(frozen=True)
class CommandShape:
    program: str  # ``python train.py``, ``python -m pkg.train``, ``cp``
    params: dict[str, str | None]  # parameter name → value (None: a flag), in argv order


@record(frozen=True)
class ParamChange:
    name: str  # ``--lr``, ``lr`` (Hydra), ``argument 2``, ``program``
    a: str | None
    b: str | None
    change: str  # changed | added | removed


def program_name(token: str) -> str:
    """``/usr/bin/python3.11`` → ``python``: the interpreter, whatever its version or place."""
    base = os.path.basename(token)
    stripped = re.sub(r"[\d.]+$", "", base)
    return stripped if stripped in INTERPRETERS else base


def shape(argv: list[str]) -> CommandShape:
    if not argv:
        return CommandShape("", {})
    program = program_name(argv[0])
    head, rest = [program], argv[1:]
    if program in INTERPRETERS:
        i = 0
        while i < len(rest):
            token = rest[i]
            if token in ("-m", "-c") and i + 1 < len(rest):
                head += [token, rest[i + 1]]
                i += 2
                break
            if token in _VALUED_FLAGS:
                i += 2
                continue
            if token.startswith("-") and token != "-":
                i += 1  # an interpreter option (-u, -O): not a parameter of the job
                continue
            head.append(os.path.normpath(token))
            i += 1
            break
        rest = rest[i:]
    return CommandShape(" ".join(head), parameters(rest))


def is_option(token: str) -> bool:
    return token.startswith("-") and token not in ("-", "--") and not _NUMBER.match(token)


def parameters(tokens: list[str]) -> dict[str, str | None]:
    """Name → value. Repeated options keep every value, space-separated, in order."""
    found: dict[str, list[str | None]] = {}
    position, i, options_done = 0, 0, False
    while i < len(tokens):
        token = tokens[i]
        if token == "--" and not options_done:
            options_done = True
        elif not options_done and is_option(token):
            if token.startswith("--") and "=" in token:
                name, value = token.split("=", 1)
                found.setdefault(name, []).append(value)
            elif i + 1 < len(tokens) and not is_option(tokens[i + 1]) and tokens[i + 1] != "--":
                found.setdefault(token, []).append(tokens[i + 1])
                i += 1
            else:
                found.setdefault(token, []).append(FLAG)
        elif _ASSIGNMENT.match(token) and not options_done:
            name, value = token.split("=", 1)
            found.setdefault(name, []).append(value)
        else:
            position += 1
            found[f"#{position}"] = [token]
        i += 1
    return {name: _joined(values) for name, values in found.items()}


def _joined(values: list[str | None]) -> str | None:
    if len(values) == 1:
        return values[0]
    return " ".join("" if v is None else v for v in values)


def display_name(name: str) -> str:
    return f"argument {name[1:]}" if name.startswith("#") else name


def compare(
    a: CommandShape,
    b: CommandShape,
    is_file_a: Callable[[str], bool] | None = None,
    is_file_b: Callable[[str], bool] | None = None,
) -> list[ParamChange]:
    """The parameters that differ, in ``a``'s order then ``b``'s new ones. A parameter whose
    value names a file the job read or wrote on both sides is left to the inputs and outputs
    (``data/v1.csv`` against ``data/v2.csv`` is a data change, told with the hashes there)."""
    changes: list[ParamChange] = []
    if a.program != b.program:
        changes.append(ParamChange("program", a.program, b.program, "changed"))
    for name in [*a.params, *(n for n in b.params if n not in a.params)]:
        in_a, in_b = name in a.params, name in b.params
        va, vb = a.params.get(name), b.params.get(name)
        if in_a and in_b and va == vb:
            continue
        if in_a and in_b and va is not None and vb is not None:
            if is_file_a and is_file_b and is_file_a(va) and is_file_b(vb):
                continue
            changes.append(ParamChange(display_name(name), va, vb, "changed"))
        elif in_a and in_b:
            changes.append(ParamChange(display_name(name), va, vb, "changed"))
        else:
            changes.append(ParamChange(display_name(name), va, vb, "removed" if in_a else "added"))
    return changes
