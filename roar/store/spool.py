"""Jobs that ran but could not be written to the store, kept until the store can take them.

A command that already ran cannot be run again to get its record back, so when the write
fails (the disk filled up while it ran, the store became read-only) the finished job is kept as
JSON in ``.roar/spool/`` and the next roar command that opens the store for writing records it,
in the order the jobs ran. Nothing in a spooled job is recomputed: it holds the hashes taken
when the job ended.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from roar import records
from roar.store import writer

SPOOL_DIR = "spool"


def spool_dir(db_path: Path) -> Path:
    return db_path.parent / SPOOL_DIR


def save(db_path: Path, job: writer.NewJob, cache: list[writer.CacheEntry]) -> Path:
    """Write the job durably (temp file, fsync, rename) and return where it is kept."""
    folder = spool_dir(db_path)
    folder.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    payload = json.dumps(
        {
            "job": records.asdict(job),
            "cache": [records.asdict(entry) for entry in cache],
        }
    )
    tmp = folder / f".{name}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return folder / name


def pending(db_path: Path) -> list[Path]:
    folder = spool_dir(db_path)
    try:
        return sorted(folder.glob("*.json"))
    except OSError:
        return []


def import_pending(conn: sqlite3.Connection, db_path: Path) -> int:
    """Record every spooled job, oldest first; each file goes once its job is committed."""
    imported = 0
    for path in pending(db_path):
        try:
            job, cache = _load(path)
        except (ValueError, TypeError, KeyError) as exc:  # never block the store on one bad file
            path.rename(path.with_suffix(".unreadable"))
            print(f"Warning: a spooled job could not be read ({exc}); kept as "
                  f"{path.with_suffix('.unreadable')}.", file=sys.stderr)  # fmt: skip
            continue
        writer.record_job(conn, job, cache)
        path.unlink()
        imported += 1
    try:
        spool_dir(db_path).rmdir()  # only when empty: an unreadable file stays for the user
    except OSError:
        pass
    if imported:
        print(
            f"Note: recorded {imported} job(s) that were kept in {spool_dir(db_path)} while the "
            "store could not be written.",
            file=sys.stderr,
        )
    return imported


def _load(path: Path) -> tuple[writer.NewJob, list[writer.CacheEntry]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    raw = data["job"]
    raw["files"] = [
        writer.HashedFile(**{**f, "members": [tuple(m) for m in f.get("members", ())]})
        for f in raw.get("files", [])
    ]
    raw["variables"] = [writer.VariableUse(**v) for v in raw.get("variables", [])]
    raw["remote_objects"] = [tuple(r) for r in raw.get("remote_objects", [])]
    return writer.NewJob(**raw), [writer.CacheEntry(**c) for c in data.get("cache", [])]


@records.record(frozen=True)
class Spooled:
    """A job the store did not take: why, and where it is kept (None: it could not be kept)."""

    failure: str
    hint: str | None
    kept_at: Path | None
    keep_error: str | None = None


def record_or_spool(
    conn: sqlite3.Connection,
    db_path: Path,
    job: writer.NewJob,
    cache: list[writer.CacheEntry],
    make_room: Callable[[], None] | None = None,
) -> writer.RecordedJob | Spooled:
    """Write the job; when the store refuses it, keep it in the spool instead of losing it.
    ``make_room`` frees what the spooled job makes redundant (the in-flight summary, on the
    same disk) when the first attempt to keep it fails."""
    from roar.store.connection import describe_failure

    try:
        return writer.record_job(conn, job, cache)
    except sqlite3.Error as exc:
        failure = describe_failure(db_path, exc)
    try:  # give back what the failed write grew the WAL by: on a full disk the spool needs it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass
    try:
        return Spooled(failure.message, failure.hint, save(db_path, job, cache))
    except OSError as exc:
        if make_room is None:
            return Spooled(failure.message, failure.hint, None, str(exc))
    make_room()
    try:
        return Spooled(failure.message, failure.hint, save(db_path, job, cache))
    except OSError as exc:
        return Spooled(failure.message, failure.hint, None, str(exc))
