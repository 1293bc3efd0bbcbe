"""roar register TARGET [--dry-run] [-y] [--public|--private|--anonymous] [--json]: send a
target's whole upstream lineage to the GLaaS registry (glaas.url), then print the
`roar reproduce` command that makes it again from there.

The scope (roar.registry.account.publication): a flag, else the repo's `roar scope`, else
``registration.public_by_default`` (with a warning); logged out, anonymous; logged in with no
scope, the seeds' "No GLaaS repo binding" error. An anonymous registration (public, attributed
to "anonymous") is always confirmed first (``-y`` skips the question; without a terminal
nothing is sent without ``-y``); the others are sent as the stored login (roar login).
"""

from __future__ import annotations

import argparse
from typing import Any

from roar import config as config_mod
from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.commands._publish import add_visibility_flags, publication_scope
from roar.cli.console import Console
from roar.errors import RoarError

HELP = "Register the lineage of an artifact, job, step or session with GLaaS"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("register", help=HELP)
    p.add_argument(
        "target",
        help="a path, an artifact hash prefix, @N, @BN, a job uid, or a session "
        "(session:current, a session hash prefix)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    p.add_argument("-y", "--yes", action="store_true", help="skip the confirmation prompt")
    add_visibility_flags(p)
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import client, register

    with open_reader() as (ws, reader):
        cfg = config_mod.load(ws.config_path)
        prepared = register.prepare(
            reader, ws, args.target, mask=bool(cfg.get("registration.omit.enabled"))
        )
    url = client.configured_url(ws.config_path)
    scope, login = publication_scope(args, ws.config_path, url, console)
    who = str(login.get("user")) if login else register.ANONYMOUS
    prepared.bundle["registered_by"] = who  # informative: the server attributes it itself
    visibility = _VISIBILITY.get(scope, "project")
    if args.dry_run:
        _dry_run(prepared, url, visibility, scope, args, console)
        return 0
    if url is None:
        raise RoarError(
            "GLaaS server not configured.", hint="Set the GLaaS URL: " + client.SET_URL_HINT
        )
    if scope == "anonymous" and not args.yes and not _confirm(prepared, url, console):
        console.err("Registration aborted.")
        return 1
    answer = register.send(url, prepared.bundle, scope, login)
    session_hash = str(answer["session_hash"])
    tag, note = register.tag_commit(ws.root, prepared.commit, session_hash)
    who = str(answer.get("registered_by") or who)
    log = register.record_locally(
        ws,
        {"url": url, "session_hash": session_hash, "target": args.target,
         "visibility": visibility, "scope": scope, "registered_by": who},
    )  # fmt: skip
    commands = [f"roar reproduce {h}" for h in prepared.reproduce]
    if args.json:
        console.json(
            {**answer, "url": url, "visibility": visibility, "scope": scope, "tag": tag,
             "registrations_log": str(log), "reproduce": commands}
        )  # fmt: skip
        return 0
    state = "registered" if answer.get("created") else "already registered (nothing new)"
    console.out(
        f"Lineage {state}: session {session_hash[:12]} · {answer.get('jobs')} job(s), "
        f"{answer.get('artifacts')} artifact(s), {answer.get('edges')} edge(s) on {url}"
    )
    console.err(f"Scope: {scope} ({visibility}), registered by {who}; logged in {log}")
    console.err(f"Git: {note}")
    if commands:
        console.out("Reproduce it with:")
        for line in commands[:5]:
            console.out(f"  {line}")
        if len(commands) > 5:
            console.out(f"  … and {len(commands) - 5} more final artifact(s)")
    return 0


_VISIBILITY = {"anonymous": "public", "public": "public", "private": "private"}


def _confirm(prepared: Any, url: str, console: Console) -> bool:
    bundle = prepared.bundle
    return console.confirm_destructive(
        f"Register {len(bundle['jobs'])} job(s) and {len(bundle['artifacts'])} artifact(s) "
        f"anonymously on {url}? Anonymous lineage is public and cannot be withdrawn."
    )


def _dry_run(
    prepared: Any,
    url: str | None,
    visibility: str,
    scope: str,
    args: argparse.Namespace,
    console: Console,
) -> None:
    bundle = prepared.bundle
    where = url or "(glaas.url not configured)"
    if args.json:
        console.json(
            {"dry_run": True, "url": url, "visibility": visibility, "scope": scope,
             "registered_by": bundle["registered_by"], "bundle": bundle}
        )  # fmt: skip
        return
    console.out(
        f"Would register the lineage of {prepared.kind} {prepared.label} on {where} "
        f"as {bundle['registered_by']} in scope {scope} ({visibility}):"
    )
    for job in prepared.jobs:
        console.out(f"  {job.ref:<5} [{job.uid}] {_masked_command(bundle, job.uid)}")
    console.out(
        f"  {len(bundle['jobs'])} job(s), {len(bundle['artifacts'])} artifact(s), "
        f"{len(bundle['edges'])} edge(s), {len(bundle['labels'])} label event(s)"
    )
    console.err("Dry run: nothing was sent (--json shows the whole bundle).")


def _masked_command(bundle: dict[str, Any], uid: str) -> str:
    return next((j["command"] for j in bundle["jobs"] if j["uid"] == uid), "")
