"""roar.store.provenance: the language server's read-only queries, on a store written by the
real writer."""

from __future__ import annotations

import sqlite3
import time

import pytest

from roar.errors import StoreError
from roar.store import migrations, writer
from roar.store import provenance as prov
from roar.store.connection import connect

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def job(cmd: str, files: list[tuple[str, str, str]], identity: str) -> writer.NewJob:
    now = time.time()
    return writer.NewJob(
        kind="run", command=cmd, argv=cmd.split(), cwd="", started_at=now, ended_at=now + 1,
        exit_code=0, tracer="ptrace", step_identity=identity, algorithm="blake3",
        files=[writer.HashedFile(p, role, d, 10) for p, role, d in files],
    )  # fmt: skip


@pytest.fixture
def store(tmp_path):
    db = tmp_path / "roar.db"
    conn = connect(db)
    writer.record_job(
        conn, job("python prep.py", [("/p/raw", "input", A), ("/p/clean", "output", B)], "prep")
    )
    writer.record_job(
        conn, job("python train.py", [("/p/clean", "input", B), ("/p/model", "output", C)], "train")
    )
    writer.record_job(conn, job("python eval.py", [("/p/model", "input", C)], "eval"))
    # prep reruns on new raw bytes: /p/clean now holds D
    writer.record_job(
        conn, job("python prep.py", [("/p/raw", "input", A), ("/p/clean", "output", D)], "prep")
    )
    writer.update_cache(conn, "blake3", [writer.CacheEntry(7, 42, 10, 99, C, "/p/model")])
    conn.close()
    ro = prov.open_readonly(db)
    yield ro
    ro.close()


def test_latest_record_and_producers(store):
    assert prov.tracked(store, ["/p/clean", "/p/nope", "/p/model"]) == {"/p/clean", "/p/model"}
    latest = prov.latest_record(store, "/p/clean")
    assert latest is not None and latest.artifact.digest == D and latest.role == "output"
    assert prov.latest_record(store, "/p/nope") is None
    producer = prov.producer(store, latest.artifact.id, path="/p/clean")
    assert producer is not None and producer.ref == "@1" and producer.argv == ["python", "prep.py"]
    # what produced the bytes train read, as of when it ran: the first prep, not the rerun
    b = prov.artifacts_by_prefix(store, "bbbbbbbb")[0]
    first = prov.producer(store, b.id, before_job=2)
    assert first is not None and first.id == 1
    assert prov.producer(store, prov.artifacts_by_prefix(store, A[:8])[0].id) is None  # a source


def test_inputs_consumers_and_hash_prefixes(store):
    model = prov.latest_record(store, "/p/model")
    assert model is not None
    consumers, count = prov.consumers(store, model.artifact.id)
    assert count == 1 and [j.command for j in consumers] == ["python eval.py"]
    assert [f.path for f in prov.job_files(store, 2, "input")] == ["/p/clean"]
    assert [a.digest for a in prov.artifacts_by_prefix(store, "CCCCCCCC")] == [C]  # any case
    assert prov.artifacts_by_prefix(store, "ee" * 4) == []
    assert prov.max_job_id(store) == 4
    assert sorted(prov.paths_recorded_after(store, 3)) == ["/p/clean", "/p/raw"]


def test_hash_cache_is_read_by_file_identity(store):
    assert prov.cached_digest(store, "blake3", 7, 42) == prov.CacheEntry(10, 99, C)
    assert prov.cached_digest(store, "sha256", 7, 42) is None
    assert prov.cached_digest(store, "blake3", 8, 42) is None


def test_readonly_connection_cannot_write_and_sees_new_commits(store, tmp_path):
    with pytest.raises(prov.ReadError):
        store.execute("DELETE FROM jobs")
    version = prov.data_version(store)
    conn = connect(tmp_path / "roar.db")
    writer.record_job(conn, job("python other.py", [("/p/x", "output", "e" * 64)], "other"))
    conn.close()
    assert prov.data_version(store) != version and prov.tracked(store, ["/p/x"]) == {"/p/x"}


