"""What a deleted file held, as the store last recorded it (``writer.last_known``): the newest
job record at the path decides, then the hash cache; a file that is gone is never hashed."""

from __future__ import annotations

import time

from roar.store import writer
from roar.store.connection import connect

A, B, C = ("a" * 64, "b" * 64, "c" * 64)


def job(identity: str, *files: tuple[str, str, str | None]) -> writer.NewJob:
    now = time.time()
    return writer.NewJob(
        kind="run", command=identity, argv=[identity], cwd="", started_at=now, ended_at=now + 1,
        exit_code=0, tracer="ptrace", step_identity=identity, algorithm="blake3",
        files=[writer.HashedFile(p, role, d, 10 if d else 0) for p, role, d in files],
    )  # fmt: skip


def test_the_newest_record_at_the_path_decides(tmp_path):
    conn = connect(tmp_path / "roar.db")
    writer.record_job(conn, job("make", ("/p/x", "output", A), ("/p/y", "output", A)))
    writer.record_job(conn, job("read", ("/p/x", "input", A), ("/p/x", "output", B)))
    writer.record_job(conn, job("rm", ("/p/y", "deleted", A), ("/p/z", "deleted", None)))
    writer.update_cache(conn, "blake3", [
        writer.CacheEntry(1, 1, 5, 100, C, "/p/member"),
        writer.CacheEntry(1, 2, 6, 50, A, "/p/member"),  # an older file at that path
        writer.CacheEntry(1, 3, 7, 10, C, "/p/y"),  # the job records win over the cache
    ])  # fmt: skip
    known = writer.last_known(conn, "blake3", ["/p/x", "/p/y", "/p/z", "/p/member", "/p/none"])
    assert known == {
        "/p/x": writer.KnownContent(B, 10),  # the same job's output wins over its input
        "/p/member": writer.KnownContent(C, 5),  # no job record: the newest cache entry
    }  # /p/y: removed since (made again unrecorded), /p/z: never known, /p/none: no record
    assert writer.last_known(conn, "sha256", ["/p/x"]) == {}  # digests of another algorithm


def test_a_deleted_file_of_unknown_content_has_no_artifact(tmp_path):
    conn = connect(tmp_path / "roar.db")
    recorded = writer.record_job(conn, job("rm", ("/p/z", "deleted", None)))
    rows = conn.execute("SELECT role, path, artifact_id FROM job_files WHERE job_id = ?",
                        (recorded.id,)).fetchall()  # fmt: skip
    assert rows == [("deleted", "/p/z", None)]
    assert conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0
