"""Reads for walking upstream from one step of a session, one indexed statement each.

``roar make`` asks these for the steps upstream of its target only, so its cost follows the
target's lineage, not the session's size (a 100,000-job session is never loaded). The rules are
the DAG's (``roar.query.lineage``): a step stands for its latest run; build steps stay off the
pipeline's edges; the producer of what a run read is the newest job of another step that wrote
those bytes before the run started; ordering is by (started_at, id).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from roar.records import record
from roar.store.paths import storable_path, stored_path
from roar.store.views import step_ref

_STEP = (
    "SELECT j.id, j.uid, j.kind, j.step_number, j.command, j.argv, j.cwd, j.started_at, "
    "j.exit_code, j.notebook_path FROM jobs j"
)


@record(frozen=True)
class StepRun:
    """One run of a step: what ``roar make`` needs to judge it and to run it again."""

    id: int
    uid: str
    kind: str
    step_number: int
    command: str
    argv: list[str]
    cwd: str  # relative to the project root
    started_at: float
    exit_code: int | None
    notebook_path: str | None = None

    @property
    def ref(self) -> str:
        return step_ref(self.kind, self.step_number)


@record(frozen=True)
class Write:
    """A recorded write of a path: by which run, of which bytes."""

    job_id: int
    step_number: int
    started_at: float
    digest: str


def active_session_id(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT id FROM sessions WHERE is_active = 1 ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else None


def latest_run(conn: sqlite3.Connection, session_id: int, step_number: int) -> StepRun | None:
    """The latest run of pipeline step ``step_number`` (run or cell, not a build)."""
    row = conn.execute(
        f"{_STEP} WHERE j.session_id = ? AND j.step_number = ? AND j.kind != 'build' "
        "ORDER BY j.started_at DESC, j.id DESC LIMIT 1",
        (session_id, step_number),
    ).fetchone()
    return _run(row) if row else None


def newest_write(
    conn: sqlite3.Connection, session_id: int, path: str, *, other_than_step: int | None = None
) -> Write | None:
    """The newest pipeline job of the session that wrote ``path`` (of a step other than
    ``other_than_step`` when given)."""
    sql = (
        "SELECT j.id, j.step_number, j.started_at, a.digest FROM job_files jf "
        "JOIN jobs j ON j.id = jf.job_id JOIN artifacts a ON a.id = jf.artifact_id "
        "WHERE jf.path = ? AND jf.role = 'output' AND j.session_id = ? AND j.kind != 'build'"
    )
    args: list[object] = [storable_path(path), session_id]
    if other_than_step is not None:
        sql += " AND j.step_number != ?"
        args.append(other_than_step)
    row = conn.execute(sql + " ORDER BY j.started_at DESC, j.id DESC LIMIT 1", args).fetchone()
    return Write(int(row[0]), int(row[1]), float(row[2]), str(row[3])) if row else None


def newest_write_of(conn: sqlite3.Connection, session_id: int, artifact_id: int) -> Write | None:
    """The newest pipeline job of the session that wrote these bytes (at any path)."""
    row = conn.execute(
        "SELECT j.id, j.step_number, j.started_at, a.digest FROM job_files jf "
        "JOIN jobs j ON j.id = jf.job_id JOIN artifacts a ON a.id = jf.artifact_id "
        "WHERE jf.artifact_id = ? AND jf.role = 'output' AND j.session_id = ? "
        "AND j.kind != 'build' ORDER BY j.started_at DESC, j.id DESC LIMIT 1",
        (artifact_id, session_id),
    ).fetchone()
    return Write(int(row[0]), int(row[1]), float(row[2]), str(row[3])) if row else None


def producer_step(
    conn: sqlite3.Connection, session_id: int, artifact_id: int, consumer: StepRun
) -> int | None:
    """The step whose job made the bytes ``consumer`` read: the newest job of another pipeline
    step of the session that wrote them, started no later than the consumer (the DAG's rule)."""
    row = conn.execute(
        "SELECT j.step_number FROM job_files jf JOIN jobs j ON j.id = jf.job_id "
        "WHERE jf.artifact_id = ? AND jf.role = 'output' AND j.session_id = ? "
        "AND j.kind != 'build' AND j.step_number != ? AND j.started_at <= ? "
        "ORDER BY j.started_at DESC, j.id DESC LIMIT 1",
        (artifact_id, session_id, consumer.step_number, consumer.started_at),
    ).fetchone()
    return int(row[0]) if row else None


def path_recorded(conn: sqlite3.Connection, paths: Sequence[str]) -> bool:
    """Did any job read or write one of these paths?"""
    return any(
        conn.execute(
            "SELECT 1 FROM job_files WHERE path = ? LIMIT 1", (storable_path(p),)
        ).fetchone()
        for p in paths
    )


def _run(row: Sequence) -> StepRun:
    try:
        argv = json.loads(row[5])
    except ValueError:
        argv = []
    return StepRun(
        int(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]),
        [str(a) for a in argv] if isinstance(argv, list) else [], stored_path(row[6] or ""),
        float(row[7]), row[8], row[9],
    )  # fmt: skip