def test_open_readonly_refuses_a_missing_store(tmp_path):
    with pytest.raises(StoreError):
        prov.open_readonly(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_a_copy_job_is_not_its_own_producer(tmp_path):
    """A job that copied a file unchanged wrote the bytes it read: the producer of its input
    is the job before it (the language server's upstream walk goes on from there)."""
    db = tmp_path / "roar.db"
    conn = connect(db)
    writer.record_job(conn, job("echo", [("/p/p1", "output", A)], "make"))
    writer.record_job(conn, job("cp", [("/p/p1", "input", A), ("/p/p2", "output", A)], "copy"))
    conn.close()
    ro = prov.open_readonly(db)
    try:
        a = prov.artifacts_by_prefix(ro, A[:8])[0]
        before_copy = prov.producer(ro, a.id, before_job=2)
        assert before_copy is not None and before_copy.command == "echo"
        assert prov.producer(ro, a.id, before_job=1) is None
    finally:
        ro.close()


def _store_of_schema(db, version: int) -> None:
    """A store as the roar of schema ``version`` left it: prep made /p/clean from /p/raw, and
    eval read it (rows in the first schema's columns, which every later one keeps)."""
    raw = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(raw, target=version)
    raw.execute("INSERT INTO sessions (uid, created_at, is_active) VALUES ('s1', 1.0, 1)")
    for n, cmd in ((1, "python prep.py"), (2, "python eval.py")):
        raw.execute(
            "INSERT INTO jobs (uid, session_id, kind, step_number, step_identity, command, argv, "
            "cwd, started_at, ended_at, exit_code, tracer) "
            "VALUES (?, 1, 'run', ?, ?, ?, ?, '', 1.0, 2.0, 0, 'ptrace')",
            (f"job{n}", n, cmd, cmd, f'["{cmd.split()[0]}", "{cmd.split()[1]}"]'),
        )
    for art, digest, path in ((1, A, "/p/raw"), (2, B, "/p/clean")):
        raw.execute(
            "INSERT INTO artifacts (id, algorithm, digest, size, is_composite, first_seen_at, "
            "first_seen_path) VALUES (?, 'blake3', ?, 10, 0, 1.0, ?)",
            (art, digest, path),
        )
    raw.executemany(
        "INSERT INTO job_files (job_id, role, path, artifact_id) VALUES (?, ?, ?, ?)",
        [(1, "input", "/p/raw", 1), (1, "output", "/p/clean", 2), (2, "input", "/p/clean", 2)],
    )
    raw.execute(
        "INSERT INTO hash_cache (dev, inode, algorithm, size, mtime_ns, digest, path) "
        "VALUES (7, 42, 'blake3', 10, 99, ?, '/p/clean')",
        (B,),
    )
    raw.close()


@pytest.mark.parametrize("version", range(1, migrations.LATEST + 1))
def test_every_read_answers_on_a_store_of_each_schema(tmp_path, version):
    """An editor may open a store no roar command has upgraded yet (a reader never migrates):
    each read answers on every schema from the first on, later columns reading as empty."""
    db = tmp_path / "roar.db"
    _store_of_schema(db, version)
    ro = prov.open_readonly(db)
    try:
        assert prov.schema_version(ro) == version
        assert prov.tracked(ro, ["/p/clean", "/p/nope"]) == {"/p/clean"}
        clean = prov.latest_record(ro, "/p/clean")
        assert clean is not None and clean.artifact.digest == B
        assert prov.record_in_job(ro, 1, "/p/clean") is not None
        made = prov.producer(ro, clean.artifact.id, path="/p/clean")
        assert made is not None and made.command == "python prep.py" and made.ref == "@1"
        assert made.argv == ["python", "prep.py"] and made.notebook_path is None
        assert prov.job(ro, 2) is not None
        consumers, count = prov.consumers(ro, clean.artifact.id)
        assert count == 1 and [j.command for j in consumers] == ["python eval.py"]
        assert [f.path for f in prov.job_files(ro, 1, "input")] == ["/p/raw"]
        assert [a.digest for a in prov.artifacts_by_prefix(ro, B[:8])] == [B]
        assert prov.cached_digest(ro, "blake3", 7, 42) == prov.CacheEntry(10, 99, B)
        assert prov.max_job_id(ro) == 2
        assert sorted(prov.paths_recorded_after(ro, 0)) == ["/p/clean", "/p/raw"]
    finally:
        ro.close()
    assert migrations.current_version(sqlite3.connect(db)) == version  # still as it was


def test_a_store_of_a_newer_roar_is_refused_with_what_to_do(tmp_path):
    db = tmp_path / "roar.db"
    _store_of_schema(db, migrations.LATEST)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    raw.close()
    with pytest.raises(prov.NewerStoreError) as refused:
        prov.open_readonly(db)
    assert refused.value.version == migrations.LATEST + 1
    assert f"newer roar (schema v{migrations.LATEST + 1}" in refused.value.message
    assert "upgrade the roar" in refused.value.message
