"""Ranking what ``roar diff`` found: one line per possible cause, the most likely first.

The kinds come in the order a changed result is most often explained — data, parameters, code,
environment, packages, host, tracer, structure, then non-determinism — and, within a kind,
upstream steps first (the pairs are in execution order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roar.records import record

if TYPE_CHECKING:
    from roar.query.diff import CodeChange, FileChange, LineageDiff

CATEGORIES = (
    "inputs", "parameters", "code", "environment", "packages", "host", "tracer", "structure",
    "nondeterminism",
)  # fmt: skip


@record
class Cause:
    category: str
    summary: str


def causes(d: LineageDiff, root: Path) -> list[Cause]:
    """Every difference that may explain the outputs, the most likely first."""
    causes: list[Cause] = []
    if d.target is not None and d.a.anchor is None and d.b.anchor is None:
        assert d.target.a is not None and d.target.b is not None
        causes.append(Cause("inputs", f"A and B are source files (no recorded job made them) "
                                      f"with other content ({d.target.a.digest[:12]} → "
                                      f"{d.target.b.digest[:12]})"))  # fmt: skip
    for f in d.inputs:
        causes.append(Cause("inputs", _input_summary(f, root)))
    for sp in d.parameters:
        c = sp.param
        causes.append(
            Cause(
                "parameters",
                f"parameter {c.name} of {_steps(sp.step_a, sp.step_b)}: "
                f"{param_value(c.a, c.change == 'added')} → "
                f"{param_value(c.b, c.change == 'removed')}",
            )
        )
    for code in d.code:
        if not only_data(code):
            causes.append(Cause("code", code_summary(code)))
    for e in d.environment:
        causes.append(
            Cause(
                "environment", f"environment variable {e.name} {e.change} ({_step_list(e.steps)})"
            )
        )
    for pkg in d.packages:
        causes.append(
            Cause("packages", f"package {pkg.name}: {pkg.a or '(none)'} → {pkg.b or '(none)'}")
        )
    for h in d.host:
        causes.append(Cause("host", f"host {h.name}: {_value(h.a)} → {_value(h.b)}"))
    for t in d.tracer:
        causes.append(Cause("tracer", f"tracer {t.a} → {t.b} ({_step_list(t.steps)})"))
    for job in d.only_a:
        causes.append(Cause("structure", f"step {job.ref} only in A: {job.command}"))
    for job in d.only_b:
        causes.append(Cause("structure", f"step {job.ref} only in B: {job.command}"))
    for p in d.nondeterministic:
        causes.append(
            Cause(
                "nondeterminism",
                f"{_steps(*p.steps)} wrote other bytes from the same "
                "recorded inputs, parameters, code and environment (non-deterministic)",
            )
        )
    return causes


def _input_summary(f: FileChange, root: Path) -> str:
    steps = _steps(f.step_a or "?", f.step_b or "?")
    if f.a is None:
        assert f.b is not None
        return f"input {_rel(f.b.path, root)} only in B (read by {steps})"
    if f.b is None:
        return f"input {_rel(f.a.path, root)} only in A (read by {steps})"
    name = _rel(f.a.path, root)
    if f.b.path != f.a.path:
        name += f" → {_rel(f.b.path, root)}"
    inside = ""
    if f.members:
        shown = ", ".join(f"{rel} {change}" for rel, change in f.members[:3])
        more = f" and {len(f.members) - 3} more" if len(f.members) > 3 else ""
        inside = f": {shown}{more}"
    return f"input {name} changed ({f.a.digest[:12]} → {f.b.digest[:12]}){inside}, read by {steps}"


def code_summary(c: CodeChange) -> str:
    parts = []
    if c.commit_a != c.commit_b:
        parts.append(f"commit {(c.commit_a or 'none')[:10]} → {(c.commit_b or 'none')[:10]}")
    if c.dirty_a != c.dirty_b or c.diff_hash_a != c.diff_hash_b:
        parts.append(
            f"uncommitted changes {'yes' if c.dirty_a else 'no'} → {'yes' if c.dirty_b else 'no'}"
            if c.dirty_a != c.dirty_b
            else "other uncommitted changes"
        )
    if c.cells:
        parts.append(f"cell source of {_step_list(c.cells)}")
    if c.files is not None and c.commit_a != c.commit_b:
        shown = c.named_files or c.files
        more = len(c.files) - len(shown[:5])
        parts.append(
            f"{len(c.files)} file(s) differ: {', '.join(shown[:5])}"
            + (f" and {more} more" if more > 0 else "")
        )
        if only_data(c):
            parts.append("only data the steps read (see inputs)")
    return "code: " + "; ".join(parts) + f" ({_step_list(c.steps)})"


def _steps(a: str, b: str) -> str:
    return a if a == b else f"{a}/{b}"


def _step_list(steps: list[tuple[str, str]]) -> str:
    return ", ".join(_steps(a, b) for a, b in steps)


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)


def param_value(v: str | None, absent: bool) -> str:
    """A parameter's value as text: ``(absent)`` on the side without it, ``(flag)`` for an
    option given without a value."""
    return "(absent)" if absent else "(flag)" if v is None else v


def _rel(path: str, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def only_data(c: CodeChange) -> bool:
    """The commits differ only in files the steps read or wrote: a data change (told under
    inputs and outputs), not a code change."""
    return (
        c.files is not None
        and bool(c.files)
        and len(c.data_files) == len(c.files)
        and c.dirty_a == c.dirty_b
        and c.diff_hash_a == c.diff_hash_b
        and not c.cells
    )
