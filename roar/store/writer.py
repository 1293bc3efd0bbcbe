"""Writing a finished job: one short transaction, batched statements.

This is the ``roar run`` hot path, so it speaks SQL through the standard ``sqlite3`` module:
importing SQLAlchemy alone costs ~125 ms here, most of the budget for ``roar run true``.
Table and column names match ``schema.py`` (a test holds the two together); reads in
``queries.py`` speak plain SQL the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence

from roar.records import field, record
from roar.store.connection import transaction
from roar.store.paths import storable_path, stored_path

TYPE_CHECKING = False  # typing is not imported at run time: annotations only
if TYPE_CHECKING:
    from typing import TypeVar

    _K = TypeVar("_K")

_BATCH = 500  # stay well under SQLite's bound-parameter limit


def _batches(keys: Sequence[_K]) -> Iterator[tuple[Sequence[_K], str]]:
    """``keys`` in slices of ``_BATCH``, each with its ``?,?,…`` placeholders for ``IN (…)``."""
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start : start + _BATCH]
        yield chunk, ",".join("?" * len(chunk))


@record(frozen=True)
class HashedFile:
    """A file (or composite directory) a job touched, with its content identity.

    A ``deleted`` file carries what the path held before the job removed it, as roar last
    recorded it (``last_known``); its digest is None when that is unknown (size then 0).
    """

    path: str
    role: str  # "input" | "output" | "deleted"
    digest: str | None
    size: int
    is_composite: bool = False
    members: Sequence[tuple[str, str, int]] = ()  # (relpath, digest, size) for composites


@record(frozen=True)
class VariableUse:
    """A user-namespace name a cell read or (re)defined; for a read, the cell job that defined it."""

    name: str
    role: str  # "read" | "defined"
    producer_job_id: int | None = None


@record(frozen=True)
class CacheEntry:
    dev: int
    inode: int
    size: int
    mtime_ns: int
    digest: str
    path: str


@record
class NewJob:
    kind: str
    command: str
    argv: list[str]
    cwd: str
    started_at: float
    ended_at: float
    exit_code: int | None  # None: not seen (a job recovered after roar was killed)
    tracer: str
    step_identity: str
    algorithm: str
    files: list[HashedFile] = field(default_factory=list)
    step_name: str | None = None
    forced_step: int | None = None  # `roar run @N`: rerun step N whatever the command
    interrupted: bool = False
    git_commit: str | None = None
    git_branch: str | None = None
    git_remote: str | None = None
    git_dirty: bool = False
    git_diff_hash: str | None = None
    metadata: dict = field(default_factory=dict)
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    source: str | None = None
    source_hash: str | None = None
    variables: list[VariableUse] = field(default_factory=list)
    # What an object store said about the objects a `get`/`put` moved: (url, etag, version_id,
    # size, digest), written with the job (schema 8's remote_objects) in the same transaction.
    remote_objects: list[tuple[str, str | None, str | None, int, str]] = field(default_factory=list)


@record(frozen=True)
class RecordedJob:
    id: int
    uid: str
    step_number: int
    session_id: int
    is_rerun: bool


def storable_text(text: str) -> str:
    """A command line is text: undecodable bytes (surrogate-escaped) appear as ``\\xNN`` (the
    job's argv keeps them exactly)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def record_job(
    conn: sqlite3.Connection, job: NewJob, cache: Iterable[CacheEntry] = ()
) -> RecordedJob:
    """Write ``job`` with its files and the fresh hash-cache entries atomically."""
    with transaction(conn):
        session_id = _active_session(conn, job.git_commit)
        step, is_rerun = _assign_step(conn, session_id, job)
        uid = _new_job_uid(conn)
        job_id = _insert_job(conn, job, uid, session_id, step)
        artifact_ids = _upsert_artifacts(conn, job)
        conn.executemany(
            "INSERT OR REPLACE INTO job_files (job_id, role, path, artifact_id) VALUES (?, ?, ?, ?)",
            [
                (job_id, f.role, storable_path(f.path), artifact_ids.get(f.digest or ""))
                for f in job.files
            ],
        )
        _insert_members(conn, job, artifact_ids)
        conn.executemany(
            "INSERT OR REPLACE INTO job_variables (job_id, role, name, producer_job_id) "
            "VALUES (?, ?, ?, ?)",
            [(job_id, v.role, v.name, v.producer_job_id) for v in job.variables],
        )
        _update_cache(conn, job.algorithm, cache)
        if job.remote_objects:
            _insert_remote(conn, job, job_id, artifact_ids)
    return RecordedJob(job_id, uid, step, session_id, is_rerun)


