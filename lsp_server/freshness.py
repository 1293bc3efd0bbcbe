"""Does the file on disk still hold what roar recorded, and did anything upstream change?

Checked through the hash cache so that a hover never reads a big file: a file whose
(device, inode, size, mtime_ns) matches a cache entry has that entry's digest. A small file the
cache does not know is hashed here (and remembered in memory, never written to the store); a
big one whose size or stat identity moved is reported as modified without reading it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import partial

from roar.query import disk
from roar.query.disk import CURRENT, MISSING, MODIFIED, SMALL_FILE
from roar.store import provenance as prov
from roar.store.views import FileView

__all__ = ["CURRENT", "MISSING", "MODIFIED", "SMALL_FILE", "STALE", "DiskDigests", "Upstream",
           "changed_upstream"]  # fmt: skip

STALE = "stale"

WALK_BUDGET = 200  # jobs visited upstream per check: a bound on one hover's cost


@dataclass
class Upstream:
    """The outcome of an upstream walk: the first inputs found changed, with who read them."""

    changed: list[tuple[str, str]] = field(default_factory=list)  # (path, how it changed)
    complete: bool = True  # False: the budget ran out before the walk did


class DiskDigests:
    """roar core's ``disk.DiskDigests`` (what ``roar status`` and ``roar dag`` use too), asked
    through the editor's read-only connection."""

    def __init__(self) -> None:
        self._digests = disk.DiskDigests(SMALL_FILE)

    def state(
        self, conn: prov.Connection, path: str, digest: str, size: int, algorithm: str,
        composite: bool = False,
    ) -> str:  # fmt: skip
        """``current``, ``modified on disk`` or ``missing`` for a recorded (digest, size)."""
        lookup = partial(prov.cached_digests, conn)
        return self._digests.state(lookup, path, digest, size, algorithm, composite)


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
