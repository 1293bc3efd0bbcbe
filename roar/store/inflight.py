"""Jobs in flight: never lose the record of a command because roar died while it ran.

``roar run`` writes an in-flight record before the command starts and removes it once the job
is recorded (or spooled: ``spool.py``). If roar is killed meanwhile (``kill -9``, the OOM killer,
a machine that runs out of memory in the middle of the night), the record stays, and the next
roar command that opens the store for writing (``connection.connect``) finds it, asks the tracer
backend what it observed, and records the job as *interrupted*:

``.roar/inflight/<id>.json``
    The prepared job: command line (masked as the recorder masks it), working directory, git
    state, start time, tracer backend, roar's pid. ``roar run`` holds an ``flock`` on it for its
    whole life, so "the lock is free" means "its roar is gone" (a reused pid cannot fool it).
``.roar/inflight/<id>.context.json``
    What roar captured while the command ran (environment, host), once it has.
``.roar/inflight/<id>.summary.json``
    The tracer's summary, written by the backend when the traced tree ended, before roar hashes
    anything: a roar killed while hashing or writing leaves the complete summary behind.

``<id>`` is also the backend's recovery token. Where the trace lives when there is no summary:

* preload: the job's log directory (``/dev/shm/roar-preload-<id>``) outlives roar; its reaper
  holds a lock on it while the tree runs. The next roar records the job once the tree has ended,
  from what the log holds.
* eBPF: the loader service keeps tracing a job whose client went away and holds every record it
  made (for a day after it ended) until a client claims it by token.
* ptrace: nothing survives. The tracer is a thread of roar and ``PTRACE_O_EXITKILL`` kills the
  traced tree with it, so the job is recorded as interrupted with no files, and says why.

A recovered job's exit code is the one the backend saw (the root's exit record), else unknown
(NULL): never invented. Its files are hashed when it is recovered, not when it ended; a warning
says so. A job whose tree still runs is left for a later command (a note says so).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from roar.records import record

TYPE_CHECKING = False  # typing is not imported at run time: annotations only
if TYPE_CHECKING:
    from typing import Any

INFLIGHT_DIR = "inflight"
RECORD_VERSION = 1
_REQUIRED = ("id", "pid", "command", "argv", "kind", "cwd", "repo", "backend", "started_at",
             "algorithm", "step_identity")  # fmt: skip


def inflight_dir(db_path: Path) -> Path:
    return db_path.parent / INFLIGHT_DIR


@record
class InFlight:
    """The in-flight record of the job this roar runs (held locked until ``done``)."""

    path: Path
    fd: int
    id: str

    @property
    def summary_path(self) -> Path:
        return self.path.with_name(f"{self.id}.summary.json")

    @property
    def context_path(self) -> Path:
        return self.path.with_name(f"{self.id}.context.json")

    def trace_args(self) -> dict[str, str]:
        """What the tracer backend needs to keep the job recoverable."""
        return {"recovery_token": self.id, "summary_file": str(self.summary_path)}

    def context(self, metadata: dict, root_pid: int) -> None:
        """What roar captured while the command runs (a best effort: recovery can do without)."""
        try:
            _write_atomically(self.context_path, {"metadata": metadata, "root_pid": root_pid})
        except (OSError, TypeError, ValueError):
            pass

    def drop_summary(self) -> None:
        """The job is kept another way (spooled, hashed): free the disk the summary takes."""
        try:
            self.summary_path.unlink()
        except OSError:
            pass

    def done(self) -> None:
        """The job is recorded (or spooled, or never started): forget it."""
        for p in (self.summary_path, self.context_path, self.path):
            try:
                p.unlink()
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def begin(db_path: Path, record: dict[str, Any]) -> InFlight:
    """Write the in-flight record (before the command starts) and hold its lock.

    Written under a temporary name, locked, then renamed: a recovering roar never sees a record
    that is not complete or not locked.
    """
    folder = inflight_dir(db_path)
    folder.mkdir(exist_ok=True)
    ident = f"{time.time_ns()}-{os.getpid()}"
    tmp = folder / f".{ident}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = {"version": RECORD_VERSION, "id": ident, "pid": os.getpid(), **record}
        os.write(fd, json.dumps(data).encode("utf-8", "surrogateescape"))
        final = folder / f"{ident}.json"
        os.rename(tmp, final)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return InFlight(final, fd, ident)


def _write_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8", errors="surrogateescape")
    os.replace(tmp, path)


def pending(db_path: Path) -> list[Path]:
    try:
        names = os.listdir(inflight_dir(db_path))
    except OSError:
        return []
    return sorted(
        inflight_dir(db_path) / n
        for n in names
        if n.endswith(".json") and not n.startswith(".") and n.count(".") == 1
    )


def recover(conn: sqlite3.Connection, db_path: Path) -> int:
    """Record every job whose roar died (its record is not locked), oldest first. Returns how
    many were recorded. Jobs still running are left for later; problems never block the store."""
    recorded = 0
    for path in pending(db_path):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # recorded meanwhile by another roar
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its roar is alive (or another roar is recovering it)
            if os.fstat(fd).st_nlink == 0:
                continue  # recorded by another roar while we waited
            try:
                record = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
                missing = [k for k in _REQUIRED if k not in record]
                if missing:
                    raise KeyError(f"no {', '.join(missing)}")
            except (ValueError, KeyError, TypeError) as exc:
                _set_aside(path, exc)
                continue
            try:
                recorded += _recover_one(conn, db_path, path, record)
            except sqlite3.Error:
                raise  # the store itself failed: the caller says why
            except Exception as exc:  # noqa: BLE001 - one bad job must not block every command
                _note(
                    f"roar could not record the interrupted job `{record['command']}` yet "
                    f"({type(exc).__name__}: {exc}); its record stays in {path.parent}."
                )
        finally:
            os.close(fd)
    return recorded


def _set_aside(path: Path, exc: BaseException) -> None:
    aside = path.with_suffix(".unreadable")
    try:
        path.rename(aside)
    except OSError:
        return
    _note(f"an interrupted job's record could not be read ({exc}); kept as {aside}.")


def _note(message: str) -> None:
    try:
        print(f"Note: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


def _recover_one(conn: sqlite3.Connection, db_path: Path, path: Path, rec: dict) -> int:
    """Record one job whose roar died; 1 when recorded, 0 when left (still running) or dropped."""
    from roar.tracing.run import parse_summary

    ident = rec["id"]
    summary_path = path.with_name(f"{ident}.summary.json")
    context_path = path.with_name(f"{ident}.context.json")
    backend = rec["backend"]
    command = rec["command"]
    raw: dict | None = None
    lost: str | None = None  # why nothing of what the command did is known
    source = "the tracer's summary"
    if summary_path.exists():
        raw = json.loads(summary_path.read_text(encoding="utf-8", errors="surrogateescape"))
        _release_trace(backend, ident)
    else:
        state, found = _ask_backend(backend, ident)
        if state == "missing":  # no preload log: it never started, or its log was released
            if context_path.exists():  # it started (roar wrote this after the spawn)
                state, found = (
                    "lost",
                    (
                        "the preload log of this job was already released and its summary was not "
                        "kept, so what the command did is lost: no files are recorded"
                    ),
                )
            else:
                state = "not started"
        if state == "running":
            _note(
                f"roar (pid {rec['pid']}) was stopped while running `{command}`, which still runs; "
                "its job will be recorded by a roar command after it has ended."
            )
            return 0
        if state == "not started":
            _note(f"roar (pid {rec['pid']}) was stopped before `{command}` started; nothing ran.")
            _remove(summary_path, context_path, path)
            return 0
        if state == "found":
            raw = found
            source = "the preload log" if backend == "preload" else "the eBPF service"
            # Kept first: a roar that dies while recording it finds the summary next time (and
            # the backend's copy goes only once this one is safe).
            try:
                _write_atomically(summary_path, raw)
            except OSError:
                pass
            else:
                _release_trace(backend, ident)
        else:
            lost = found
    context: dict = {}
    if context_path.exists():
        try:
            context = json.loads(context_path.read_text(encoding="utf-8", errors="surrogateescape"))
        except ValueError:
            context = {}
    if raw is not None:
        summary = parse_summary(raw)
        exit_known = raw.get("exit_known", True) is not False
    else:
        from roar.tracing.run import Summary

        summary = Summary(backend, None, None, None, [], [], [])
        exit_known = False
        summary.warnings.append(str(lost))
    if not exit_known:
        summary.exit_code = None
        summary.exit_signal = None
    summary.backend = summary.backend or backend
    summary.interrupted = True
    summary.warnings.append(
        f"roar (pid {rec['pid']}) was stopped while this job ran; a later roar command (pid "
        f"{os.getpid()}) recorded it from {source if raw is not None else 'its in-flight record'} "
        f"and hashed its files then, not when the job ended (they may have changed in between)"
    )
    times = [p.stat().st_mtime for p in (path, context_path) if p.exists()]
    ended = summary.end_ns / 1e9 if summary.end_ns else max(times or [rec["started_at"]])
    if _already_recorded(conn, rec):
        _remove(summary_path, context_path, path)
        return 0
    outcome = _record(conn, db_path, rec, context, summary, max(ended, rec["started_at"]))
    _remove(summary_path, context_path, path)
    if source != "the tracer's summary":
        _release_trace(backend, ident)  # if keeping the summary failed, it was not released
    ref = f"@{outcome.step_number}" if outcome.step_number else "a spooled job"
    code = "unknown" if outcome.exit_code is None else outcome.exit_code
    _note(
        f"roar (pid {rec['pid']}) was stopped while `{command}` ran; recorded it now as {ref}, "
        f"interrupted (exit code {code}), from {source if raw is not None else 'its record alone: ' + str(lost)}."
    )
    return 1


def _ask_backend(backend: str, ident: str) -> tuple[str, Any]:
    """What the backend kept of job ``ident``: ("found", summary dict), ("running", None),
    ("not started", None), ("missing", None) (preload: no log) or ("lost", why)."""
    import roar._native as native

    if backend == "preload":
        state, text = native.preload_recover(ident)
        if state == "found":
            return "found", json.loads(text or "null")
        if state == "running":
            return "running", None
        return "missing", None
    if backend == "ebpf":
        try:
            state, text = native.ebpf_claim(ident, "peek")
        except (RuntimeError, OSError) as exc:
            return "lost", (
                f"the eBPF service that traced this job is not running any more ({exc}), so what "
                "the command did is lost: no files are recorded"
            )
        if state == "pending":
            return "running", None
        if state == "found":
            data = json.loads(text or "null")
            if _never_started(data):
                native.ebpf_claim(ident, "forget")
                return "not started", None
            return "found", data
        return "lost", f"{text}; what the command did is lost: no files are recorded"
    return "lost", (
        "the ptrace tracer runs inside roar and PTRACE_O_EXITKILL kills the traced processes "
        "with it, so the command was ended with roar and what it did was lost: no files are "
        "recorded"
    )


def _never_started(summary: dict) -> bool:
    """An eBPF job whose root never exec'd the command (roar died before releasing it)."""
    root = summary.get("root_pid")
    procs = [p for p in summary.get("processes", []) if p.get("pid") == root]
    return not summary.get("files") and all(not p.get("argv") for p in procs)


