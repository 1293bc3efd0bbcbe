"""Source inputs put in place: each at its recorded path, mapped into the worktree, from any
local file whose content has the recorded hash.

Candidates, in order: the file the plan found (``present_at``), the recorded path itself in
the user's checkout, then every path the store saw those bytes at (job records, hash cache).
Each candidate is hashed (through the hash cache, read only) before it is used: a file may
have changed since roar saw it. Files are copied, never linked, so a step that rewrites its
input in place cannot change the user's copy. Everything is located before anything is
copied or run: a reproduction that lacks an input names every missing one at once.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roar.record import hashing
from roar.store import replicas
from roar.store.connection import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.reproduce.plan import SourceInput


@dataclass(frozen=True)
class PathMap:
    """Paths recorded under the original project root, moved to the worktree."""

    roots: tuple[str, ...]  # the project root as recorded: absolute, and its real path
    new_root: str

    @classmethod
    def of(cls, root: Path, new_root: Path) -> PathMap:
        roots = tuple(dict.fromkeys([os.path.abspath(root), os.path.realpath(root)]))
        return cls(roots, str(new_root))

    def rel(self, path: str) -> str | None:
        """``path`` relative to the project root, or None when it lies outside it."""
        for root in self.roots:
            if path == root:
                return ""
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1 :]
        return None

    def map(self, path: str) -> str:
        rel = self.rel(path)
        if rel is None:
            return path
        return os.path.join(self.new_root, rel) if rel else self.new_root

    def arg(self, arg: str) -> str:
        """A command-line argument with the project root in it (``--data=/proj/x.csv``)
        pointing into the worktree instead."""
        for root in self.roots:
            arg = re.sub(re.escape(root.rstrip("/")) + r"(?=/|$)", lambda _m: self.new_root, arg)
        return arg


@dataclass
class Copy:
    """One file to copy: ``origin`` holds the bytes ``dest`` needs."""

    origin: str
    dest: str


@dataclass
class Missing:
    path: str  # as recorded
    digest: str
    algorithm: str
    why: str = "no local file has these bytes"


@dataclass
class Located:
    copies: list[Copy] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)  # already there with the right bytes
    missing: list[Missing] = field(default_factory=list)


class _Hasher:
    """Digests of local files through the user's hash cache (read only), memoized."""

    def __init__(self, conn: Connection | None):
        self.conn = conn
        self.known: dict[tuple[str, str], str | None] = {}

    def digest(self, path: str, algorithm: str, size: int | None = None) -> str | None:
        key = (path, algorithm)
        if key not in self.known:
            try:
                if not os.path.isfile(path) or (size is not None and os.path.getsize(path) != size):
                    self.known[key] = None
                    return None
            except OSError:
                self.known[key] = None
                return None
            found = hashing.hash_paths(self.conn, [path], algorithm).found.get(path)
            self.known[key] = found[0] if found else None
        return self.known[key]


def locate(
    sources: list[SourceInput],
    paths: PathMap,
    conn: Connection | None,
) -> Located:
    """Where each source's bytes come from (nothing is copied yet)."""
    hasher = _Hasher(conn)
    out = Located()
    for src in sources:
        algorithm = src.algorithm or "blake3"
        dest = paths.map(src.path)
        if src.is_composite:
            _locate_composite(src, dest, algorithm, hasher, conn, out)
            continue
        if hasher.digest(dest, algorithm, src.size) == src.digest:
            out.in_place.append(dest)
            continue
        if os.path.lexists(dest) and paths.rel(src.path) is None:
            out.missing.append(
                Missing(src.path, src.digest, algorithm, "another file is at this path outside "
                        "the project; roar does not overwrite it")
            )  # fmt: skip
            continue
        origin = _find(src.digest, algorithm, src.size, [src.present_at, src.path], hasher, conn)
        if origin is None:
            out.missing.append(Missing(src.path, src.digest, algorithm))
        else:
            out.copies.append(Copy(origin, dest))
    return out


def _locate_composite(
    src: SourceInput,
    dest: str,
    algorithm: str,
    hasher: _Hasher,
    conn: Connection | None,
    out: Located,
) -> None:
    members = replicas.composite_members(conn, algorithm, src.digest) if conn else None
    if members is None:
        out.missing.append(
            Missing(src.path, src.digest, algorithm, "the store does not list this directory's files")
        )  # fmt: skip
        return
    for rel, digest, size in members:
        target = os.path.join(dest, rel)
        if hasher.digest(target, algorithm, size) == digest:
            out.in_place.append(target)
            continue
        first = [os.path.join(d, rel) for d in (src.present_at, src.path) if d]
        origin = _find(digest, algorithm, size, first, hasher, conn)
        if origin is None:
            out.missing.append(Missing(os.path.join(src.path, rel), digest, algorithm))
        else:
            out.copies.append(Copy(origin, target))


def _find(
    digest: str,
    algorithm: str,
    size: int,
    first: Sequence[str | None],
    hasher: _Hasher,
    conn: Connection | None,
) -> str | None:
    candidates = [p for p in first if p]
    for path in candidates:
        if hasher.digest(path, algorithm, size) == digest:
            return path
    if conn is None:
        return None
    for path in replicas.paths_holding(conn, algorithm, digest):
        if path not in candidates and hasher.digest(path, algorithm, size) == digest:
            return path
    return None


def place(copies: list[Copy]) -> None:
    for c in copies:
        os.makedirs(os.path.dirname(c.dest) or ".", exist_ok=True)
        shutil.copyfile(c.origin, c.dest)
        shutil.copymode(c.origin, c.dest)
