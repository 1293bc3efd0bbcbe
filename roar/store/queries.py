"""Reading the store: plain SQL through the standard ``sqlite3`` module, results as plain views
(``views.py``) that outlive the connection.

No SQLAlchemy here: importing it took ~125 ms, more than a whole ``roar show`` or ``roar inputs``
should. The tables are the ones ``schema.py`` models and ``migrations.py`` builds. A job's files
and variables are loaded for a batch of jobs at once (one statement per table and batch of
``_BATCH`` ids), never one statement per job.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from roar.store.connection import connect, describe_failure
from roar.store.paths import storable_path, stored_path
from roar.store.views import (
    ArtifactView,
    DeletedFile,
    FileView,
    JobView,
    SessionView,
    VariableRef,
)

_BATCH = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit

_SESSION_COLUMNS = "s.id, s.uid, s.created_at, s.is_active, s.git_commit_start"
_ARTIFACT_COLUMNS = (
    "a.id, a.algorithm, a.digest, a.size, a.is_composite, a.first_seen_at, a.first_seen_path"
)
_JOB_COLUMNS = (
    "j.id, j.uid, j.session_id, j.kind, j.step_number, j.step_name, j.command, j.argv, j.cwd, "
    "j.started_at, j.ended_at, j.exit_code, j.interrupted, j.tracer, j.git_commit, j.git_branch, "
    "j.git_remote, j.git_dirty, j.git_diff_hash, j.metadata, j.notebook_path, j.cell_id, "
    "j.execution_count, j.source, j.source_hash"
)


class Reader:
    """Read-side queries over one connection (``conn``)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    # sessions ---------------------------------------------------------------------------
    def active_session(self) -> SessionView | None:
        row = self.conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.is_active "
            "ORDER BY s.id DESC LIMIT 1"
        ).fetchone()
        return _session_view(row) if row else None

    def sessions(self) -> list[SessionView]:
        rows = self.conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s ORDER BY s.id")
        return [_session_view(r) for r in rows]

    def session_job_counts(self) -> dict[int, int]:
        """session id → how many jobs it holds."""
        rows = self.conn.execute("SELECT session_id, COUNT(*) FROM jobs GROUP BY session_id")
        return {int(sid): int(n) for sid, n in rows}

    # jobs ---------------------------------------------------------------------------------
    def session_jobs(self, session_id: int) -> list[JobView]:
        """Every job of a session in execution order, with inputs and outputs."""
        return self._jobs(
            f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.session_id = ? ORDER BY j.started_at, j.id",
            (session_id,),
        )

    def step_job(self, session_id: int, number: int, *, build: bool = False) -> JobView | None:
        """The latest job of step ``@N`` (``@BN`` when ``build``) in a session, latest as
        ``lineage.latest_per_step`` has it (by start, then id): one read of the
        (session_id, step_number) index, whatever the session's size."""
        found = self._jobs(
            f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.session_id = ? AND j.step_number = ? "
            "AND (j.kind = 'build') = ? ORDER BY j.started_at DESC, j.id DESC LIMIT 1",
            (session_id, number, build),
        )
        return found[0] if found else None

    def jobs_by_uid_prefix(self, prefix: str) -> list[JobView]:
        low = prefix.lower()
        return self._jobs(
            f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.uid >= ? AND j.uid < ? ORDER BY j.id",
            (low, low + "\uffff"),
        )

    def jobs_with_artifacts(self, artifact_ids: Iterable[int], role: str) -> list[JobView]:
        """Jobs (any session) that read or wrote any of the artifacts, newest first."""
        ids = sorted(set(artifact_ids))
        job_ids: set[int] = set()
        for batch in _batches(ids):
            rows = self.conn.execute(
                f"SELECT DISTINCT job_id FROM job_files WHERE role = ? "
                f"AND artifact_id IN ({_marks(batch)})",
                (role, *batch),
            )
            job_ids.update(r[0] for r in rows)
        return _newest_first(self.jobs_by_id(job_ids))

    def jobs_with_path(self, path: str) -> list[JobView]:
        rows = self.conn.execute(
            "SELECT DISTINCT job_id FROM job_files WHERE path = ?", (storable_path(path),)
        )
        return _newest_first(self.jobs_by_id({r[0] for r in rows}))

    def job_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    # artifacts ----------------------------------------------------------------------------
    def artifacts_by_digest_prefix(self, prefix: str) -> list[ArtifactView]:
        low = prefix.lower()
        rows = self.conn.execute(
            f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts a WHERE a.digest >= ? AND a.digest < ? "
            "ORDER BY a.digest LIMIT 50",
            (low, low + "\uffff"),
        )
        return [_artifact_view(r) for r in rows]

    def artifacts_by_digest(self, digest: str) -> list[ArtifactView]:
        """Every artifact with exactly this digest (one per algorithm at most)."""
        rows = self.conn.execute(
            f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts a WHERE a.digest = ? ORDER BY a.id",
            (digest.lower(),),
        )
        return [_artifact_view(r) for r in rows]

    def artifact(self, artifact_id: int) -> ArtifactView | None:
        row = self.conn.execute(
            f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts a WHERE a.id = ?", (artifact_id,)
        ).fetchone()
        return _artifact_view(row) if row else None

    def composites_containing(self, member_ids: Iterable[int]) -> dict[int, list[int]]:
        """member artifact id → ids of composite artifacts that contain it."""
        found: dict[int, list[int]] = {}
        for batch in _batches(sorted(set(member_ids))):
            rows = self.conn.execute(
                "SELECT member_id, composite_id FROM composite_members "
                f"WHERE member_id IN ({_marks(batch)})",
                batch,
            )
            for member_id, composite_id in rows:
                found.setdefault(member_id, []).append(composite_id)
        return found

    def composite_members(self, composite_id: int) -> list[tuple[str, ArtifactView]]:
        rows = self.conn.execute(
            f"SELECT cm.relpath, {_ARTIFACT_COLUMNS} FROM composite_members cm "
            "JOIN artifacts a ON a.id = cm.member_id WHERE cm.composite_id = ? "
            "ORDER BY cm.relpath",
            (composite_id,),
        )
        return [(stored_path(r[0]), _artifact_view(r[1:])) for r in rows]

    # hash cache (read only: readers never write the store) ------------------------------
    def cached_digests(
        self, algorithm: str, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[int, int, str]]:
        """(dev, inode) → (size, mtime_ns, digest) for the keys the hash cache knows."""
        from roar.store import writer

        return writer.lookup_cache(self.conn, algorithm, keys)

    # loading whole jobs -------------------------------------------------------------------
    def jobs_by_id(self, job_ids: Iterable[int]) -> list[JobView]:
        views: list[JobView] = []
        for batch in _batches(sorted(job_ids)):
            views += self._jobs(
                f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.id IN ({_marks(batch)})", batch
            )
        return views

    def _jobs(self, sql: str, args: Sequence[object]) -> list[JobView]:
        """The jobs a statement selects (``_JOB_COLUMNS``), in its order, with their files
        and variables."""
        views = [_job_view(row) for row in self.conn.execute(sql, args)]
        by_id = {v.id: v for v in views}
        for batch in _batches(list(by_id)):
            self._attach_files(by_id, batch)
            self._attach_variables(by_id, batch)
        return views

    def _attach_files(self, by_id: dict[int, JobView], batch: list[int]) -> None:
        rows = self.conn.execute(
            "SELECT jf.job_id, jf.role, jf.path, a.id, a.digest, a.size, a.is_composite, "
            "a.algorithm FROM job_files jf LEFT JOIN artifacts a ON a.id = jf.artifact_id "
            f"WHERE jf.job_id IN ({_marks(batch)}) ORDER BY jf.job_id, jf.path",
            batch,
        )
        for job_id, role, raw_path, art_id, digest, size, composite, algorithm in rows:
            view, path = by_id[job_id], stored_path(raw_path)
            if role == "deleted":
                view.deleted.append(
                    DeletedFile(path, digest, size, bool(composite), art_id)
                    if art_id is not None
                    else DeletedFile(path, None, None)
                )
                continue
            f = FileView(path, digest, size, bool(composite), art_id, algorithm)
            (view.inputs if role == "input" else view.outputs).append(f)

    def _attach_variables(self, by_id: dict[int, JobView], batch: list[int]) -> None:
        rows = self.conn.execute(
            "SELECT v.job_id, v.role, v.name, v.producer_job_id, p.uid FROM job_variables v "
            "LEFT JOIN jobs p ON p.id = v.producer_job_id "
            f"WHERE v.job_id IN ({_marks(batch)}) ORDER BY v.job_id, v.name",
            batch,
        )
        for job_id, role, name, producer_id, producer_uid in rows:
            view = by_id[job_id]
            if role == "read":
                view.variables_read.append(VariableRef(name, producer_id, producer_uid))
            else:
                view.variables_defined.append(name)


