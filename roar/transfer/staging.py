"""Staging folders of `roar get --hash` on a prefix, found and removed after a killed roar.

A prefix fetched with ``--hash`` lands in a hidden folder beside its destination (the same file
system, so that moving the files into place is a rename) and moves only once the composite
digest matches. Each such folder is named in the store's ``tmp/`` folder by a marker,
``get-<pid>-<start time>-<token>``, holding the folder's path. When roar ends, even by an
error, both go; when roar is killed (SIGKILL, power loss), the next roar command that opens the
store for writing sees a marker whose process is gone and removes the folder and the marker.
The process start time (from /proc) tells a live roar from a new process that reused its pid.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_DIR = "tmp"
_KIND = "get"


def tmp_dir(db_path: Path) -> Path:
    return db_path.parent / TMP_DIR


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after the command name: field 3 on
    return fields[19].decode() if len(fields) > 19 else None


def _alive(pid: int, start: str) -> bool:
    if os.path.isdir("/proc/self"):
        return _start_time(pid) == start
    try:  # no /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def staging_folder(db_path: Path, beside: str) -> Iterator[str]:
    """A new hidden folder in ``beside`` (a directory), removed when the block ends, and
    known to the store until then."""
    pid = os.getpid()
    name = f"{_KIND}-{pid}-{_start_time(pid) or 0}-{secrets.token_hex(4)}"
    markers = tmp_dir(db_path)
    markers.mkdir(exist_ok=True)
    marker = markers / name
    folder = os.path.join(os.path.abspath(beside), f".roar-{name}")
    marker.write_text(folder + "\n", encoding="utf-8")  # before the folder: never unnamed
    try:
        os.mkdir(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        marker.unlink(missing_ok=True)
        try:
            markers.rmdir()  # only when empty
        except OSError:
            pass


def sweep(db_path: Path) -> int:
    """Remove the staging folders (and markers) of roar processes that are gone; how many."""
    markers = tmp_dir(db_path)
    removed = 0
    try:
        entries = sorted(markers.iterdir())
    except OSError:
        return 0
    for marker in entries:
        parts = marker.name.split("-")
        if len(parts) != 4 or parts[0] != _KIND or not parts[1].isdigit():
            continue
        if _alive(int(parts[1]), parts[2]):
            continue
        try:
            folder = marker.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        # Only a folder named after its marker is removed: a marker never names anything else.
        if os.path.basename(folder) == f".roar-{marker.name}" and os.path.isabs(folder):
            shutil.rmtree(folder, ignore_errors=True)
            if os.path.lexists(folder):
                continue  # could not be removed (read-only?): keep the marker for next time
        try:
            marker.unlink()
            removed += 1
        except OSError:
            pass
    try:
        markers.rmdir()  # only when empty
    except OSError:
        pass
    return removed
