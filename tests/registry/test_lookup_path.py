"""The hash lookups' own request path (glaas.api.app.Lookups, ahead of FastAPI): the same
documents as the service gives the web pages, as JSON with its headers; the API's errors; the
other routes under /api/v1/artifacts untouched; the access log off unless asked for."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.registry.conftest import running_server
from tests.registry.synth import chain, window


def raw_get(base: str, path: str, headers: dict[str, str] | None = None):
    req = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_lookup_answers_are_the_service_documents(server, engine):
    """Over HTTP (Core connection, orjson) and in process through an ORM session (what the web
    pages call): the same documents, sent as application/json with their length."""
    from glaas.db import make_sessionmaker
    from glaas.service import lookup

    parts = chain(4, salt="lookup-path")
    out = server.register(window(parts, 0, 4))
    art = parts["artifacts"][2]["hash"]
    job = next(iter(out["job_hashes"].values()))
    cases = [
        (f"/api/v1/artifacts/{art[:12]}", lookup.artifact, art),
        (f"/api/v1/jobs/{job}", lookup.job, job),
        (f"/api/v1/sessions/{out['session_hash'][:10]}", lookup.session, out["session_hash"]),
    ]
    for path, fn, key in cases:
        status, headers, body = raw_get(server.base, path)
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(body)
        with make_sessionmaker(engine)() as db:
            assert json.loads(body) == fn(db, key), path
    session = json.loads(raw_get(server.base, cases[2][0])[2])
    assert sorted(j["job_hash"] for j in session["jobs"]) == sorted(out["job_hashes"].values())


def test_an_integer_beyond_64_bits_in_a_job_is_sent_whole(server, engine):
    """orjson reads and writes integers of 64 bits at most: beyond, the document is read and
    written by json, over HTTP and for the web pages. 2**70 + 1 is no float (2**70 is)."""
    from glaas.db import make_sessionmaker
    from glaas.service import lookup

    seed = 2**70 + 1
    bundle = window(chain(1, salt="big-int"), 0, 1)
    bundle["jobs"][0]["metadata"] = {"seed": seed, "name": "é", "list": [-(2**65), 3]}
    out = server.register(bundle)
    job = next(iter(out["job_hashes"].values()))
    for _ in range(2):  # the second from doc_cache on SQLite
        status, doc = server.get(f"/api/v1/jobs/{job}")
        assert status == 200 and doc["metadata"] == {"seed": seed, "name": "é",
                                                     "list": [-(2**65), 3]}  # fmt: skip
        with make_sessionmaker(engine)() as db:
            assert lookup.job(db, job)["metadata"]["seed"] == seed
        session = json.loads(raw_get(server.base, f"/api/v1/sessions/{out['session_hash']}")[2])
        assert session["jobs"][0]["metadata"]["seed"] == seed


def test_lookup_errors_are_the_apis(server):
    status, headers, body = raw_get(
        server.base, "/api/v1/artifacts/0123456789ab", {"authorization": "Bearer nope"}
    )
    assert status == 401 and "Bearer" in headers["www-authenticate"], body
    status, _, body = raw_get(
        server.base, "/api/v1/jobs/0123456789ab", {"authorization": "Basic eDp5"}
    )
    assert status == 401
    assert json.loads(body)["detail"] == "the Authorization header must be 'Bearer <token>'"
    status, _, body = raw_get(server.base, "/api/v1/sessions/xyz")
    assert status == 422 and "prefix" in json.loads(body)["detail"]
    status, _, body = raw_get(server.base, "/api/v1/sessions/0123456789abcdef")
    assert status == 404 and json.loads(body)["detail"].startswith("no session in this registry")


def test_the_other_routes_under_the_lookups_are_the_apps(server):
    parts = chain(2, salt="lookup-path-lineage")
    server.register(window(parts, 0, 2))
    last = parts["artifacts"][-1]["hash"]
    status, lineage = server.get(f"/api/v1/artifacts/{last}/lineage?depth=1")
    assert status == 200 and lineage, lineage
    assert server.get(f"/api/v1/artifacts/{last}/recipe")[0] == 200
    # Only GET is a lookup: the app answers the rest (no HEAD route: 405).
    req = urllib.request.Request(server.base + f"/api/v1/artifacts/{last}", method="HEAD")
    try:
        urllib.request.urlopen(req, timeout=60)
        raise AssertionError("HEAD answered")
    except urllib.error.HTTPError as err:
        assert err.code == 405
    paths = server.get("/openapi.json")[1]["paths"]
    for kind in ("artifacts/{hash_or_prefix}", "jobs/{id_or_prefix}", "sessions/{hash_or_prefix}"):
        assert "get" in paths[f"/api/v1/{kind}"], kind


def _log_after_a_request(tmp_path: Path, name: str, env: dict[str, str]) -> str:
    log = tmp_path / f"{name}.log"
    with running_server(f"sqlite:///{tmp_path / name}.db", log, env) as api:
        assert api.get("/api/v1/jobs/0123456789abcdef")[0] == 404
        time.sleep(0.2)  # uvicorn writes its line after the answer
    return log.read_text()


def test_the_access_log_is_off_unless_asked_for(tmp_path):
    line = '"GET /api/v1/jobs/0123456789abcdef HTTP/1.1" 404'
    assert line not in _log_after_a_request(tmp_path, "quiet", {})
    assert line in _log_after_a_request(tmp_path, "logged", {"GLAAS_ACCESS_LOG": "1"})


def test_a_postgresql_connection_dropped_while_idle_is_replaced(postgres_url, monkeypatch):
    """The pool pings a connection that sat unused for PING_AFTER seconds (not every checkout,
    as pool_pre_ping did): one whose backend was terminated meanwhile is replaced, and the
    lookup that checks it out does not fail. Without the ping it would have."""
    from sqlalchemy import text

    from glaas import db as glaas_db
    from glaas.service import lookup

    engine = glaas_db.make_engine(postgres_url)
    killer = glaas_db.make_engine(postgres_url)
    try:

        def drop_pooled() -> None:
            with engine.connect() as conn:  # the pooled connection, then back to the pool
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with killer.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            time.sleep(0.2)

        def look_up() -> None:  # a read the way the lookups read
            with lookup.reading(engine) as reader:
                assert reader.driver.execute("SELECT 1").fetchall() == [(1,)]

        monkeypatch.setattr(glaas_db, "PING_AFTER", 0.0)  # every checkout counts as idle
        drop_pooled()
        look_up()  # pinged, found dropped, replaced: no error
        monkeypatch.setattr(glaas_db, "PING_AFTER", 3600.0)
        drop_pooled()
        with pytest.raises(Exception, match="terminat|closed|connection"):
            look_up()  # not pinged: the dropped connection fails
    finally:
        engine.dispose()
        killer.dispose()


def test_sqlite_lookups_keep_one_connection_each_lookup_its_own_snapshot(tmp_path):
    """KeptReader: consecutive lookups on the one kept connection each see what was registered
    before them; a second lookup while it is in use reads on a pooled connection of its own; an
    error of SQLite's closes it, and the next lookup opens another."""
    import sqlite3

    from glaas import db as glaas_db
    from glaas.db import make_engine, make_sessionmaker
    from glaas.migrate import upgrade
    from glaas.schemas import Bundle
    from glaas.service import NotFound, lookup, register
    from glaas.service.auth import ANONYMOUS_VIEWER

    url = f"sqlite:///{tmp_path / 'kept.db'}"
    upgrade(url)
    engine = make_engine(url)
    kept = lookup.KeptReader(engine)
    parts = chain(2, salt="kept")
    art = parts["artifacts"][-1]["hash"]

    def look_up() -> dict:
        with kept() as reader:
            return json.loads(lookup.document_json("artifact", reader, art, ANONYMOUS_VIEWER))

    try:
        with pytest.raises(NotFound):
            look_up()
        with make_sessionmaker(engine)() as db:
            register.register(db, Bundle.model_validate(window(parts, 0, 2)), ANONYMOUS_VIEWER,
                              "anonymous")  # fmt: skip
        with engine.connect() as conn:  # the new rows into the file the reader has mapped
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0 and (tmp_path / "kept.db-wal").stat().st_size == 0
        assert look_up()["hash"] == art  # a new snapshot, not the first lookup's
        mapped = kept._driver.execute("PRAGMA mmap_size").fetchone()[0]
        assert mapped == glaas_db.SQLITE_MMAP  # read through the map (glaas.db)
        with kept() as outer, kept() as inner:
            assert inner.driver is not outer.driver and outer.driver.in_transaction
        first = kept._driver
        assert first is not None and not first.in_transaction  # each lookup's rolled back
        with pytest.raises(sqlite3.OperationalError), kept() as reader:
            reader.driver.execute("SELECT * FROM no_such_table")
        assert kept._driver is None
        assert look_up()["hash"] == art and kept._driver is not first
    finally:
        kept.close()
        engine.dispose()


