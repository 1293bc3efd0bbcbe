"""The engine: one URL selects SQLite or PostgreSQL behind the same models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

SQLITE_POOL = 40
# Bytes of a SQLite file each connection reads through a memory map (SQLite's mmap_size)
# instead of a pread per page: the file's pages are the kernel's page cache, shared by every
# connection of every server process, where each connection's own 2 MB cache held an eighth
# of a 16 MB registry. Lookups ran ~8 % less CPU (bench_lookup). Read only: SQLite still
# writes with write().
SQLITE_MMAP = 1 << 30


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Up to 30 connections a process, 20 of them kept: a pooled connection beyond the
        # kept ones is closed when it is given back, and a PostgreSQL connection costs
        # milliseconds to open (10 kept of 30 reopened connections on every busy request).
        engine = create_engine(url, pool_size=20, max_overflow=10)
        _ping_when_idle(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # As many pooled connections as the server's thread pool runs requests at once (anyio's
    # default: 40): with the default 5 (+10 overflow), connections beyond five were opened,
    # their PRAGMAs run, and closed again on every busy request.
    file = parsed.database and parsed.database != ":memory:"
    pool = {"pool_size": SQLITE_POOL, "max_overflow": 10} if file else {}
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool)
    _sqlite_write_safety(engine)
    return engine


PING_AFTER = 5.0  # seconds a pooled PostgreSQL connection may sit unused before it is pinged


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, for connections that sat unused in the pool for PING_AFTER
    seconds: a connection the server dropped meanwhile (a restart, an idle timeout) is
    replaced before a request gets it, while a busy server does not pay a round trip on every
    checkout (pool_pre_ping did: one of a hash lookup's six)."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _used(_dbapi_conn: Any, record: Any) -> None:
        record.info["glaas_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("glaas_used", 0.0) < PING_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as err:
            if engine.dialect.is_disconnect(err, dbapi_conn, None):  # type: ignore[arg-type]
                raise exc.DisconnectionError() from err  # the pool replaces it and retries
            raise


# The execution option a writing transaction sets (Session.connection(execution_options=WRITE)).
WRITE = {"glaas_write": True}


def _sqlite_write_safety(engine: Engine) -> None:
    """WAL, and BEGIN IMMEDIATE for writers, so concurrent registrations queue on the lock
    instead of failing, while readers (WAL: never blocked) do not queue behind them.

    pysqlite's own deferred BEGIN takes the write lock only at the first INSERT; two such
    transactions can then deadlock and SQLite fails one at once with "database is locked"
    rather than waiting out the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        writer = conn.get_execution_options().get("glaas_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
