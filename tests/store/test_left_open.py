"""`roar run` leaves its store connection to end with the process (no checkpoint on close),
committing with synchronous=FULL so a recorded job is on disk when roar reports it
(roar.store.connection.leave_open_at_exit). Real roar processes, the real store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROAR


def jobs_in_the_database_file_alone(db: Path) -> int:
    """Jobs in roar.db itself, ignoring its WAL (immutable: no -shm, no recovery, no writes)."""
    uri = f"file:{db}?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        conn.close()


def test_run_leaves_its_job_in_the_wal_for_the_next_opener(repo, run_roar):
    db = repo / ".roar" / "roar.db"
    assert jobs_in_the_database_file_alone(db) == 0  # roar init closed its connection
    run_roar("run", "-q", "true", cwd=repo)
    run_roar("run", "-q", "sh", "-c", "exit 0", cwd=repo)
    run_roar("run", "-q", "true", cwd=repo)
    wal = db.with_name("roar.db-wal")
    # Not checkpointed when roar exited: the jobs are in the WAL, not yet in roar.db ...
    assert wal.stat().st_size > 0
    assert jobs_in_the_database_file_alone(db) == 0
    # ... and every reader sees them (the next connection reads the WAL back).
    log = run_roar("log", cwd=repo).stdout
    assert log.count("true") == 2 and "sh -c 'exit 0'" in log
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        conn.close()  # the last connection: SQLite checkpoints the WAL into roar.db
    assert total == 3
    assert jobs_in_the_database_file_alone(db) == 3


def test_a_connection_left_open_commits_with_synchronous_full(repo):
    # FULL (2): each commit fsyncs the WAL, so no checkpoint is needed for durability.
    # Plain use of the store (every other command, a caller's main(argv)) stays NORMAL (1),
    # with the checkpoint on close.
    code = (
        "import sys; from pathlib import Path; from roar.store import connection as c\n"
        "db = Path(sys.argv[1])\n"
        "with c.opened(db) as conn: print(conn.execute('PRAGMA synchronous').fetchone()[0])\n"
        "c.leave_open_at_exit()\n"
        "with c.opened(db) as conn: print(conn.execute('PRAGMA synchronous').fetchone()[0])\n"
        "print(len(c._left_open), c._left_open[0].in_transaction)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(repo / ".roar" / "roar.db")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["1", "2", "1", "False"]


def test_a_caller_of_main_closes_the_store(repo):
    # main(argv) from a caller returns instead of ending the process: its connection closes
    # (and checkpoints) as before, so roar.db alone holds the job afterwards.
    code = "from roar.cli.main import main; raise SystemExit(main(['run', '-q', 'true']))"
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True)
    db = repo / ".roar" / "roar.db"
    assert not db.with_name("roar.db-wal").exists()
    assert jobs_in_the_database_file_alone(db) == 1
    assert subprocess.run([*ROAR, "log"], cwd=repo, capture_output=True, text=True,
                          env=os.environ).stdout.count("true") == 1  # fmt: skip
