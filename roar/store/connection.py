"""Opening the store: WAL, a busy timeout, foreign keys, and migrations on first use."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from roar.errors import StoreError
from roar.store import migrations

BUSY_TIMEOUT_MS = 60_000

Connection = sqlite3.Connection  # the handle other packages may hold (and pass back here)


def connect(db_path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A raw connection in autocommit mode (transactions are explicit ``BEGIN``s).

    Creating or upgrading the schema happens here, so every front end sees the latest one.
    A read-only connection never migrates and never creates the file.
    """
    try:
        if readonly:
            uri = f"file:{os.fsencode(db_path).decode('utf-8', 'surrogateescape')}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(
            f"Cannot open the roar store at {db_path}: {exc}.",
            hint="Run 'roar init' in the project, or check the directory's permissions.",
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _check_version(conn, readonly=readonly)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(
            f"The roar store at {db_path} cannot be read: {exc}.",
            hint="If the file is damaged, move it aside; 'roar init' then creates a new store.",
        ) from exc
    return conn


def _check_version(conn: sqlite3.Connection, *, readonly: bool) -> None:
    version = migrations.current_version(conn)
    if version > migrations.LATEST:
        raise StoreError(
            f"This store was written by a newer roar (schema {version}; this roar reads up to "
            f"{migrations.LATEST}).",
            hint="Upgrade roar to use this project.",
        )
    if version < migrations.LATEST and not readonly:
        migrations.migrate(conn)


@contextmanager
def opened(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-write connection (see ``connect``) that is closed when the block ends."""
    conn = connect(db_path)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: the write lock is taken up front (``BEGIN IMMEDIATE``) so a
    read-then-write inside it cannot be overtaken by another writer; any error rolls back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
