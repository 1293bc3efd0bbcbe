"""Schema 5: a job's exit code may be unknown (NULL): a job recovered after its roar was killed
records an exit status nobody saw as unknown, never a made-up one (issue 13, item 3)."""

from __future__ import annotations

import sqlite3
import time

from roar.store import migrations, writer
from roar.store.connection import connect
from roar.store.queries import reader


def test_a_schema_4_store_upgrades_keeping_every_row_and_takes_an_unknown_exit_code(tmp_path):
    db = tmp_path / "roar.db"
    old = sqlite3.connect(db, isolation_level=None)
    old.execute("PRAGMA foreign_keys = ON")
    migrations.migrate(old, target=4)
    old.execute("INSERT INTO sessions (uid, created_at, is_active) VALUES ('s1', 1.0, 1)")
    old.execute(
        "INSERT INTO jobs (uid, session_id, kind, step_number, step_identity, command, argv, cwd, "
        "started_at, ended_at, exit_code, tracer, notebook_path) VALUES "
        "('abcd1234', 1, 'run', 1, 'x', 'echo hi', '[\"echo\", \"hi\"]', '', 1.0, 2.0, 3, "
        "'ptrace', 'n.ipynb')"
    )
    old.execute(
        "INSERT INTO artifacts (algorithm, digest, size, first_seen_at) VALUES ('blake3', 'd', 1, 1)"
    )
    old.execute("INSERT INTO job_files VALUES (1, 'output', '/p/out', 1)")
    old.execute(
        "INSERT INTO job_variables (job_id, role, name, producer_job_id) VALUES (1, 'defined', 'x', 1)"
    )
    old.close()

    conn = connect(db)  # migrated in place: the rebuilt jobs table keeps its rows and referrers
    assert migrations.current_version(conn) == migrations.LATEST >= 5
    assert conn.execute("SELECT exit_code, notebook_path FROM jobs").fetchall() == [(3, "n.ipynb")]
    assert conn.execute("SELECT count(*) FROM job_files").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM job_variables").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    now = time.time()
    recorded = writer.record_job(
        conn,
        writer.NewJob(
            kind="run", command="train", argv=["train"], cwd="", started_at=now,
            ended_at=now + 1, exit_code=None, interrupted=True, tracer="preload",
            step_identity="train", algorithm="blake3",
        ),
    )  # fmt: skip
    with reader(db) as r:
        jobs = r.session_jobs(r.active_session().id)
    unknown = [j for j in jobs if j.uid == recorded.uid]
    assert len(unknown) == 1 and unknown[0].exit_code is None and unknown[0].interrupted
    # deleting a job still cascades (foreign keys are back on after the rebuild)
    conn.execute("DELETE FROM jobs WHERE uid = 'abcd1234'")
    assert conn.execute("SELECT count(*) FROM job_files").fetchone()[0] == 0
