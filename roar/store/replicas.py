"""Where known bytes may still be found on this machine, for ``roar reproduce --run``.

Reproducing places each source input at its recorded path from any local file holding the
same bytes. These reads name the candidates: the paths the hash cache saw with that digest,
and the paths jobs recorded the artifact at. Callers check each candidate's content before
using it (a file may have changed since). Read only; plain ``sqlite3``.
"""

from __future__ import annotations

import sqlite3

from roar.store.paths import storable_path, stored_path

CANDIDATE_LIMIT = 50


def paths_holding(conn: sqlite3.Connection, algorithm: str, digest: str) -> list[str]:
    """Paths that held these bytes when roar last looked: job records first (newest first,
    through the digest and artifact indexes), then the hash cache's entries with the digest."""
    found: dict[str, None] = {}
    rows = conn.execute(
        "SELECT DISTINCT jf.path FROM artifacts a JOIN job_files jf ON jf.artifact_id = a.id "
        "WHERE a.digest = ? AND a.algorithm = ? AND jf.role IN ('input', 'output') "
        "ORDER BY jf.job_id DESC LIMIT ?",
        (digest, algorithm, CANDIDATE_LIMIT),
    )
    for (path,) in rows:
        found[stored_path(path)] = None
    # The hash cache has no index on the digest: a scan, but of one table and only on --run.
    rows = conn.execute(
        "SELECT path FROM hash_cache WHERE digest = ? AND algorithm = ? LIMIT ?",
        (digest, algorithm, CANDIDATE_LIMIT),
    )
    for (path,) in rows:
        found[stored_path(path)] = None
    return list(found)


def composite_members(
    conn: sqlite3.Connection, algorithm: str, digest: str
) -> list[tuple[str, str, int]] | None:
    """(relative path, digest, size) of each member of the composite artifact with this
    digest, ordered by path; None when the store knows no such composite."""
    row = conn.execute(
        "SELECT id FROM artifacts WHERE digest = ? AND algorithm = ? AND is_composite = 1",
        (digest, algorithm),
    ).fetchone()
    if row is None:
        return None
    rows = conn.execute(
        "SELECT cm.relpath, a.digest, a.size FROM composite_members cm "
        "JOIN artifacts a ON a.id = cm.member_id WHERE cm.composite_id = ? ORDER BY cm.relpath",
        (row[0],),
    )
    return [(stored_path(rel), str(d), int(s)) for rel, d, s in rows]


def newest_output(
    conn: sqlite3.Connection, path: str, after_job: int
) -> tuple[str, int, bool] | None:
    """(digest, size, is_composite) a job newer than ``after_job`` recorded writing at
    ``path``, the newest such record; None when none did."""
    row = conn.execute(
        "SELECT a.digest, a.size, a.is_composite FROM job_files jf "
        "JOIN artifacts a ON a.id = jf.artifact_id "
        "WHERE jf.path = ? AND jf.role = 'output' AND jf.job_id > ? "
        "ORDER BY jf.job_id DESC LIMIT 1",
        (storable_path(path), after_job),
    ).fetchone()
    return (str(row[0]), int(row[1]), bool(row[2])) if row else None


def last_job_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0])
