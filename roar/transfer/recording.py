"""Writing a transfer as a job: ``get`` (outputs only: the URL and the local copy) or ``put``
(inputs: the local files; outputs: the URLs), then what the object store said about each
object (``remote_objects``: ETag, version, size) beside its artifact."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roar.errors import RoarError, StoreError
from roar.record import gitinfo
from roar.record.recorder import relative_cwd, step_identity
from roar.store import remote, spool, writer
from roar.store.connection import opened
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.transfer.get import GetOutcome, GetRequest

TRACER = "none"  # a transfer is not traced: roar itself moved the bytes


def algorithm_of(ws: Workspace) -> str:
    from roar.query.upstream import primary_algorithm

    return primary_algorithm(ws)


def check_writable(ws: Workspace, moved: str) -> None:
    """Refuse at once when the store could not record the transfer (read-only, full): the
    bytes would move and their record be lost. Opening it also clears what killed roar
    commands left behind (``staging.sweep``). ``moved``: "downloaded" or "uploaded"."""
    from roar.store.connection import ensure_writable

    try:
        with opened(ws.db_path) as conn:
            ensure_writable(conn, ws.db_path)
    except StoreError as exc:
        raise RoarError(f"{exc.message} Nothing was {moved}.", hint=exc.hint) from None


def _job(
    ws: Workspace,
    kind: str,
    argv: Sequence[str],
    started: float,
    algorithm: str,
    files: list[writer.HashedFile],
    metadata: dict[str, Any],
) -> writer.NewJob:
    cwd = os.getcwd()
    state, dirty = gitinfo.snapshot(ws.root)
    return writer.NewJob(
        kind=kind,
        command=shlex.join(argv),
        argv=list(argv),
        cwd=relative_cwd(cwd, ws.root),
        started_at=started,
        ended_at=time.time(),
        exit_code=0,
        tracer=TRACER,
        step_identity=step_identity(kind, list(argv), cwd, ws.root),
        algorithm=algorithm,
        files=files,
        git_commit=state.commit,
        git_branch=state.branch,
        git_remote=state.remote,
        git_dirty=bool(dirty),
        metadata=metadata,
    )


def _write(
    ws: Workspace,
    job: writer.NewJob,
    rows: list[remote.RemoteRow],
    cache: list[writer.CacheEntry],
) -> writer.RecordedJob | spool.Spooled:
    """The job, its files and its remote objects in one transaction; when the store refuses
    the write, the job (remote objects included) is kept in the spool as `roar run` keeps its
    own, and the next roar command that writes the store records it. The bytes have moved by
    now: moving them again is no way to get their record back."""
    job.remote_objects = [(r.url, r.etag, r.version_id, r.size, r.digest) for r in rows]
    try:
        with opened(ws.db_path) as conn:
            return spool.record_or_spool(conn, ws.db_path, job, cache)
    except StoreError as exc:  # the store could not even be opened for writing
        try:
            return spool.Spooled(exc.message, exc.hint, spool.save(ws.db_path, job, cache))
        except OSError as keep:
            return spool.Spooled(exc.message, exc.hint, None, str(keep))


def record_get(
    ws: Workspace, request: GetRequest, outcome: GetOutcome, started: float, algorithm: str
) -> writer.RecordedJob | spool.Spooled:
    objs = outcome.objects
    rows = [
        remote.RemoteRow(o.url, o.info.etag, o.info.version_id, max(o.info.size, 0), o.digest or "")
        for o in objs
    ]
    cache = [_cache_entry(o.local, o.digest or "") for o in objs]
    digest = outcome.digest or ""
    if outcome.composite:
        members = [(o.relpath, o.digest or "", max(o.info.size, 0)) for o in objs]
        files = [
            writer.HashedFile(outcome.url, "output", digest, outcome.size, True, members),
            writer.HashedFile(
                outcome.dest.rstrip("/"), "output", digest, outcome.size, True, members
            ),
        ]
        rows.append(remote.RemoteRow(outcome.url, None, None, outcome.size, digest))
    else:
        files = [
            writer.HashedFile(outcome.url, "output", digest, outcome.size),
            writer.HashedFile(outcome.dest, "output", digest, outcome.size),
        ]
    metadata: dict[str, Any] = {
        "transfer": {
            "direction": "get",
            "source": outcome.url,
            "destination": outcome.dest,
            "objects": len(objs),
            "bytes": outcome.downloaded_bytes,
            "skipped": outcome.skipped,
            "seconds": round(outcome.seconds, 3),
            "remote": [r.as_json() for r in rows[:_LISTED]],
        }
    }
    if request.message:
        metadata["message"] = request.message
    job = _job(ws, "get", request.argv or ("roar", "get", request.source), started, algorithm,
               files, metadata)  # fmt: skip
    return _write(ws, job, rows, [c for c in cache if c is not None])


_LISTED = 100  # remote objects listed in a job's metadata (all are in remote_objects)


def record_put(
    ws: Workspace,
    argv: Sequence[str],
    started: float,
    algorithm: str,
    inputs: list[writer.HashedFile],
    rows: list[remote.RemoteRow],
    metadata: dict[str, Any],
) -> writer.RecordedJob | spool.Spooled:
    outputs = [writer.HashedFile(r.url, "output", r.digest, r.size) for r in rows]
    metadata = dict(metadata)
    metadata["transfer"]["remote"] = [r.as_json() for r in rows[:_LISTED]]
    job = _job(ws, "put", argv, started, algorithm, [*inputs, *outputs], metadata)
    return _write(ws, job, rows, [])


def _cache_entry(path: str, digest: str) -> writer.CacheEntry | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return writer.CacheEntry(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest, path)


def tag_head(root: Path, kind: str, digest: str) -> str:
    """A lightweight tag ``roar/<kind>/<digest prefix>`` on HEAD; the tag's name."""
    tag = f"roar/{kind}/{digest[:12]}"
    done = subprocess.run(
        ["git", "-C", str(root), "tag", "-f", tag, "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git tag failed"
        raise RoarError(f"Could not tag HEAD as {tag}: {why}", hint="Is there a commit yet?")
    return tag
