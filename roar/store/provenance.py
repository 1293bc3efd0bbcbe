"""Read-only provenance lookups for editors: what is recorded at a path, who made it, who read it.

The language server calls these on every hover, so they are single indexed statements over a
``mode=ro`` connection through the standard ``sqlite3`` module (no ORM objects, no SQLAlchemy
import), each returning plain views. Nothing here writes, not even the hash cache: the store
belongs to ``roar run`` and the kernel, and a reader must never hold them up. Nor does it
migrate: a store of an older schema, one no roar command has upgraded yet, is read as it is
(every read works from schema 1 on); one of a newer roar is refused with what to do.

"Latest" means latest recorded: job ids grow with each write, so ``ORDER BY job_id DESC`` is the
order in which roar learnt things, whatever the jobs' start times.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from roar.errors import StoreError
from roar.records import record
from roar.store import migrations, writer
from roar.store.connection import connect
from roar.store.paths import storable_path, stored_path
from roar.store.views import ArtifactView, FileView, step_ref

Connection = sqlite3.Connection  # what callers hold and pass back
ReadError = sqlite3.Error  # what a failed read raises (a damaged or vanished store)

# A reader waits this long for a lock (WAL recovery, a checkpoint truncating the log) before it
# gives up on one request; the editor asks again on the next hover.
READ_BUSY_TIMEOUT_MS = 250
_BATCH = 500

# The job columns an editor shows. A store of an older schema (one no roar command has upgraded
# yet: a reader never migrates) lacks the later ones, which read as NULL: the notebook columns
# came with schema 2, everything else with schema 1.
_JOB_FIELDS = (
    "id", "uid", "kind", "step_number", "session_id", "command", "argv", "cwd", "started_at",
    "ended_at", "exit_code", "git_commit", "git_dirty", "notebook_path", "cell_id",
    "execution_count", "source",
)  # fmt: skip
_ARTIFACT_COLUMNS = (
    "a.id, a.algorithm, a.digest, a.size, a.is_composite, a.first_seen_at, a.first_seen_path"
)


@record(frozen=True)
class JobRef:
    """What an editor shows of a job: enough to name it, date it and jump to its code."""

    id: int
    uid: str
    kind: str
    step_number: int
    session_id: int
    command: str
    argv: list[str]
    cwd: str  # relative to the project root
    started_at: float
    ended_at: float
    exit_code: int
    git_commit: str | None
    git_dirty: bool
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    source: str | None = None

    @property
    def ref(self) -> str:
        return step_ref(self.kind, self.step_number)


@record(frozen=True)
class PathRecord:
    """The newest record of a path: which job saw it, in which role, as which artifact."""

    path: str
    role: str  # input | output | deleted
    job_id: int
    artifact: ArtifactView


@record(frozen=True)
class CacheEntry:
    """The hash cache's word on one (device, inode): the digest it had at this size and mtime."""

    size: int
    mtime_ns: int
    digest: str


def open_readonly(db_path: Path) -> sqlite3.Connection:
    """A ``mode=ro`` connection (never migrates, never creates) with a short busy timeout.

    Not ``immutable=1``: that would skip locking and miss every job written after opening.
    Raises ``StoreError`` for a missing or unreadable store, ``NewerStoreError`` for a store of
    a newer roar. A store of an older schema is read as it is (see ``_job_columns``).
    """
    try:
        conn = connect(db_path, readonly=True)
    except StoreError as exc:
        version = _peek_version(db_path)
        if version is not None and version > migrations.LATEST:
            raise NewerStoreError(version) from exc
        raise
    conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}")
    return conn


class NewerStoreError(StoreError):
    """The store was written by a newer roar: this one cannot read it. The message is meant
    for the user (an editor shows it as it is)."""

    def __init__(self, version: int):
        super().__init__(
            f"This project's roar store is from a newer roar (schema v{version}; this roar reads "
            f"up to v{migrations.LATEST}): upgrade the roar that runs roar-lsp to see provenance "
            "here.",
            hint="Upgrade roar to the version that wrote this store, or newer.",
        )
        self.version = version


