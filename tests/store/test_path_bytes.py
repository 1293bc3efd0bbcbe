"""Paths are stored exactly (``roar.store.paths``): a name with the byte 0xff and one with the
characters ``\\xff`` stay two paths through the writer, the ORM reads and the editors' reads."""

from __future__ import annotations

import time

from roar.store import paths, writer
from roar.store import provenance as prov
from roar.store.connection import connect
from roar.store.queries import reader

BYTE = "/p/coll\udcff.txt"  # what os.fsdecode(b"/p/coll\xff.txt") gives
LITERAL = "/p/coll\\xff.txt"
A, B = "a" * 64, "b" * 64


def test_storable_path_is_text_for_utf8_and_the_exact_bytes_otherwise():
    assert paths.storable_path("/p/é.txt") == "/p/é.txt"
    assert paths.storable_path(LITERAL) == LITERAL
    assert paths.storable_path(BYTE) == b"/p/coll\xff.txt"
    assert paths.stored_path(b"/p/coll\xff.txt") == BYTE and paths.stored_path(LITERAL) == LITERAL
    assert paths.quote_path(BYTE) == '"/p/coll\\xff.txt"'
    assert paths.quote_path(LITERAL) == '"/p/coll\\\\xff.txt"'
    assert paths.quote_path("/p/plain.txt") == "/p/plain.txt"


def test_two_names_stay_two_records_everywhere(tmp_path):
    db = tmp_path / "roar.db"
    conn = connect(db)
    now = time.time()
    job = writer.NewJob(
        kind="run", command="make", argv=["make"], cwd="sub\udcfe", started_at=now,
        ended_at=now + 1, exit_code=0, tracer="ptrace", step_identity="make", algorithm="blake3",
        files=[writer.HashedFile(BYTE, "output", A, 3), writer.HashedFile(LITERAL, "output", B, 3)],
    )  # fmt: skip
    writer.record_job(conn, job, [writer.CacheEntry(1, 7, 3, 9, A, BYTE)])
    types = dict(conn.execute("SELECT typeof(path), COUNT(*) FROM job_files GROUP BY 1"))
    assert types == {"blob": 1, "text": 1}
    assert conn.execute("SELECT path FROM hash_cache").fetchall() == [(b"/p/coll\xff.txt",)]
    assert writer.last_known(conn, "blake3", [BYTE, LITERAL]) == {
        BYTE: writer.KnownContent(A, 3),
        LITERAL: writer.KnownContent(B, 3),
    }

    with reader(db) as r:
        (view,) = r.session_jobs(r.active_session().id)
        assert {f.path: f.digest for f in view.outputs} == {BYTE: A, LITERAL: B}
        assert view.cwd == "sub\udcfe"
        assert [j.id for j in r.jobs_with_path(BYTE)] == [view.id]
        first_seen = {a.digest: a.first_seen_path for a in r.artifacts_by_digest_prefix("")}
        assert first_seen == {A: BYTE, B: LITERAL}

    ro = prov.open_readonly(db)
    try:
        assert prov.tracked(ro, [BYTE, LITERAL, "/p/coll\udcfe.txt"]) == {BYTE, LITERAL}
        byte_record = prov.latest_record(ro, BYTE)
        literal_record = prov.latest_record(ro, LITERAL)
        assert byte_record is not None and byte_record.artifact.digest == A
        assert literal_record is not None and literal_record.artifact.digest == B
        assert sorted(f.path for f in prov.job_files(ro, 1, "output")) == sorted([BYTE, LITERAL])
        assert set(prov.paths_recorded_after(ro, 0)) == {BYTE, LITERAL}
        producer = prov.producer(ro, byte_record.artifact.id, path=BYTE)
        assert producer is not None and producer.cwd == "sub\udcfe"
    finally:
        ro.close()
    assert sorted(writer.delete_job(conn, 1)) == sorted([BYTE, LITERAL])  # `roar pop` gets str
