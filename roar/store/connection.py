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
        raise describe_failure(db_path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # FULL when opened() leaves the connection to the process's end (see below): the
            # commit itself is then made durable, not the checkpoint when it closes.
            conn.execute(f"PRAGMA synchronous = {'NORMAL' if _left_open is None else 'FULL'}")
        conn.execute("PRAGMA foreign_keys = ON")
        _check_version(conn, readonly=readonly)
        if not readonly and (db_path.parent / "spool").is_dir():
            from roar.store import spool  # jobs an earlier roar could not write

            spool.import_pending(conn, db_path)
        if not readonly and (db_path.parent / "inflight").is_dir():
            from roar.store import inflight  # jobs whose roar died while they ran

            inflight.recover(conn, db_path)
        if not readonly and (db_path.parent / "tmp").is_dir():
            from roar.transfer import staging  # folders of killed `roar get`s

            staging.sweep(db_path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise describe_failure(db_path, exc) from exc
    return conn


def describe_failure(db_path: Path, exc: BaseException) -> StoreError:
    """Why the store could not be used, told so that the hint leads to the right fix.

    SQLite reports a full disk, a read-only file system and a damaged file alike as "disk I/O
    error" or "unable to open database file" depending on which write failed first, and the
    fixes differ: moving a healthy store aside throws its history away. So the file system is
    asked directly, and the file is called damaged only when SQLite's own check says so.
    """
    folder = db_path.parent
    free = free_bytes(folder)
    if "full" in str(exc).lower() or (free is not None and free < LOW_SPACE_BYTES):
        return StoreError(
            f"The disk holding the roar store is full ({folder}: {free or 0:,} bytes free): {exc}.",
            hint="Free some space on that disk and run the command again; the store itself is "
            "intact, do not move it aside.",
        )
    if not writable(db_path) or "readonly" in str(exc).lower():
        return StoreError(
            f"The roar store at {db_path} cannot be written: {exc} (the file or its folder is "
            "read-only).",
            hint=f"Make {folder} and the files in it writable for this user (or remount the "
            "disk read-write), then run the command again.",
        )
    if is_damaged(db_path):
        return StoreError(
            f"The roar store at {db_path} is damaged: {exc}.",
            hint=f"Move it aside (mv {db_path} {db_path}.damaged); 'roar init' then creates a "
            "new, empty store.",
        )
    return StoreError(
        f"The roar store at {db_path} could not be used: {exc}.",
        hint="The file passed SQLite's integrity check, so keep it: check the disk and the "
        "folder's permissions, then run the command again.",
    )


def ensure_writable(conn: sqlite3.Connection, db_path: Path) -> None:
    """Before a command starts: can its job be written? The write lock can be taken and the
    disk has room. (A command that ran cannot be rerun to get its record back.)"""
    free = free_bytes(db_path.parent)
    if free is not None and free < LOW_SPACE_BYTES:
        raise describe_failure(db_path, sqlite3.OperationalError("database or disk is full"))
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise describe_failure(db_path, exc) from exc


LOW_SPACE_BYTES = 64 * 1024  # below this a write transaction (journal + pages) cannot finish


def free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def writable(db_path: Path) -> bool:
    """Can this process write the store (the file system is mounted read-write, and the file
    and its folder are writable; the folder holds the -wal and -shm files)?"""
    try:
        if os.statvfs(db_path.parent).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    if db_path.exists() and not os.access(db_path, os.W_OK):
        return False
    return os.access(db_path.parent, os.W_OK)


def is_damaged(db_path: Path) -> bool:
    """SQLite's quick_check on the file as it is (immutable: no locks, no -shm, no writes)."""
    if not db_path.is_file():
        return False
    uri = f"file:{os.fsencode(db_path).decode('utf-8', 'surrogateescape')}?mode=ro&immutable=1"
    try:
        check = sqlite3.connect(uri, uri=True)
        try:
            rows = check.execute("PRAGMA quick_check").fetchall()
        finally:
            check.close()
    except sqlite3.DatabaseError:
        return True
    return [tuple(r) for r in rows] != [("ok",)]


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


# Set by leave_open_at_exit(): the connections opened() has handed out, kept open.
_left_open: list[sqlite3.Connection] | None = None


def leave_open_at_exit() -> None:
    """For a process that ends with ``os._exit`` once its command is done (``roar run`` and
    ``roar build`` as the program, roar/cli/main.py): from now on ``opened`` leaves its
    connections open, and they commit with ``synchronous = FULL``.

    Closing the last connection to a WAL database checkpoints it: the WAL is synced again,
    copied into the database file, which is synced, and the WAL and -shm files are deleted,
    to be created (and their directory synced) again by the next roar command: four fsyncs
    and two unlinks per ``roar run`` (1-10 ms here), after the job was written. Left open,
    the connection ends with the process (os._exit: nothing else runs), the WAL stays, and
    the next connection reads it back (SQLite's recovery of the WAL index, as after a crash).

    Durability is unchanged: with ``synchronous = FULL`` every commit fsyncs the WAL before
    COMMIT returns, so a recorded job survives power loss from the moment roar reports it,
    as the close's checkpoint guaranteed before. (``NORMAL`` in WAL mode syncs only at
    checkpoints.) The WAL is checkpointed by SQLite's automatic checkpoint once it holds 1,000
    pages, and by the close of any other roar command that writes.
    """
    global _left_open
    if _left_open is None:
        _left_open = []


@contextmanager
def opened(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-write connection (see ``connect``) that is closed when the block ends (or, after
    ``leave_open_at_exit``, kept open until the process ends)."""
    conn = connect(db_path)
    try:
        yield conn
    except sqlite3.Error as exc:  # a write that failed part-way: say why, in the user's terms
        raise describe_failure(db_path, exc) from exc
    finally:
        if _left_open is None:
            conn.close()
        else:
            if conn.in_transaction:  # what closing would do: hold no lock meanwhile
                conn.rollback()
            _left_open.append(conn)


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
