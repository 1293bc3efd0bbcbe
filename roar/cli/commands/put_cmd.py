"""roar put [SRC] DEST -m MSG [--dry-run] [-y] [--no-tag] [--public|--private|--anonymous]
[--json]: upload files (a file, a directory, @N's outputs, or the session's outputs), record the
upload as a `put` job, then register its lineage with GLaaS (glaas.url).

The publication scope is chosen as `roar register` chooses it (its code is reused); an anonymous
(public) one is asked first, and without a terminal nothing is uploaded without -y. When the registry cannot be reached, the upload and
its local record stand, and roar says how to register later (`roar register <job uid>`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from roar import config as config_mod
from roar.cli.commands._common import add_json_flag
from roar.cli.commands._publish import add_visibility_flags, publication_scope
from roar.cli.console import Console, display_path, human_size
from roar.errors import RoarError

HELP = "Upload artifacts to cloud storage and register lineage with GLaaS"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("put", help=HELP)
    p.add_argument(
        "src",
        nargs="?",
        metavar="SRC",
        help="a file, a directory (recursive), @N (that step's outputs); none: every output "
        "of the session",
    )
    p.add_argument(
        "dest", metavar="DEST", help="s3://bucket/prefix/, gs://bucket/prefix/ or a path"
    )
    p.add_argument("-m", "--message", required=True, help="description of the upload (required)")
    p.add_argument("--dry-run", action="store_true", help="preview without uploading")
    p.add_argument("-y", "--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--no-tag", action="store_true", help="skip git tagging")
    add_visibility_flags(p)
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import client
    from roar.transfer.progress import StderrBar
    from roar.transfer.put import PutRequest, put
    from roar.workspace import require_workspace

    source, dest = args.src, args.dest
    ws = require_workspace()
    url = client.configured_url(ws.config_path)
    scope, login = publication_scope(args, ws.config_path, url, console) if url else ("", None)
    argv = (
        ("roar", "put", *sys.argv[2:])
        if sys.argv[1:2] == ["put"]
        else ("roar", "put", *([source] if source else []), dest)
    )
    request = PutRequest(dest, source, args.message, args.dry_run, argv)
    if args.dry_run:
        return _dry_run(put(request), url, args, console)
    if url and scope == "anonymous" and not args.yes:
        plan = put(PutRequest(dest, source, args.message, True, argv))  # what would go, asked
        question = (
            f"Upload {len(plan.uploads)} file(s), {human_size(plan.total_bytes)}, to {plan.dest} "
            f"and register their lineage anonymously on {url}? Anonymous lineage is public "
            "and cannot be withdrawn."
        )
        if not console.confirm_destructive(question):
            console.err("Upload aborted: nothing was uploaded.")
            return 1
    outcome = put(request, StderrBar("put"))
    if outcome.spooled is not None:  # uploaded, but the store refused the record
        from roar.cli.commands.get_cmd import report_spooled, spooled_json

        if args.json:
            console.json({**_json(outcome), "spooled": spooled_json(outcome.spooled),
                          "registration": {"status": "not recorded"}})  # fmt: skip
        report_spooled(outcome.spooled, console)
        console.err("Lineage not registered: the put job is not in the store yet. Once it is "
                    "recorded, register it with: roar register (roar log shows its uid)")  # fmt: skip
        return 1
    registered = _register(ws, outcome, url, scope, login, args, console)
    if args.json:
        console.json({**_json(outcome), "registration": registered})
    else:
        console.out(
            f"Uploaded {len(outcome.uploads)} file(s), {human_size(outcome.total_bytes)}, to "
            f"{outcome.dest} in {outcome.seconds:.1f}s"
        )
        for u in outcome.uploads[:10]:
            console.out(f"  {display_path(u.local)} -> {u.url}  etag {u.etag or '-'}")
        if len(outcome.uploads) > 10:
            console.out(f"  … and {len(outcome.uploads) - 10} more")
        console.err(f"Recorded as step @{outcome.step_number} (job {outcome.job_uid}).")
    for w in outcome.warnings:
        console.err(f"Warning: {w}")
    return 0 if registered.get("status") in ("registered", "not configured") else 1


def _register(
    ws: Any, outcome: Any, url: str | None, scope: str, login: dict[str, Any] | None,
    args: argparse.Namespace, console: Console,
) -> dict[str, Any]:  # fmt: skip
    """Send the put job's whole upstream lineage; failures leave the upload and record alone."""
    from roar.registry import register
    from roar.store.queries import reader

    retry = f"roar register {outcome.job_uid}"
    if url is None:
        console.err(
            "Lineage not registered: GLaaS server not configured. To register it later: "
            f"roar config set glaas.url URL, then {retry}"
        )
        return {"status": "not configured", "retry": retry}
    try:
        cfg = config_mod.load(ws.config_path)
        with reader(ws.db_path) as r:
            prepared = register.prepare(
                r, ws, outcome.job_uid, mask=bool(cfg.get("registration.omit.enabled"))
            )
        who = str(login.get("user")) if login else register.ANONYMOUS
        prepared.bundle["registered_by"] = who
        answer = register.send(url, prepared.bundle, scope, login)
    except RoarError as exc:
        console.error(
            f"Registration failed: {exc.message} The upload and its local record stand.",
            hint=f"Retry the registration with: {retry}",
        )
        return {"status": "failed", "error": exc.message, "retry": retry}
    session_hash = str(answer["session_hash"])
    tag_note = "not tagged (--no-tag)"
    tag = None
    if not args.no_tag:
        tag, tag_note = register.tag_commit(ws.root, prepared.commit, session_hash)
    who = str(answer.get("registered_by") or who)
    register.record_locally(
        ws,
        {"url": url, "session_hash": session_hash, "target": outcome.job_uid,
         "scope": scope, "registered_by": who},
    )  # fmt: skip
    if not args.json:
        console.err(
            f"Lineage registered on {url}: session {session_hash[:12]} · {answer.get('jobs')} "
            f"job(s), {answer.get('artifacts')} artifact(s), scope {scope}, registered by {who}"
        )
        console.err(f"Git: {tag_note}")
    return {"status": "registered", "url": url, "session_hash": session_hash, "tag": tag,
            "scope": scope, "registered_by": who}  # fmt: skip


def _dry_run(outcome: Any, url: str | None, args: argparse.Namespace, console: Console) -> int:
    if args.json:
        console.json({**_json(outcome), "registry": url})
        return 0
    console.out(
        f"Would upload {len(outcome.uploads)} file(s), {human_size(outcome.total_bytes)}, to "
        f"{outcome.dest}" + (f" and register their lineage on {url}" if url else "") + ":"
    )
    for u in outcome.uploads[:10]:
        console.out(f"  {display_path(u.local)} -> {u.url}")
    if len(outcome.uploads) > 10:
        console.out(f"  … and {len(outcome.uploads) - 10} more")
    console.err("Dry run: nothing was uploaded, recorded or registered.")
    return 0


def _json(outcome: Any) -> dict[str, Any]:
    return {
        "dest": outcome.dest,
        "dry_run": outcome.dry_run,
        "bytes": outcome.total_bytes,
        "seconds": round(outcome.seconds, 3),
        "job_uid": outcome.job_uid,
        "step_number": outcome.step_number,
        "warnings": outcome.warnings,
        "objects": [
            {"path": u.local, "url": u.url, "hash": u.digest, "size": u.size, "etag": u.etag,
             "version_id": u.version_id, "multipart": bool(u.etag and "-" in u.etag)}
            for u in outcome.uploads
        ],
    }  # fmt: skip
