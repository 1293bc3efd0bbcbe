"""The engine: one URL selects SQLite or PostgreSQL behind the same models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

SQLITE_POOL = 40


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Up to 30 connections a process, 20 of them kept: a pooled connection beyond the
        # kept ones is closed when it is given back, and a PostgreSQL connection costs
        # milliseconds to open (10 kept of 30 reopened connections on every busy request).
        return create_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True)
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        writer = conn.get_execution_options().get("glaas_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