@contextmanager
def reader(db_path: Path, *, readonly: bool = False) -> Iterator[Reader]:
    """A ``Reader`` on the store at ``db_path``. Opened read-write (the default), the store is
    brought up to date first as by every front end (``connection.connect``: migrations, spooled
    and in-flight jobs); ``readonly`` opens it ``mode=ro``, as it is."""
    conn = connect(db_path, readonly=readonly)
    try:
        yield Reader(conn)
    except sqlite3.DatabaseError as exc:
        raise describe_failure(db_path, exc) from exc
    finally:
        conn.close()


def _batches(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield list(ids[start : start + _BATCH])


def _marks(batch: Sequence[object]) -> str:
    return ", ".join("?" * len(batch))


def _newest_first(jobs: list[JobView]) -> list[JobView]:
    return sorted(jobs, key=lambda j: (j.started_at, j.id), reverse=True)


def _session_view(row: Sequence) -> SessionView:
    return SessionView(row[0], row[1], row[2], bool(row[3]), row[4])


def _artifact_view(row: Sequence) -> ArtifactView:
    first_seen_path = stored_path(row[6]) if row[6] is not None else None
    return ArtifactView(row[0], row[1], row[2], row[3], bool(row[4]), row[5], first_seen_path)


def _job_view(row: Sequence) -> JobView:
    (
        id_, uid, session_id, kind, step_number, step_name, command, argv, cwd, started_at,
        ended_at, exit_code, interrupted, tracer, git_commit, git_branch, git_remote, git_dirty,
        git_diff_hash, metadata, notebook_path, cell_id, execution_count, source, source_hash,
    ) = row  # fmt: skip
    return JobView(
        id=id_, uid=uid, session_id=session_id, kind=kind, step_number=step_number,
        step_name=step_name, command=command, argv=json.loads(argv), cwd=stored_path(cwd),
        started_at=started_at, ended_at=ended_at, exit_code=exit_code,
        interrupted=bool(interrupted), tracer=tracer, git_commit=git_commit,
        git_branch=git_branch, git_remote=git_remote, git_dirty=bool(git_dirty),
        git_diff_hash=git_diff_hash, metadata=json.loads(metadata or "{}"),
        notebook_path=notebook_path, cell_id=cell_id, execution_count=execution_count,
        source=source, source_hash=source_hash,
    )  # fmt: skip
