"""Labels in the store (schema 7): a store of schema 6 opens and gains the table; every change
is a version; reads answer on a store no roar has upgraded (read-only, no labels table)."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from roar.store import labels, migrations, writer
from roar.store.connection import connect
from roar.store.queries import reader


def _job(**overrides) -> writer.NewJob:
    now = time.time()
    fields = dict(kind="run", command="python train.py", argv=["python", "train.py"], cwd="",
                  started_at=now, ended_at=now + 1, exit_code=0, tracer="ptrace",
                  step_identity="train", algorithm="blake3",
                  files=[writer.HashedFile("/p/data.csv", "input", "a" * 64, 10),
                         writer.HashedFile("/p/model.pt", "output", "b" * 64, 20)])  # fmt: skip
    fields.update(overrides)
    return writer.NewJob(**fields)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_store_of_schema_6_opens_and_gains_the_labels_table(tmp_path):
    db = tmp_path / "roar.db"
    old = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(old, target=6)  # what roar created before labels
    job = writer.record_job(old, _job())
    assert "labels" not in _tables(old)
    old.close()

    ro = connect(db, readonly=True)  # an editor's read-only connection: no migration, no labels
    assert migrations.current_version(ro) == 6
    assert labels.current(ro, labels.Entity("job", job.uid)) is None
    assert (
        labels.documents(ro, "job", [job.uid]) == {}
        and labels.history(ro, labels.Entity("job", job.uid)) == []
    )
    ro.close()

    conn = connect(db)  # a newer roar opens it: migrated in place, the job kept
    assert migrations.current_version(conn) == migrations.LATEST >= 7
    assert "labels" in _tables(conn)
    uniques = [r for r in conn.execute("PRAGMA index_list(labels)") if r[2]]
    assert uniques, "one version number per entity is enforced by the store"
    with reader(db) as r:
        assert [j.uid for j in r.session_jobs(r.active_session().id)] == [job.uid]
    entity = labels.Entity("job", job.uid)
    made = labels.update(conn, entity, "set", {"phase": "train"}, lambda d: {**d, "phase": "train"})
    assert made is not None and made.version == 1
    assert labels.documents(conn, "job", [job.uid, "nope"]) == {job.uid: {"phase": "train"}}


def test_every_change_is_a_version_and_an_unchanged_document_is_none(tmp_path):
    conn = connect(tmp_path / "roar.db")
    entity = labels.Entity("artifact", "c" * 64)
    for n in (1, 2, 3):
        assert (
            labels.update(conn, entity, "set", {"n": n}, lambda d, n=n: {**d, "n": n}).version == n
        )
    assert labels.update(conn, entity, "set", {"n": 3}, lambda d: {**d, "n": 3}) is None
    versions = labels.history(conn, entity)
    assert [(v.version, v.document) for v in versions] == [
        (1, {"n": 1}),
        (2, {"n": 2}),
        (3, {"n": 3}),
    ]
    assert labels.current(conn, entity).document == {"n": 3}


def test_parallel_label_writers_each_get_their_own_version(tmp_path):
    db = tmp_path / "roar.db"
    connect(db).close()
    entity = labels.Entity("dag", "s" * 32)

    def write(i: int) -> int:
        conn = connect(db)
        try:
            made = labels.update(conn, entity, "set", {f"k{i}": i}, lambda d: {**d, f"k{i}": i})
            return made.version
        finally:
            conn.close()

    with ThreadPoolExecutor(6) as pool:
        versions = sorted(pool.map(write, range(12)))
    assert versions == list(range(1, 13))
    final = labels.current(connect(db), entity).document
    assert final == {f"k{i}": i for i in range(12)}  # no write lost another's keys


def test_many_keys_are_read_in_one_scan(tmp_path):
    conn = connect(tmp_path / "roar.db")
    for i in range(3):
        labels.update(conn, labels.Entity("job", f"j{i}"), "set", {}, lambda d, i=i: {"i": i})
    keys = [f"j{i}" for i in range(5000)]  # more than the batched IN reads
    assert labels.documents(conn, "job", keys) == {"j0": {"i": 0}, "j1": {"i": 1}, "j2": {"i": 2}}
