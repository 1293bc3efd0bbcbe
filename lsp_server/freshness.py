"""Does the file on disk still hold what roar recorded, and did anything upstream change?

Checked through the hash cache so that a hover never reads a big file: a file whose
(device, inode, size, mtime_ns) matches a cache entry has that entry's digest. A small file the
cache does not know is hashed here (and remembered in memory, never written to the store); a
big one whose size or stat identity moved is reported as modified without reading it.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass, field

from roar import hashing
from roar.store import provenance as prov
from roar.store.views import FileView

CURRENT = "current"
MODIFIED = "modified on disk"
MISSING = "missing"
STALE = "stale"

SMALL_FILE = 2 << 20  # hashing 2 MiB costs ~2 ms: cheap enough to do inside a hover
WALK_BUDGET = 200  # jobs visited upstream per check: a bound on one hover's cost


@dataclass
class Upstream:
    """The outcome of an upstream walk: the first inputs found changed, with who read them."""

    changed: list[tuple[str, str]] = field(default_factory=list)  # (path, how it changed)
    complete: bool = True  # False: the budget ran out before the walk did


class DiskDigests:
    """Digests of files on disk, from the store's hash cache or (small files) hashed here."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int, int, int, str], str] = {}

    def state(
        self, conn: prov.Connection, path: str, digest: str, size: int, algorithm: str,
        composite: bool = False,
    ) -> str:  # fmt: skip
        """``current``, ``modified on disk`` or ``missing`` for a recorded (digest, size)."""
        try:
            st = os.stat(path)
        except OSError:
            return MISSING
        if composite:  # a directory's digest needs every member hashed: existing is enough here
            return CURRENT if stat.S_ISDIR(st.st_mode) else MODIFIED
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return MODIFIED
        known = self._known(conn, st, algorithm)
        if known is None and st.st_size <= SMALL_FILE:
            known = self._hash_small(path, st, algorithm)
        return CURRENT if known == digest else MODIFIED

    def _known(self, conn: prov.Connection, st: os.stat_result, algorithm: str) -> str | None:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, algorithm)
        if key in self._memo:
            return self._memo[key]
        entry = prov.cached_digest(conn, algorithm, st.st_dev, st.st_ino)
        if entry and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
            return entry.digest
        return None

    def _hash_small(self, path: str, st: os.stat_result, algorithm: str) -> str | None:
        try:
            digest = hashing.hash_file(path, algorithm)
        except (OSError, ValueError):
            return None
        if len(self._memo) > 10_000:
            self._memo.clear()
        self._memo[(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, algorithm)] = digest
        return digest


def changed_upstream(
    conn: prov.Connection, producer: prov.JobRef, disk: DiskDigests, algorithm: str
) -> Upstream:
    """Inputs of ``producer`` (and of their producers, breadth first) that no longer hold
    the bytes that were read: a newer record at the path, or other bytes on disk.

    A deleted input does not count: the artifact was made from bytes that did exist.
    """
    result = Upstream()
    queue = deque([producer])
    visited = {producer.id}
    while queue:
        job = queue.popleft()
        for f in prov.job_files(conn, job.id, "input"):
            how = _input_change(conn, f, job.id, disk, algorithm)
            if how:
                result.changed.append((f.path, how))
                continue
            if result.changed:
                continue  # the nearest changes are reported; no need to look further up
            upper = prov.producer(conn, f.artifact_id, before_job=job.id)
            if upper is not None and upper.id not in visited:
                if len(visited) >= WALK_BUDGET:
                    result.complete = False
                    return result
                visited.add(upper.id)
                queue.append(upper)
        if result.changed:
            return result
    return result


def _input_change(
    conn: prov.Connection, f: FileView, job_id: int, disk: DiskDigests, algorithm: str
) -> str | None:
    latest = prov.latest_record(conn, f.path)
    if latest is not None and latest.job_id > job_id and latest.artifact.digest != f.digest:
        return "rewritten"
    state = disk.state(conn, f.path, f.digest, f.size, algorithm, f.is_composite)
    return "modified on disk" if state == MODIFIED else None
