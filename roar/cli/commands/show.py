"""roar show [@N | @BN | JOB_UID | PATH | HASH] [--json]"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from typing import TYPE_CHECKING

from roar.cli.commands._common import add_json_flag, open_reader, status_word
from roar.cli.console import Console, display_path, exit_text, human_size
from roar.errors import RoarError
from roar.query import labels
from roar.query.disk import MISSING, MODIFIED, REMOTE
from roar.query.history import (
    ArtifactHit,
    deletions_at,
    disk_states,
    looks_like_path,
    may_be_path,
    no_artifact_at,
    require_active_session,
    resolve_artifact,
    resolve_job,
)
from roar.query.serialize import artifact_json, deleted_path_json, job_json
from roar.store import remote as remote_store
from roar.store.views import JobView
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader


SOURCE_LINES = 12


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show", help="Show the session, a job (@N, @BN, uid) or an artifact (path, hash)"
    )
    p.add_argument("ref", nargs="?", help="@N, @BN, a job uid, a path or a hash prefix")
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        if not args.ref:
            return _show_session(ws, r, args, console)
        job = None if looks_like_path(args.ref) else resolve_job(r, args.ref)
        if job is not None:
            labels.for_jobs(r, [job])
            return _show_job(ws, job, disk_states(r, [*job.inputs, *job.outputs]), args, console)
        hit = resolve_artifact(r, ws, args.ref)
        if hit is not None:
            return _show_artifact(ws, r, hit, args, console)
        if may_be_path(args.ref):
            removers = deletions_at(r, args.ref)
            if removers:  # only deletions of content roar never recorded
                return _show_deleted_path(ws, args.ref, removers, args, console)
            raise no_artifact_at(args.ref)
    raise RoarError(
        f"Not found: {args.ref}", hint="Use @N, @BN, a job uid, a tracked path or a hash prefix."
    )


def _show_session(ws: Workspace, r: Reader, args: argparse.Namespace, console: Console) -> int:
    session = require_active_session(r)
    jobs = r.session_jobs(session.id)
    labels.for_jobs(r, jobs)
    session_labels = labels.for_session(r, session.uid)
    if args.json:
        console.json({"session_id": session.id, "session_uid": session.uid, "created_at": session.created_at,
                      "labels": session_labels, "jobs": [job_json(j, ws.root) for j in jobs]})  # fmt: skip
        return 0
    console.out(f"Session: {session.uid}")
    console.out(f"Created: {datetime.fromtimestamp(session.created_at):%Y-%m-%d %H:%M:%S}")
    if session.git_commit_start:
        console.out(f"Commit:  {session.git_commit_start}")
    if session_labels:
        console.out(f"Labels:  {labels.one_line(session_labels)}")
    console.out()
    console.out(f"Jobs ({len(jobs)}):")
    console.out(f"  {'STEP':<6} {'JOB UID':<9} {'STATUS':<6} COMMAND")
    for j in jobs[-100:]:
        console.out(
            f"  {j.ref:<6} {j.uid:<9} {status_word(j.exit_code, j.interrupted):<6} {j.command[:70]}"
        )
    return 0


def _show_job(
    ws: Workspace,
    job: JobView,
    disk: dict[tuple[str, str], str],
    args: argparse.Namespace,
    console: Console,
) -> int:
    if args.json:
        console.json(job_json(job, ws.root))
        return 0
    status = "Success" if job.exit_code == 0 else f"Failed ({exit_text(job.exit_code)})"
    if job.interrupted:
        status += ", interrupted"
    rows = [
        ("Job", job.uid),
        ("Step", f"{job.step_number} ({job.ref})"),
        ("Name", job.step_name),
        ("Kind", job.kind),
        ("Started", f"{datetime.fromtimestamp(job.started_at):%Y-%m-%d %H:%M:%S}"),
        ("Duration", f"{job.duration:.2f}s"),
        ("Status", status),
        ("Command", job.command),
        ("Directory", os.path.join(str(ws.root), job.cwd)),
        ("Git commit", (job.git_commit or "(none)") + (" (dirty)" if job.git_dirty else "")),
        ("Git branch", job.git_branch),
        ("Tracer", job.tracer),
        ("Labels", labels.one_line(job.labels)),
    ]
    if job.kind == "cell":
        rows += _cell_rows(job)
    for label, value in rows:
        if value:
            console.out(f"{label + ':':<12} {value}")
    if job.kind == "cell" and job.source:
        console.out("Source:")
        for line in job.source.splitlines()[:SOURCE_LINES]:
            console.out(f"  | {line}")
        if len(job.source.splitlines()) > SOURCE_LINES:
            console.out("  | …")
    host = job.metadata.get("host", {})
    if host:
        console.out(f"{'Host:':<12} {host.get('hostname')} · {host.get('os', {}).get('system')} "
                    f"{host.get('os', {}).get('release')} · {host.get('cpu', {}).get('model')}")  # fmt: skip
    pip = job.metadata.get("packages", {}).get("pip", {})
    if pip:
        shown = ", ".join(f"{n}=={v}" for n, v in list(pip.items())[:15])
        console.out(f"Packages ({len(pip)}): {shown}")
    env = job.metadata.get("env_injected") or []
    if env:
        console.out(f"roar env: {', '.join(env)}")
    for label, files in (("Inputs", job.inputs), ("Outputs", job.outputs)):
        console.out(f"{label} ({len(files)}):")
        for f in files:
            state = disk.get((f.path, f.digest))
            note = f" ({state})" if state in (MISSING, MODIFIED) else ""
            console.out(f"  {display_path(f.path)}{note}")
            console.out(
                f"    {f.digest[:16]}  {human_size(f.size)}{'  (directory)' if f.is_composite else ''}"
            )
    if job.deleted:
        console.out(f"Deleted files ({len(job.deleted)}):")
        for g in job.deleted:
            back = "" if not os.path.lexists(g.path) else " (on disk again)"
            console.out(f"  {display_path(g.path)}{back}")
            if g.digest is None:
                console.out("    content unknown (roar never recorded what it held)")
            else:
                console.out(f"    {g.digest[:16]}  {human_size(g.size or 0)}  (as last recorded)")
    if job.metadata.get("workers"):  # a Ray driver's workers (roar/ray)
        from roar.ray.view import worker_lines

        for line in worker_lines(job.metadata["workers"]):
            console.out(line)
    for warning in job.metadata.get("warnings", []):
        console.out(f"Warning: {warning}")
    return 0


def _cell_rows(job: JobView) -> list[tuple[str, str | None]]:
    error = job.metadata.get("error")
    reads = ", ".join(
        f"{v.name} (from job {v.producer_job_uid})" if v.producer_job_uid else v.name
        for v in job.variables_read
    )
    return [
        ("Notebook", job.notebook_path),
        ("Cell", f"{job.cell_id or '(no id)'} · execution [{job.execution_count}]"),
        ("Error", f"{error['ename']}: {error['evalue']}" if error else None),
        ("Reads vars", reads),
        ("Defines", ", ".join(job.variables_defined)),
    ]


def _show_artifact(
    ws: Workspace, r: Reader, hit: ArtifactHit, args: argparse.Namespace, console: Console
) -> int:
    art = hit.artifact
    producers = r.jobs_with_artifacts([art.id], "output")
    consumers = r.jobs_with_artifacts([art.id], "input")
    members = r.composite_members(art.id) if art.is_composite else []
    removers = _removers(r, hit)
    labels.for_jobs(r, [*producers, *consumers, *removers])
    art_labels = labels.for_artifacts(r, [art.digest])
    remotes = remote_store.of_artifacts(r.conn, [art.id]).get(art.id, [])
    if args.json:
        doc = artifact_json(
            art,
            hit.path,
            producers,
            consumers,
            members,
            ws.root,
            removers,
            hit.disk_state,
            art_labels,
        )
        doc["remote_objects"] = [row.as_json() for row in remotes]  # schema 8
        console.json(doc)
        return 0
    path = hit.path or art.first_seen_path or ""
    state = "" if hit.on_disk else " (missing)"
    if hit.on_disk and hit.disk_state == MODIFIED:
        state = " (modified on disk: it no longer holds these bytes)"
    if not hit.on_disk and hit.path and removers and _last_event_is_removal(removers[0], producers):
        state = f" (deleted by {removers[0].ref})"
    if hit.disk_state == REMOTE:
        state = " (remote object)"
    shown = path if hit.disk_state == REMOTE else display_path(path)
    console.out(f"Artifact: {shown}{state}")
    console.out(f"Hash:     {art.algorithm}:{art.digest}")
    console.out(f"Size:     {human_size(art.size)}")
    if art_labels.get(art.digest):
        console.out(f"Labels:   {labels.one_line(art_labels[art.digest])}")
    if members:
        console.out(f"Members ({len(members)}):")
        for rel, m in members[:20]:
            console.out(f"  {m.digest[:12]}  {rel}")
    if remotes:
        console.out(f"Remote objects ({len(remotes)}):")
        for row in remotes[:10]:
            tags = [f"etag {row.etag}"] if row.etag else []
            tags += [f"version {row.version_id}"] if row.version_id else []
            tags += ["multipart: the ETag is no content digest"] if "-" in (row.etag or "") else []
            console.out(f"  {row.url}" + (f"  ({', '.join(tags)})" if tags else ""))
    console.out("Produced by:" if producers else "Produced by: (no recorded job: a source input)")
    for j in producers[:5]:
        console.out(f"  {j.ref:<5} [{j.uid}] {j.command[:70]}")
    console.out(f"Consumed by ({len(consumers)} job(s)):")
    for j in consumers[:5]:
        console.out(f"  {j.ref:<5} [{j.uid}] {j.command[:70]}")
    if removers:
        console.out(f"Deleted by ({len(removers)} job(s)):")
        for j in removers[:5]:
            console.out(f"  {j.ref:<5} [{j.uid}] {j.command[:70]}")
    return 0


def _removers(r: Reader, hit: ArtifactHit) -> list[JobView]:
    """Jobs that removed this content: at the path the user named, or (named by hash) anywhere."""
    if hit.path is None:
        return r.jobs_with_artifacts([hit.artifact.id], "deleted")
    return [
        j
        for j in deletions_at(r, hit.path)
        if any(g.digest in (hit.artifact.digest, None) for g in j.deleted)
    ]


def _last_event_is_removal(remover: JobView, producers: list[JobView]) -> bool:
    return not producers or (remover.started_at, remover.id) >= (
        producers[0].started_at,
        producers[0].id,
    )


def _show_deleted_path(
    ws: Workspace, ref: str, removers: list[JobView], args: argparse.Namespace, console: Console
) -> int:
    path = os.path.abspath(os.path.expanduser(ref))
    if args.json:
        console.json(deleted_path_json(path, removers, ws.root))
        return 0
    on_disk = " (on disk again, not recorded since)" if os.path.lexists(path) else ""
    console.out(f"Path:       {display_path(path)}{on_disk}")
    console.out(f"Deleted by: {removers[0].ref} [{removers[0].uid}] {removers[0].command[:70]}")
    console.out("Content:    unknown (no recorded job read or wrote it before it was removed)")
    for j in removers[1:5]:
        console.out(f"  also deleted by {j.ref} [{j.uid}] {j.command[:70]}")
    return 0