def _release_trace(backend: str, ident: str) -> None:
    """The summary is kept: let the backend drop its copy."""
    import roar._native as native

    try:
        if backend == "preload":
            native.preload_discard(ident)
        elif backend == "ebpf":
            native.ebpf_claim(ident, "forget")
    except (RuntimeError, OSError, ValueError):
        pass


def _already_recorded(conn: sqlite3.Connection, rec: dict) -> bool:
    """Did its roar record the job after all (it died between the write and the cleanup)?"""
    row = conn.execute(
        "SELECT 1 FROM jobs WHERE started_at = ? AND step_identity = ? LIMIT 1",
        (rec["started_at"], rec["step_identity"]),
    ).fetchone()
    return row is not None


def _record(conn, db_path: Path, rec: dict, context: dict, summary, ended: float):
    from roar import config as config_mod
    from roar.record import gitinfo, recorder
    from roar.workspace import Workspace

    ws = Workspace(db_path.parent.parent)
    cfg = config_mod.load(ws.config_path)
    git = rec.get("git") or {}
    request = recorder.RunRequest(
        argv=rec["argv"],
        kind=rec["kind"],
        cwd=rec["cwd"],
        name=rec.get("name"),
        hash_algorithm=rec["algorithm"],
        allow_dirty=True,
        tracer=rec["backend"],
        forced_step=rec.get("forced_step"),
    )
    job = recorder.PreparedJob(
        request,
        ws,
        cfg,
        Path(rec["repo"]),
        rec["cwd"],
        rec["algorithm"],
        list(rec.get("dirty") or []),
        rec.get("diff_hash"),
        started=rec["started_at"],
        git_state=gitinfo.GitState(git.get("commit"), git.get("branch"), git.get("remote")),
        metadata=dict(context.get("metadata") or {}),
    )
    if not job.metadata:
        job.metadata = {"env": {}, "host": {}}
        summary.warnings.append(
            "roar was stopped before it captured this job's environment and host facts"
        )
    return recorder._record(job, conn, summary, ended)