def _peek_version(db_path: Path) -> int | None:
    uri = f"file:{os.fsencode(db_path).decode('utf-8', 'surrogateescape')}?mode=ro"
    try:
        peek = sqlite3.connect(uri, uri=True)
        try:
            return migrations.current_version(peek)
        finally:
            peek.close()
    except sqlite3.Error:
        return None


def schema_version(conn: sqlite3.Connection) -> int:
    return migrations.current_version(conn)


def data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection commits: one cheap statement to poll."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def tracked(conn: sqlite3.Connection, paths: Iterable[str]) -> set[str]:
    """The subset of ``paths`` that some job read or wrote."""
    wanted = list(dict.fromkeys(storable_path(p) for p in paths))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT DISTINCT path FROM job_files WHERE path IN ({marks})", chunk
        )  # fmt: skip
        found.update(stored_path(path) for (path,) in rows)
    return found


def latest_record(conn: sqlite3.Connection, path: str) -> PathRecord | None:
    row = conn.execute(
        f"SELECT jf.role, jf.job_id, {_ARTIFACT_COLUMNS} FROM job_files jf "
        "JOIN artifacts a ON a.id = jf.artifact_id WHERE jf.path = ? "
        "ORDER BY jf.job_id DESC LIMIT 1",
        (storable_path(path),),
    ).fetchone()
    return PathRecord(path, row[0], row[1], _artifact(row[2:])) if row else None


def record_in_job(conn: sqlite3.Connection, job_id: int, path: str) -> PathRecord | None:
    """How ``job_id`` saw ``path`` (output first: a job that rewrote a file it read made it)."""
    row = conn.execute(
        f"SELECT jf.role, jf.job_id, {_ARTIFACT_COLUMNS} FROM job_files jf "
        "JOIN artifacts a ON a.id = jf.artifact_id WHERE jf.job_id = ? AND jf.path = ? "
        "ORDER BY jf.role DESC LIMIT 1",
        (job_id, storable_path(path)),
    ).fetchone()
    return PathRecord(path, row[0], row[1], _artifact(row[2:])) if row else None


def artifacts_by_prefix(
    conn: sqlite3.Connection, prefix: str, limit: int = 2
) -> list[ArtifactView]:
    """Artifacts whose digest starts with ``prefix`` (a range scan on the digest index)."""
    low = prefix.lower()
    rows = conn.execute(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts a WHERE a.digest >= ? AND a.digest < ? "
        "ORDER BY a.digest LIMIT ?",
        (low, low + "\uffff", limit),
    )
    return [_artifact(r) for r in rows]


def job(conn: sqlite3.Connection, job_id: int) -> JobRef | None:
    row = conn.execute(
        f"SELECT {_job_columns(conn)} FROM jobs j WHERE j.id = ?", (job_id,)
    ).fetchone()
    return _job(row) if row else None


def producer(
    conn: sqlite3.Connection,
    artifact_id: int,
    *,
    path: str | None = None,
    before_job: int | None = None,
) -> JobRef | None:
    """The newest job that wrote this artifact (at ``path`` when given), recorded before
    ``before_job`` — never that job itself: a job that copied a file unchanged wrote the very
    bytes it read, and its producer is the job before it. None: no recorded job made these
    bytes (a source input)."""
    sql = (
        f"SELECT {_job_columns(conn)} FROM job_files jf JOIN jobs j ON j.id = jf.job_id "
        "WHERE jf.artifact_id = ? AND jf.role = 'output'"
    )
    args: list[object] = [artifact_id]
    if path is not None:
        sql += " AND jf.path = ?"
        args.append(storable_path(path))
    if before_job is not None:
        sql += " AND jf.job_id < ?"
        args.append(before_job)
    row = conn.execute(sql + " ORDER BY jf.job_id DESC LIMIT 1", args).fetchone()
    return _job(row) if row else None


