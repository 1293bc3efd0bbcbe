"""Indexed reads for walking lineage upstream from one target: ``roar inputs``, ``reproduce``.

Plain ``sqlite3`` statements over a connection the caller holds, each batched over one level of
the walk (``IN (...)`` on an indexed column), so the cost follows the size of the target's
lineage, never the size of the store or of its session: a 100,000-job store answers as fast as
a ten-job one. Results are the plain views of ``views.py`` (or the small records below).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from roar.records import record
from roar.store.paths import storable_path, stored_path
from roar.store.views import ArtifactView

Connection = sqlite3.Connection  # what callers hold and pass back
_BATCH = 500
_ARTIFACT = (
    "a.id, a.algorithm, a.digest, a.size, a.is_composite, a.first_seen_at, a.first_seen_path"
)
_JOB = (
    "j.id, j.uid, j.session_id, j.kind, j.step_number, j.step_name, j.command, j.argv, j.cwd, "
    "j.started_at, j.ended_at, j.exit_code, j.interrupted, j.tracer, j.git_commit, j.git_branch, "
    "j.git_remote, j.git_dirty, j.git_diff_hash, j.metadata, j.notebook_path, j.cell_id, "
    "j.execution_count, j.source, j.source_hash"
)
_HEAD = "j.id, j.session_id, j.kind, j.step_number, j.started_at, j.exit_code, j.interrupted"


@record(frozen=True)
class JobHead:
    """Just enough of a job to choose between producers: which step, when, how it ended."""

    id: int
    session_id: int
    kind: str
    step_number: int
    started_at: float
    exit_code: int | None
    interrupted: bool

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.interrupted

    @property
    def is_build(self) -> bool:
        return self.kind == "build"


@record(frozen=True)
class CachedFile:
    """A hash-cache entry: a file that held ``digest`` when roar last hashed it."""

    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int


def _chunks(items: Sequence) -> Iterator[tuple[list, str]]:
    for start in range(0, len(items), _BATCH):
        chunk = list(items[start : start + _BATCH])
        yield chunk, ",".join("?" * len(chunk))


def _artifact(row: Sequence) -> ArtifactView:
    seen = stored_path(row[6]) if row[6] is not None else None
    return ArtifactView(row[0], row[1], row[2], row[3], bool(row[4]), row[5], seen)


def _head(row: Sequence) -> JobHead:
    return JobHead(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))


# jobs ---------------------------------------------------------------------------------------
def session_heads(conn: sqlite3.Connection, session_id: int) -> list[JobHead]:
    """Every job of a session, light (no files): to pick each step's latest successful run."""
    rows = conn.execute(f"SELECT {_HEAD} FROM jobs j WHERE j.session_id = ?", (session_id,))
    return [_head(r) for r in rows]


def build_heads(conn: Connection, session_ids: Iterable[int]) -> list[JobHead]:
    """The build jobs (``roar build``) of the sessions.

    Builds are numbered on their own, @B1, @B2, … with no gaps (``writer._assign_step``), so
    they sit among the lowest step numbers: each session is read through its
    (session_id, step_number) index up to a bound that grows until the builds end well below
    it — a few dozen rows, never the session's 100,000 run steps."""
    found: list[JobHead] = []
    for session_id in sorted(set(session_ids)):
        bound = 32
        while True:
            rows = conn.execute(
                f"SELECT {_HEAD} FROM jobs j WHERE j.session_id = ? AND j.step_number <= ? "
                "AND j.kind = 'build'",
                (session_id, bound),
            )
            heads = [_head(r) for r in rows]
            if max((h.step_number for h in heads), default=0) <= bound // 2:
                break
            bound *= 4
        found += heads
    return found


def producers(conn: sqlite3.Connection, artifact_ids: Iterable[int]) -> dict[int, list[JobHead]]:
    """artifact id → the jobs that wrote it (any session), as light heads."""
    found: dict[int, list[JobHead]] = {}
    for chunk, marks in _chunks(sorted(set(artifact_ids))):
        rows = conn.execute(
            f"SELECT jf.artifact_id, {_HEAD} FROM job_files jf JOIN jobs j ON j.id = jf.job_id "
            f"WHERE jf.artifact_id IN ({marks}) AND jf.role = 'output'",
            chunk,
        )
        for r in rows:
            found.setdefault(int(r[0]), []).append(_head(r[1:]))
    return found


# artifacts ----------------------------------------------------------------------------------
def latest_artifact_at(conn: sqlite3.Connection, path: str) -> ArtifactView | None:
    """The artifact of the newest record (read or written) at ``path``, if any."""
    row = conn.execute(
        f"SELECT {_ARTIFACT} FROM job_files jf JOIN artifacts a ON a.id = jf.artifact_id "
        "WHERE jf.path = ? AND jf.role IN ('input', 'output') ORDER BY jf.job_id DESC LIMIT 1",
        (storable_path(path),),
    ).fetchone()
    return _artifact(row) if row else None


def recorded_paths(conn: sqlite3.Connection, artifact_ids: Iterable[int]) -> dict[int, list[str]]:
    """artifact id → every path a job read or wrote it at, newest record first."""
    found: dict[int, list[str]] = {}
    for chunk, marks in _chunks(sorted(set(artifact_ids))):
        rows = conn.execute(
            "SELECT artifact_id, path FROM job_files "
            f"WHERE artifact_id IN ({marks}) AND role IN ('input', 'output') "
            "ORDER BY job_id DESC",
            chunk,
        )
        for aid, path in rows:
            paths = found.setdefault(int(aid), [])
            p = stored_path(path)
            if p not in paths:
                paths.append(p)
    return found


def cached_files(
    conn: sqlite3.Connection, algorithm: str, digests: Iterable[str]
) -> dict[str, list[CachedFile]]:
    """digest → hash-cache entries that held it (where those bytes were last seen on disk).

    The cache has no index on the digest; this is asked only for inputs not found where they
    were recorded, in one statement per 500 digests."""
    found: dict[str, list[CachedFile]] = {}
    for chunk, marks in _chunks(sorted(set(digests))):
        rows = conn.execute(
            "SELECT digest, path, dev, inode, size, mtime_ns FROM hash_cache "
            f"WHERE algorithm = ? AND digest IN ({marks})",
            (algorithm, *chunk),
        )
        for digest, path, dev, inode, size, mtime_ns in rows:
            found.setdefault(digest, []).append(
                CachedFile(stored_path(path), dev, inode, size, mtime_ns)
            )
    return found


def session_uid(conn: sqlite3.Connection, session_id: int) -> str | None:
    row = conn.execute("SELECT uid FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return str(row[0]) if row else None
