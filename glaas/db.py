"""The engine: one URL selects SQLite or PostgreSQL behind the same models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
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