def job_files(conn: sqlite3.Connection, job_id: int, role: str) -> list[FileView]:
    """A job's inputs or outputs (``role``), with each digest's algorithm."""
    rows = conn.execute(
        "SELECT jf.path, a.digest, a.size, a.is_composite, a.id, a.algorithm FROM job_files jf "
        "JOIN artifacts a ON a.id = jf.artifact_id WHERE jf.job_id = ? AND jf.role = ? "
        "ORDER BY jf.path",
        (job_id, role),
    )
    return [FileView(stored_path(p), d, s, bool(c), i, alg) for p, d, s, c, i, alg in rows]


def consumers(
    conn: sqlite3.Connection, artifact_id: int, limit: int = 5
) -> tuple[list[JobRef], int]:
    """The newest ``limit`` jobs that read this artifact, and how many did in all."""
    (count,) = conn.execute(
        "SELECT COUNT(DISTINCT job_id) FROM job_files WHERE artifact_id = ? AND role = 'input'",
        (artifact_id,),
    ).fetchone()
    rows = conn.execute(
        f"SELECT {_job_columns(conn)} FROM job_files jf JOIN jobs j ON j.id = jf.job_id "
        "WHERE jf.artifact_id = ? AND jf.role = 'input' GROUP BY j.id "
        "ORDER BY jf.job_id DESC LIMIT ?",
        (artifact_id, limit),
    )
    return [_job(r) for r in rows], int(count)


def cached_digest(
    conn: sqlite3.Connection, algorithm: str, dev: int, inode: int
) -> CacheEntry | None:
    """The hash cache's entry for one file identity (a primary-key lookup), read only."""
    hit = writer.lookup_cache(conn, algorithm, [(dev, inode)]).get((dev, inode))
    return CacheEntry(*hit) if hit else None


def cached_digests(
    conn: sqlite3.Connection, algorithm: str, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, int, str]]:
    """(dev, inode) → (size, mtime_ns, digest) for the keys the hash cache knows, read only."""
    return writer.lookup_cache(conn, algorithm, keys)


def max_job_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0])


def paths_recorded_after(conn: sqlite3.Connection, job_id: int) -> Iterator[str]:
    """Distinct paths of the files recorded by jobs newer than ``job_id`` (0: all of them)."""
    if job_id <= 0:
        rows = conn.execute("SELECT DISTINCT path FROM job_files")
    else:
        rows = conn.execute("SELECT DISTINCT path FROM job_files WHERE job_id > ?", (job_id,))
    for (path,) in rows:
        yield stored_path(path)


def _job_columns(conn: sqlite3.Connection) -> str:
    """The SELECT list of a job, NULL for the columns this store's schema does not have yet
    (one PRAGMA: the schema may be upgraded while the connection stays open)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    return ", ".join(f"j.{c}" if c in present else f"NULL AS {c}" for c in _JOB_FIELDS)


def _chunks(items: Sequence) -> Iterator[list]:
    for start in range(0, len(items), _BATCH):
        yield list(items[start : start + _BATCH])


def _artifact(row: Sequence) -> ArtifactView:
    first_seen_path = stored_path(row[6]) if row[6] is not None else None
    return ArtifactView(row[0], row[1], row[2], row[3], bool(row[4]), row[5], first_seen_path)


def _job(row: Sequence) -> JobRef:
    return JobRef(
        id=row[0], uid=row[1], kind=row[2], step_number=row[3], session_id=row[4],
        command=row[5], argv=_argv(row[6]), cwd=stored_path(row[7]), started_at=row[8],
        ended_at=row[9],
        exit_code=row[10], git_commit=row[11], git_dirty=bool(row[12]), notebook_path=row[13],
        cell_id=row[14], execution_count=row[15], source=row[16],
    )  # fmt: skip


def _argv(text: str) -> list[str]:
    try:
        argv = json.loads(text)
    except ValueError:
        return []
    return [str(a) for a in argv] if isinstance(argv, list) else []


def absolute_cwd(root: Path, job: JobRef) -> str:
    """A job's working directory on this machine (the store keeps it relative to the root)."""
    return os.path.join(str(root), job.cwd) if job.cwd else str(root)
