"""The store's schema contract: migrations build exactly the models, and old stores upgrade."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from roar.errors import StoreError
from roar.store import migrations, views, writer
from roar.store.connection import connect
from roar.store.queries import reader
from roar.store.schema import SCHEMA_VERSION, Base


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_migrations_match_models(tmp_path):
    conn = connect(tmp_path / "roar.db")
    assert migrations.current_version(conn) == SCHEMA_VERSION == migrations.LATEST
    for table in Base.metadata.sorted_tables:
        assert columns(conn, table.name) == {c.name for c in table.columns}, table.name


def test_store_journal_is_wal(tmp_path):
    conn = connect(tmp_path / "roar.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def sample_job(**overrides) -> writer.NewJob:
    now = time.time()
    fields = dict(kind="run", command="python train.py", argv=["python", "train.py"], cwd="",
                  started_at=now, ended_at=now + 1, exit_code=0, tracer="ptrace",
                  step_identity="train", algorithm="blake3",
                  files=[writer.HashedFile("/p/data.csv", "input", "a" * 64, 10),
                         writer.HashedFile("/p/model.pt", "output", "b" * 64, 20)])  # fmt: skip
    fields.update(overrides)
    return writer.NewJob(**fields)


def test_store_of_first_schema_opens_after_migration(tmp_path):
    db = tmp_path / "roar.db"
    old = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(old, target=1)  # exactly what the first release created
    assert migrations.current_version(old) == 1
    old.execute("INSERT INTO sessions (uid, created_at, is_active) VALUES ('s1', 1.0, 1)")
    old.execute(
        "INSERT INTO jobs (uid, session_id, kind, step_number, step_identity, command, argv, cwd, "
        "started_at, ended_at, exit_code, tracer) VALUES "
        "('abcd1234', 1, 'run', 1, 'x', 'echo hi', '[\"echo\", \"hi\"]', '', 1.0, 2.0, 0, 'ptrace')"
    )
    assert "notebook_path" not in columns(old, "jobs")
    old.close()

    conn = connect(db)  # a newer roar opens it: migrated in place, data kept
    assert migrations.current_version(conn) == migrations.LATEST
    assert "notebook_path" in columns(conn, "jobs")
    with reader(db) as r:
        jobs = r.session_jobs(r.active_session().id)
    assert [j.uid for j in jobs] == ["abcd1234"] and jobs[0].argv == ["echo", "hi"]
    recorded = writer.record_job(conn, sample_job())
    assert recorded.step_number == 2


def test_readonly_connection_never_migrates_or_creates(tmp_path):
    db = tmp_path / "roar.db"
    with pytest.raises(StoreError):
        connect(db, readonly=True)
    assert not db.exists()
    old = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(old, target=1)
    old.close()
    ro = connect(db, readonly=True)
    assert migrations.current_version(ro) == 1
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO sessions (uid, created_at) VALUES ('x', 1)")


def test_corrupt_store_is_a_clear_error(tmp_path):
    db = tmp_path / "roar.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is damaged") as raised:
        connect(db)
    assert raised.value.hint and "Move it aside" in raised.value.hint


def test_parallel_writers_all_land(tmp_path):
    db = tmp_path / "roar.db"
    connect(db).close()

    def write(i: int) -> int:
        conn = connect(db)
        try:
            return writer.record_job(
                conn, sample_job(step_identity=f"s{i}", command=f"c{i}")
            ).step_number
        finally:
            conn.close()

    with ThreadPoolExecutor(8) as pool:
        steps = list(pool.map(write, range(40)))
    assert sorted(steps) == list(range(1, 41))


def test_hash_cache_round_trip(tmp_path):
    conn = connect(tmp_path / "roar.db")
    entry = writer.CacheEntry(dev=1, inode=42, size=3, mtime_ns=99, digest="c" * 64, path="/p/x")
    writer.update_cache(conn, "blake3", [entry])
    assert writer.lookup_cache(conn, "blake3", [(1, 42), (1, 43)]) == {(1, 42): (3, 99, "c" * 64)}
    assert writer.lookup_cache(conn, "sha256", [(1, 42)]) == {}


def test_writer_columns_exist_in_models():
    """The hot-path writer names columns by hand; they must all be model columns."""
    import inspect
    import re

    source = re.sub(r'"\s*"', "", inspect.getsource(writer))  # join implicit concatenations
    for table in Base.metadata.sorted_tables:
        for match in re.finditer(rf"INSERT (?:OR \w+ )?INTO {table.name} \(([^)]*)\)", source):
            named = {c.strip() for c in match.group(1).split(",")}
            assert named <= {c.name for c in table.columns}, (table.name, named)


def test_store_of_schema_3_upgrades_to_deleted_files(tmp_path):
    """Version 4 rebuilds job_files (artifact_id nullable, for deleted files of unknown
    content): every row, the primary key and the indexes survive."""
    db = tmp_path / "roar.db"
    old = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(old, target=3)  # what roar created before version 4
    writer.record_job(old, sample_job())
    assert old.execute("SELECT COUNT(*) FROM job_files").fetchone()[0] == 2
    old.close()

    conn = connect(db)
    assert migrations.current_version(conn) == migrations.LATEST
    notnull = {row[1]: row[3] for row in conn.execute("PRAGMA table_info(job_files)")}
    assert notnull["artifact_id"] == 0 and notnull["path"] == 1
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(job_files)")}
    assert {"ix_job_files_path", "ix_job_files_artifact_id"} <= indexes
    gone = writer.HashedFile("/p/data.csv", "deleted", None, 0)
    writer.record_job(conn, sample_job(command="rm data.csv", step_identity="rm", files=[gone]))
    with reader(db) as r:
        jobs = r.session_jobs(r.active_session().id)
    assert [(len(j.inputs), len(j.outputs), j.deleted) for j in jobs] == [
        (1, 1, []),
        (0, 0, [views.DeletedFile("/p/data.csv", None, None)]),
    ]
    with pytest.raises(sqlite3.IntegrityError):  # the primary key is back
        conn.execute(
            "INSERT INTO job_files (job_id, role, path) VALUES (2, 'deleted', '/p/data.csv')"
        )


def test_store_of_schema_5_numbers_build_steps_on_their_own(tmp_path):
    """Version 6: build steps are @B1, @B2, … in each session, apart from run steps (they
    shared one counter). Old build steps are renumbered in the order each first ran; run steps
    keep their numbers; the next build and the next run continue their own counters."""
    db = tmp_path / "roar.db"
    old = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(old, target=5)
    for kind, step in [("run", 1), ("build", 2), ("run", 3), ("build", 4), ("build", 2)]:
        writer.record_job(
            old, sample_job(kind=kind, forced_step=step, step_identity=f"{kind}{step}")
        )
    old.close()

    conn = connect(db)
    assert migrations.current_version(conn) == migrations.LATEST
    writer.record_job(conn, sample_job(kind="build", step_identity="new build"))
    writer.record_job(conn, sample_job(kind="run", step_identity="new run"))
    with reader(db) as r:
        refs = [j.ref for j in r.session_jobs(r.active_session().id)]
    assert refs == ["@1", "@B1", "@3", "@B2", "@B1", "@B3", "@4"]