def update_cache(conn: sqlite3.Connection, algorithm: str, cache: Iterable[CacheEntry]) -> None:
    """Store fresh digests outside a job (e.g. hashes computed by `roar show PATH`)."""
    with transaction(conn):
        _update_cache(conn, algorithm, cache)


def lookup_cache(
    conn: sqlite3.Connection, algorithm: str, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, int, str]]:
    """(dev, inode) → (size, mtime_ns, digest) for the keys the cache knows.

    Asked per device, so each statement is a lookup on the (dev, inode, algorithm) primary key
    rather than a scan of the whole cache.
    """
    by_dev: dict[int, list[int]] = {}
    for dev, inode in set(keys):
        by_dev.setdefault(dev, []).append(inode)
    found: dict[tuple[int, int], tuple[int, int, str]] = {}
    for dev, inodes in by_dev.items():
        inodes.sort()
        for chunk, marks in _batches(inodes):
            rows = conn.execute(
                f"SELECT inode, size, mtime_ns, digest FROM hash_cache "
                f"WHERE dev = ? AND inode IN ({marks}) AND algorithm = ?",
                (dev, *chunk, algorithm),
            )
            for inode, size, mtime_ns, digest in rows:
                found[(dev, inode)] = (size, mtime_ns, digest)
    return found


@record(frozen=True)
class KnownContent:
    digest: str
    size: int
    is_composite: bool = False


def last_known(
    conn: sqlite3.Connection, algorithm: str, paths: Sequence[str]
) -> dict[str, KnownContent]:
    """What each path held as roar last recorded it — for a file a job removed, which can no
    longer be hashed. Paths with no answer are left out (their content is unknown).

    The newest job record at the path decides (within one job: deleted, then output, then
    input): an input or output gives its artifact; a deletion means the path was made again
    outside any recorded job, so what it held is unknown. A path no job recorded falls back to
    the hash cache (the newest content hashed at that path, e.g. a member of a recorded
    directory). Digests of another algorithm than ``algorithm`` do not count.
    """
    stored = {storable_path(p): p for p in paths}
    found: dict[str, KnownContent] = {}
    recorded: set[str | bytes] = set()
    keys = list(stored)
    for chunk, marks in _batches(keys):
        rows = conn.execute(
            "SELECT jf.path, jf.role, a.algorithm, a.digest, a.size, a.is_composite "
            "FROM job_files jf "
            f"LEFT JOIN artifacts a ON a.id = jf.artifact_id WHERE jf.path IN ({marks}) "
            "ORDER BY jf.job_id, CASE jf.role WHEN 'input' THEN 0 WHEN 'output' THEN 1 ELSE 2 END",
            chunk,
        )
        for path, role, algo, digest, size, composite in rows:  # oldest first: newest wins
            recorded.add(path)
            if role != "deleted" and digest is not None and algo == algorithm:
                found[stored[path]] = KnownContent(digest, int(size), bool(composite))
            else:
                found.pop(stored[path], None)
    rest = [k for k in keys if k not in recorded]
    for chunk, marks in _batches(rest):
        rows = conn.execute(
            f"SELECT path, digest, size FROM hash_cache WHERE algorithm = ? AND path IN ({marks}) "
            "ORDER BY mtime_ns",
            (algorithm, *chunk),
        )
        for path, digest, size in rows:
            found[stored[path]] = KnownContent(digest, int(size))
    return found