def test_a_sqlite_session_sent_again_as_made_until_its_parts_change(tmp_path):
    """A kept session's JSON made of the same viewer's parts as last time is the one made
    then; once a label changes them, the JSON shows it, as the document built anew does."""
    from glaas.db import make_engine, make_sessionmaker
    from glaas.migrate import upgrade
    from glaas.schemas import Bundle
    from glaas.service import lookup, register
    from glaas.service.auth import ANONYMOUS_VIEWER
    from glaas.service.labels import LabelsIn, apply

    url = f"sqlite:///{tmp_path / 'memo.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            out = register.register(
                db, Bundle.model_validate(window(chain(3, salt="memo"), 0, 3)),
                ANONYMOUS_VIEWER, "anonymous",
            )  # fmt: skip
        h = out.session_hash

        def look_up() -> bytes:
            with lookup.reading(engine) as reader:
                return lookup.document_json("session", reader, h, ANONYMOUS_VIEWER)

        first, second, third = look_up(), look_up(), look_up()  # read, made, sent as made
        assert first == second == third and third is second
        change = {"target_kind": "session", "target": h, "key": "stage", "value": "prod"}
        with make_sessionmaker(engine)() as db:
            apply(db, LabelsIn.model_validate({"changes": [change]}))
        labelled = json.loads(look_up())
        assert labelled["labels"]["current"] == {"stage": "prod"}
        with make_sessionmaker(engine)() as db:
            assert labelled == json.loads(json.dumps(lookup.session(db, h)))
    finally:
        engine.dispose()
