"""Did the replay make the same bytes? One row per reproduced artifact: match, differs, missing.

A replayed step's outputs are checked as soon as it ends, so the first step whose outputs
diverged is known even when later steps diverge too (they usually do: they read its output).
Files are hashed on disk in the worktree (what a later step will read); a directory is taken
from the worktree store's record of the replayed job, or hashed member by member.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from roar.record import hashing
from roar.store import replicas
from roar.store.connection import Connection
from roar.store.views import FileView

MATCH, DIFFERS, MISSING = "match", "differs", "missing"


@dataclass
class Row:
    path: str  # as recorded
    replayed_path: str  # in the worktree
    step: str  # the step that made it (@N, @BN)
    expected: str
    got: str | None
    is_target: bool = False

    @property
    def status(self) -> str:
        if self.got is None:
            return MISSING
        return MATCH if self.got == self.expected else DIFFERS

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "replayed_path": self.replayed_path,
            "step": self.step,
            "expected": self.expected,
            "got": self.got,
            "status": self.status,
            "is_target": self.is_target,
        }


def check(
    step: str,
    outputs: list[tuple[FileView, str, bool]],
    conn: Connection | None,
    after_job: int,
) -> list[Row]:
    """Rows for ``outputs`` — (recorded file, its path in the worktree, is it the target) —
    of the replayed ``step``; ``conn`` is the worktree's store, ``after_job`` the last job it
    held before the step ran."""
    rows: list[Row] = []
    files = [(f, p) for f, p, _ in outputs if not f.is_composite]
    by_alg: dict[str, list[str]] = {}
    for f, p in files:
        by_alg.setdefault(f.algorithm or "blake3", []).append(p)
    found: dict[tuple[str, str], str] = {}
    for algorithm, paths in by_alg.items():
        digests = hashing.hash_paths(None, paths, algorithm)
        for p, (digest, _size) in digests.found.items():
            found[(p, algorithm)] = digest
    for f, path, is_target in outputs:
        algorithm = f.algorithm or "blake3"
        got = (
            _directory_digest(path, algorithm, conn, after_job)
            if f.is_composite
            else found.get((path, algorithm))
        )
        rows.append(Row(f.path, path, step, f.digest, got, is_target))
    return rows


def _directory_digest(
    path: str, algorithm: str, conn: Connection | None, after_job: int
) -> str | None:
    if not os.path.isdir(path):
        return None
    recorded = replicas.newest_output(conn, path, after_job) if conn is not None else None
    if recorded is not None and recorded[2]:
        return recorded[0]
    members = sorted(os.path.join(d, name) for d, _dirs, names in os.walk(path) for name in names)
    digests = hashing.hash_paths(None, members, algorithm)
    prefix = len(path.rstrip("/")) + 1
    pairs = [(m[prefix:], digests.found[m][0]) for m in members if m in digests.found]
    return hashing.composite_digest(pairs, algorithm)


def first_divergence(rows: list[Row]) -> str | None:
    """The first step (in replay order) with an output that does not match."""
    for row in rows:
        if row.status != MATCH:
            return row.step
    return None


def table(rows: list[Row]) -> list[str]:
    """The verification table, as text lines."""
    if not rows:
        return ["(no artifacts to verify)"]
    width = max(len(r.step) for r in rows)
    lines = [f"{'STATUS':<8} {'STEP':<{width}} {'EXPECTED':<12} {'GOT':<12} PATH"]
    for r in rows:
        got = (r.got or "-")[:12]
        mark = "  (target)" if r.is_target else ""
        lines.append(
            f"{r.status:<8} {r.step:<{width}} {r.expected[:12]:<12} {got:<12} {r.replayed_path}{mark}"
        )
    return lines