def recorded_composites(conn: sqlite3.Connection, directories: Iterable[str]) -> set[str]:
    """Which of ``directories`` a recorded job wrote as one composite (directory) output."""
    stored = {storable_path(d): d for d in directories}
    found: set[str] = set()
    keys = list(stored)
    for chunk, marks in _batches(keys):
        rows = conn.execute(
            "SELECT DISTINCT jf.path FROM job_files jf JOIN artifacts a ON a.id = jf.artifact_id "
            f"WHERE jf.role = 'output' AND a.is_composite = 1 AND jf.path IN ({marks})",
            chunk,
        )
        found.update(stored[path] for (path,) in rows)
    return found


def _active_session(conn: sqlite3.Connection, git_commit: str | None) -> int:
    row = conn.execute(
        "SELECT id FROM sessions WHERE is_active = 1 ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row:
        return int(row[0])
    return create_session(conn, git_commit)


def create_session(conn: sqlite3.Connection, git_commit: str | None = None) -> int:
    """Deactivate the current session and start a new one (inside the caller's transaction)."""
    conn.execute("UPDATE sessions SET is_active = 0 WHERE is_active = 1")
    cur = conn.execute(
        "INSERT INTO sessions (uid, created_at, is_active, git_commit_start) VALUES (?, ?, 1, ?)",
        (_token_hex(32), time.time(), git_commit),
    )
    return int(cur.lastrowid or 0)


def _assign_step(conn: sqlite3.Connection, session_id: int, job: NewJob) -> tuple[int, bool]:
    if job.forced_step is not None:
        return job.forced_step, True
    row = conn.execute(
        "SELECT step_number FROM jobs WHERE session_id = ? AND step_identity = ? "
        "ORDER BY id DESC LIMIT 1",
        (session_id, job.step_identity),
    ).fetchone()
    if row:
        return int(row[0]), True
    # Build steps are numbered on their own (@B1, @B2, …), the pipeline's steps (runs and
    # cells) on theirs (@1, @2, …): a first build after five runs is @B1 (schema 6).
    (highest,) = conn.execute(
        "SELECT COALESCE(MAX(step_number), 0) FROM jobs WHERE session_id = ? "
        "AND (kind = 'build') = ?",
        (session_id, job.kind == "build"),
    ).fetchone()
    return int(highest) + 1, False


def _token_hex(nbytes: int) -> str:
    # What secrets.token_hex does, without importing secrets (and with it random, base64,
    # hmac and hashlib) on the `roar run` path.
    return os.urandom(nbytes).hex()


def _new_job_uid(conn: sqlite3.Connection) -> str:
    while True:
        uid = _token_hex(4)
        if not conn.execute("SELECT 1 FROM jobs WHERE uid = ?", (uid,)).fetchone():
            return uid


def _insert_job(conn: sqlite3.Connection, job: NewJob, uid: str, session_id: int, step: int) -> int:
    cur = conn.execute(
        """INSERT INTO jobs (uid, session_id, kind, step_number, step_name, step_identity,
               command, argv, cwd, started_at, ended_at, exit_code, interrupted, tracer,
               git_commit, git_branch, git_remote, git_dirty, git_diff_hash, metadata,
               notebook_path, cell_id, execution_count, source, source_hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            uid, session_id, job.kind, step, job.step_name, job.step_identity,
            storable_text(job.command), json.dumps(job.argv), storable_path(job.cwd), job.started_at, job.ended_at,
            job.exit_code, job.interrupted, job.tracer,
            job.git_commit, job.git_branch, job.git_remote, job.git_dirty, job.git_diff_hash,
            json.dumps(job.metadata, sort_keys=True),
            job.notebook_path, job.cell_id, job.execution_count, job.source, job.source_hash,
        ),
    )  # fmt: skip
    return int(cur.lastrowid or 0)


def _upsert_artifacts(conn: sqlite3.Connection, job: NewJob) -> dict[str, int]:
    now = time.time()
    rows: dict[str, tuple] = {}
    for f in job.files:
        if f.digest is None:  # a deleted file whose content roar never recorded
            continue
        path = storable_path(f.path)
        rows.setdefault(f.digest, (job.algorithm, f.digest, f.size, f.is_composite, now, path))
        for relpath, digest, size in f.members:
            member_path = storable_path(f"{f.path}/{relpath}")
            rows.setdefault(digest, (job.algorithm, digest, size, False, now, member_path))
    conn.executemany(
        "INSERT OR IGNORE INTO artifacts (algorithm, digest, size, is_composite, first_seen_at, "
        "first_seen_path) VALUES (?, ?, ?, ?, ?, ?)",
        rows.values(),
    )
    ids: dict[str, int] = {}
    digests = list(rows)
    for chunk, marks in _batches(digests):
        for artifact_id, digest in conn.execute(
            f"SELECT id, digest FROM artifacts WHERE algorithm = ? AND digest IN ({marks})",
            (job.algorithm, *chunk),
        ):
            ids[digest] = int(artifact_id)
    return ids


def _insert_members(conn: sqlite3.Connection, job: NewJob, ids: dict[str, int]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO composite_members (composite_id, relpath, member_id) VALUES (?, ?, ?)",
        [
            (ids[f.digest], storable_path(relpath), ids[digest])
            for f in job.files
            if f.is_composite and f.digest is not None
            for relpath, digest, _size in f.members
        ],
    )


def _insert_remote(conn: sqlite3.Connection, job: NewJob, job_id: int, ids: dict[str, int]) -> None:
    """The job's remote objects not yet known (same url, etag, version and content); each holds
    an artifact of the job's files (a remote object whose digest is not one is left out)."""
    now = time.time()
    conn.executemany(
        "INSERT INTO remote_objects (url, etag, version_id, size, artifact_id, job_id, "
        "first_seen_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
        "remote_objects WHERE url = ? AND etag IS ? AND version_id IS ? AND artifact_id = ?)",
        [
            (url, etag, version, size, ids[digest], job_id, now, url, etag, version, ids[digest])
            for url, etag, version, size, digest in job.remote_objects
            if digest in ids
        ],
    )


def _update_cache(conn: sqlite3.Connection, algorithm: str, cache: Iterable[CacheEntry]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO hash_cache (dev, inode, algorithm, size, mtime_ns, digest, path) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (c.dev, c.inode, algorithm, c.size, c.mtime_ns, c.digest, storable_path(c.path))
            for c in cache
        ],
    )


def start_new_session(
    conn: sqlite3.Connection, git_commit: str | None = None
) -> tuple[int | None, int]:
    """`roar reset`: (old active session id, new session id)."""
    with transaction(conn):
        row = conn.execute("SELECT id FROM sessions WHERE is_active = 1").fetchone()
        new_id = create_session(conn, git_commit)
    return (int(row[0]) if row else None), new_id


def activate_session(conn: sqlite3.Connection, session_id: int) -> None:
    """`roar session use`: make an earlier session the active one (the others are kept)."""
    with transaction(conn):
        conn.execute("UPDATE sessions SET is_active = 0 WHERE is_active = 1")
        conn.execute("UPDATE sessions SET is_active = 1 WHERE id = ?", (session_id,))


def delete_job(conn: sqlite3.Connection, job_id: int) -> list[str]:
    """`roar pop`: remove a job and the artifacts nothing refers to any more.

    Returns the job's output paths, for the caller to delete from disk once committed.
    """
    with transaction(conn):
        outputs = [
            stored_path(path)
            for (path,) in conn.execute(
                "SELECT path FROM job_files WHERE job_id = ? AND role = 'output'", (job_id,)
            )
        ]
        conn.execute("DELETE FROM job_files WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM job_variables WHERE job_id = ?", (job_id,))
        conn.execute(
            "UPDATE job_variables SET producer_job_id = NULL WHERE producer_job_id = ?", (job_id,)
        )
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        conn.execute(
            """DELETE FROM composite_members WHERE composite_id IN (
                   SELECT a.id FROM artifacts a WHERE a.is_composite = 1
                   AND NOT EXISTS (SELECT 1 FROM job_files f WHERE f.artifact_id = a.id))"""
        )
        conn.execute(
            """DELETE FROM artifacts WHERE
                   NOT EXISTS (SELECT 1 FROM job_files f WHERE f.artifact_id = artifacts.id)
               AND NOT EXISTS (SELECT 1 FROM composite_members m WHERE m.member_id = artifacts.id)"""
        )
    return outputs
