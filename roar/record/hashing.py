"""Content digests for the files a job touched, through the hash cache.

A file whose (device, inode, size, mtime_ns) matches the cache is never read again; the rest
are hashed by the native module in parallel (large files multi-threaded, GIL released).
A file another process keeps writing while it is hashed gets no digest (CHANGING), never the
digest of bytes it did not hold at one moment.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence

import roar._native as _native
from roar.records import field, record
from roar.store import writer
from roar.store.connection import Connection

ALGORITHMS = ("blake3", "sha256")
CHANGED = "changed before it could be hashed"
CHANGING = "changed while hashing"

# (device, inode, size, mtime_ns): what a file was when a job ended, to check it still is.
Identity = tuple[int, int, int, int]


@record
class Digests:
    """path → (digest, size) for what could be hashed; the cache entries to store."""

    found: dict[str, tuple[str, int]] = field(default_factory=dict)
    fresh: list[writer.CacheEntry] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path → reason (missing, directory…)
    cache_hits: int = 0


def hash_paths(
    conn: Connection | None,
    paths: Iterable[str],
    algorithm: str,
    expected: Mapping[str, Identity] | None = None,
) -> Digests:
    """Digests of ``paths``. With ``expected`` (hashing after the job has moved on, as cells
    are), a file whose identity is no longer what it was when the job ended fails as CHANGED:
    its content now is not what the job saw."""
    result = Digests()
    stats: dict[str, os.stat_result] = {}
    for path in dict.fromkeys(paths):
        try:
            st = os.stat(path)
        except OSError:
            result.failed[path] = "missing"
            continue
        if not stat.S_ISREG(st.st_mode):
            result.failed[path] = "not a regular file"
            continue
        if expected is not None and _changed(expected.get(path), identity_of(st)):
            result.failed[path] = CHANGED
            continue
        stats[path] = st
    cached = (
        writer.lookup_cache(conn, algorithm, [(s.st_dev, s.st_ino) for s in stats.values()])
        if conn
        else {}
    )
    misses: list[str] = []
    for path, st in stats.items():
        hit = cached.get((st.st_dev, st.st_ino))
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            result.found[path] = (hit[2], st.st_size)
            result.cache_hits += 1
        else:
            misses.append(path)
    _hash_misses(misses, algorithm, result, expected)
    return result


def identity_of(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def identities(paths: Iterable[str]) -> dict[str, Identity]:
    """The identity of each path that is a regular file now (the rest are left out)."""
    found: dict[str, Identity] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found[path] = identity_of(st)
    return found


def _changed(expected: Identity | None, now: Identity) -> bool:
    return expected is not None and tuple(expected) != now


def _hash_misses(
    paths: Sequence[str],
    algorithm: str,
    result: Digests,
    expected: Mapping[str, Identity] | None = None,
) -> None:
    if not paths:
        return
    for path, outcome in zip(
        paths, _native.hash_files([os.fsencode(p) for p in paths], algorithm), strict=True
    ):
        if isinstance(outcome, str):
            result.failed[path] = CHANGING if outcome == "changed" else outcome
            continue
        digest, size, dev, inode, mtime_ns = outcome
        if expected is not None and _changed(expected.get(path), (dev, inode, size, mtime_ns)):
            result.failed[path] = CHANGED  # replaced between our stat and the hash
            continue
        result.found[path] = (digest, size)
        result.fresh.append(writer.CacheEntry(dev, inode, size, mtime_ns, digest, path))


def composite_digest(members: Sequence[tuple[str, str]], algorithm: str) -> str:
    """Digest of a directory from its members' relative paths and digests."""
    return str(_native.composite_digest(list(members), algorithm))


def hash_file(path: str, algorithm: str = "blake3") -> str:
    return str(_native.hash_file(os.fsencode(path), algorithm))


def hash_bytes(data: bytes, algorithm: str = "blake3") -> str:
    """The digest of ``data``: for sha256 the same hex digest as hashlib's, without loading
    OpenSSL's libcrypto (``import hashlib``) on `roar run`'s path."""
    return str(_native.hash_bytes(data, algorithm))
