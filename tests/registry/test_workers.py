"""glaas-server with several processes (GLAAS_WORKERS / --workers), on SQLite and PostgreSQL:
every worker answers registrations and lookups on its own.

Each worker is shown to serve by pausing the others (SIGSTOP) while lookups go through: a
paused process accepts nothing, so whatever answers is the one left running. The pauses are
short (uvicorn's supervisor replaces a worker that misses its health check for 5 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import REPO, running_server


def _workers(parent: int) -> list[int]:
    """The server's worker processes: the children uvicorn spawned (multiprocessing's spawn,
    not its resource tracker)."""
    out = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                out.append(int(pid))
    return sorted(out)


def _server_pid(port: str) -> int:
    """The pid of `python -m glaas serve` listening on ``port`` (its env names the port)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[1:4] == [b"-m", b"glaas", b"serve"] and f"GLAAS_PORT={port}".encode() in env:
            return int(proc.name)
    raise AssertionError(f"no glaas-server process on port {port}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_each_register_and_look_up(kind, request, tmp_path, pipeline_bundle):
    url = (
        f"sqlite:///{tmp_path / 'glaas.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with running_server(url, tmp_path / "server.log", {"GLAAS_WORKERS": "2"}) as api:
        parent = _server_pid(api.base.rsplit(":", 1)[1])
        workers = _workers(parent)
        assert len(workers) == 2, workers
        api.register(pipeline_bundle)
        artifact = pipeline_bundle["artifacts"][0]["hash"]
        for serving in workers:
            paused = [w for w in workers if w != serving]
            for w in paused:
                os.kill(w, signal.SIGSTOP)
            try:
                for _ in range(3):
                    status, out = api.get(f"/api/v1/artifacts/{artifact[:12]}")
                    assert status == 200, out
                    assert out["hash"] == artifact
                # A registration (a write) through this worker alone, too.
                api.register(pipeline_bundle)
            finally:
                for w in paused:
                    os.kill(w, signal.SIGCONT)
        assert _workers(parent) == workers  # none was replaced or died meanwhile


def test_bad_worker_count_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "glaas", "serve", "--workers", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--workers is '0': give a number of server processes from 1 to 64" in proc.stderr


# ---------------------------------------------------------------- a lookup's statements


def test_lookups_read_in_a_few_statements(server, database_url):
    """A lookup costs a fixed handful of SQL statements, not one per job of a session, and its
    document is whole: an artifact's alias, members (sorted by path, sizes kept), readers,
    sessions; a session's jobs with their files. Run through the service in this process on
    the server's database (SQLite and PostgreSQL), counting what reaches the database driver
    (the lookups run their statements on the driver's cursors, not through SQLAlchemy's
    execution, so its events would not see them): SQLite's trace callback, a psycopg cursor
    class that counts its executes."""
    from sqlalchemy import event

    from glaas.db import make_engine, make_sessionmaker
    from glaas.service import lookup
    from glaas.service.auth import ANONYMOUS_VIEWER
    from tests.registry.synth import chain, h, window

    parts = chain(30)
    first = parts["artifacts"][0]
    first["composite"] = True
    first["members"] = [
        {"path": "b/2.bin", "hash": h("m", "2"), "size": 2},
        {"path": "a/1.bin", "hash": h("m", "1")},
    ]
    first["aliases"] = [{"algorithm": "sha256", "digest": "sha256:" + h("alias", first["hash"])}]
    out = server.register(window(parts, 0, 30))
    uid0 = parts["jobs"][0]["uid"]
    job0 = out["job_hashes"][uid0]

    engine = make_engine(database_url)
    statements: list[str] = []

    def seen(sql: str) -> None:
        # Transaction control aside (SQLite traces BEGIN and COMMIT, psycopg sends them itself),
        # and the pool's pre-ping on PostgreSQL (";" at each checkout).
        if sql.strip() not in ("", ";") and sql.split(None, 1)[0].upper() not in (
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
        ):
            statements.append(sql)

    @event.listens_for(engine, "connect")
    def _trace(dbapi_conn, _record):
        if engine.dialect.name == "sqlite":
            dbapi_conn.set_trace_callback(seen)
        else:
            import psycopg

            class Counted(psycopg.Cursor):
                def execute(self, query, *a, **kw):
                    seen(str(query))
                    return super().execute(query, *a, **kw)

            dbapi_conn.cursor_factory = Counted

    try:
        engine.connect().close()  # connected (and its PRAGMAs run) before counting
        with make_sessionmaker(engine)() as db:

            def counted(fn, key):
                statements.clear()
                doc = fn(db, key, ANONYMOUS_VIEWER)
                return doc, len(statements)

            session, n_session = counted(lookup.session, out["session_hash"][:12])
            art, n_art = counted(lookup.artifact, first["aliases"][0]["digest"])
            art_by_prefix, _ = counted(lookup.artifact, first["hash"][:10])
            job, n_job = counted(lookup.job, uid0)
            whole = [
                counted(fn, key)
                for fn, key in (
                    (lookup.session, out["session_hash"]),
                    (lookup.artifact, first["hash"]),
                    (lookup.job, job0),
                )
            ]
    finally:
        engine.dispose()

    assert len(session["jobs"]) == 30
    assert session["jobs"][0]["inputs"] == [{"path": "a0", "hash": first["hash"]}]
    assert session["jobs"][29]["outputs"] == [
        {"path": "a30", "hash": parts["artifacts"][30]["hash"]}
    ]
    assert art == art_by_prefix
    assert art["members"] == [
        {"path": "a/1.bin", "hash": h("m", "1"), "size": None},
        {"path": "b/2.bin", "hash": h("m", "2"), "size": 2},
    ]
    assert art["aliases"] == first["aliases"]
    assert (art["consumed_by"], art["produced_by"], art["paths"]) == ([job0], [], ["a0"])
    assert art["sessions"] == [out["session_hash"]]
    assert art["registered_by"] == "anonymous"
    assert job["job_hash"] == job0 and job["sessions"] == [out["session_hash"]]
    assert [doc for doc, _ in whole] == [session, art, job]  # the same, by whole hashes
    if database_url.startswith("postgresql"):
        # The key and the whole document it picks, built by the database (pg_documents), in
        # one statement, whether the key is a prefix, an alias, a uid or a whole hash.
        assert (n_art, n_job, n_session) == (1, 1, 1)
        assert [n for _, n in whole] == [1, 1, 1]
        return
    # The key, the record with its attribution, its parts, labels: no more. Before 03f50e0
    # (BEGIN included): artifact 9-10, job 8, a session of 30 jobs 37.
    assert n_art <= 5 and n_job <= 5 and n_session <= 6, (n_art, n_job, n_session)
    assert n_art >= 4 and n_session >= 4, "the count saw the lookups' statements"
