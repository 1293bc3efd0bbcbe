"""roar label set|unset|cp|show|history: local labels on DAGs (sessions), jobs and artifacts.

    roar label set dag current owner=alice team=ml
    roar label set job @2 phase=train lr=0.001
    roar label set artifact ./outputs/model.pt model.name=resnet50 stage=baseline
    roar label unset artifact ./outputs/model.pt stage
    roar label cp job @2 artifact ./outputs/model.pt
    roar label show job @2 [--json]
    roar label history artifact <artifact-hash> [--json]
    roar label sync [dag current | job @2 | artifact ./outputs/model.pt] [--dry-run] [-y] [--json]

Targets: ``dag current|SESSION``, ``job @N|@BN|UID``, ``artifact PATH|HASH``. ``set`` patches
the current document (dotted keys nest; numbers and true/false keep their type), ``cp`` merges
one entity's labels into another's; every change is a new version that ``history`` lists.
``sync`` pushes the current labels to the GLaaS registry (glaas.url), only what differs
(roar/query/label_sync.py); without a target, the active session's.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.commands._publish import add_visibility_flags, publication_scope
from roar.cli.console import Console
from roar.errors import RoarError

if TYPE_CHECKING:
    from roar.query.labels import Target
    from roar.store.connection import Connection
    from roar.store.labels import LabelVersion
    from roar.store.queries import Reader
    from roar.workspace import Workspace

HELP = "Manage local labels for DAGs (sessions), jobs, and artifacts"
KINDS = ("dag", "job", "artifact")
TARGET_HELP = "dag current|SESSION, job @N|@BN|UID, or artifact PATH|HASH"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help=HELP, description=__doc__.split("\n\n")[-1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    cmd = verbs.add_parser("set", help="set labels (patches the current label document)")
    _target(cmd)
    cmd.add_argument("items", nargs="+", metavar="KEY=VALUE", help="dotted keys nest: model.name=x")
    cmd = verbs.add_parser("unset", help="remove labels")
    _target(cmd)
    cmd.add_argument("keys", nargs="+", metavar="KEY", help="a dotted key, or a group's key")
    cmd = verbs.add_parser("cp", help="copy labels from one entity to another")
    _target(cmd)
    _target(cmd, "dest")
    for verb, what in (("show", "show current labels"), ("history", "show all label versions")):
        cmd = verbs.add_parser(verb, help=what)
        _target(cmd)
        add_json_flag(cmd)
    cmd = verbs.add_parser("sync", help="sync local labels to GLaaS (needs a configured registry)")
    cmd.add_argument(
        "target", nargs="*", help=TARGET_HELP + " (default: the active session's labels)"
    )
    cmd.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    cmd.add_argument("-y", "--yes", action="store_true", help="skip the confirmation prompt")
    add_visibility_flags(cmd)  # the scope is chosen as roar register chooses it
    add_json_flag(cmd)
    p.set_defaults(handler=handle, verb=None)


def _target(p: argparse.ArgumentParser, name: str = "target") -> None:
    p.add_argument(f"{name}_kind", choices=KINDS, metavar="ENTITY", help=TARGET_HELP)
    p.add_argument(f"{name}_ref", metavar="REF", help="current, @N, a uid, a path or a hash")


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.verb is None:
        raise RoarError(
            "Missing label command.",
            hint="roar label set|unset|cp|show|history|sync ENTITY REF ...",
        )
    if args.verb == "sync":
        return _sync(args, console)
    from roar.query import labels

    with _opened() as (ws, reader, conn):
        target = labels.resolve_target(reader, ws, args.target_kind, args.target_ref)
        if args.verb == "set":
            return _changed(console, target, labels.set_labels(conn, target, args.items))
        if args.verb == "unset":
            return _changed(console, target, labels.unset_labels(conn, target, args.keys))
        if args.verb == "cp":
            dest = labels.resolve_target(reader, ws, args.dest_kind, args.dest_ref)
            return _changed(console, dest, labels.copy_labels(conn, target, dest))
        if args.verb == "show":
            return _show(console, target, labels.current(conn, target), args.json)
        return _history(console, target, labels.history(conn, target), args.json)


def _sync(args: argparse.Namespace, console: Console) -> int:
    """Push the local labels to the registry: only what differs; asks first (-y skips)."""
    from roar import config as config_mod
    from roar.query import label_sync
    from roar.registry import client

    with open_reader() as (ws, reader):
        url = client.require_url(ws.config_path)  # "GLaaS server not configured."
        scope, login = publication_scope(args, ws.config_path, url, console)
        remote = label_sync.Remote(url, scope, login)
        chosen = label_sync.targets(reader, ws, args.target)
        mask = bool(config_mod.load(ws.config_path).get("registration.omit.enabled"))
        items = label_sync.plan(reader, ws, remote, chosen, mask)
    missing = [i for i in items if not i.registered]
    if missing and (args.target or len(missing) == len(items)):
        raise RoarError(
            f"{missing[0].target.title} is not registered on {url} yet: its labels have "
            "nowhere to go.",
            hint=f"Register it first ({missing[0].register_hint}), then run roar label sync again.",
        )
    changes = sum(len(i.set) + len(i.unset) for i in items if i.registered)
    if args.json and (args.dry_run or not changes):
        console.json({"url": url, "scope": scope, "dry_run": args.dry_run, "sent": 0,
                      "targets": [i.json() for i in items]})  # fmt: skip
        return 0
    if not args.json:
        for item in items:
            console.out(_sync_line(item))
    if args.dry_run:
        console.err(f"Dry run: {changes} label change(s) would be sent to {url}; nothing sent.")
        return 0
    if not changes:
        console.err(f"The labels on {url} are up to date: nothing to send.")
        return 0
    question = (
        f"Send {changes} label change(s) to {url} anonymously? Anonymous labels are public "
        "and cannot be withdrawn."
    )
    if scope == "anonymous" and not args.yes and not console.confirm_destructive(question):
        console.err("Label sync aborted: nothing sent.")
        return 1
    sent = label_sync.push(remote, items)
    if args.json:
        console.json({"url": url, "scope": scope, "dry_run": False, "sent": sent,
                      "targets": [i.json() for i in items]})  # fmt: skip
        return 0
    who = str(login.get("user")) if login else "anonymous"
    console.err(f"Sent {sent} label change(s) to {url} (scope {scope}, as {who}).")
    return 0


def _sync_line(item: Any) -> str:
    from roar.query.labels import value_text

    if not item.registered:
        return f"{item.target.title}: not registered yet ({item.register_hint}): skipped"
    if item.ref is None and not item.set:
        return f"{item.target.title}: no local labels"
    parts = [f"{k}={value_text(v)}" for k, v in item.set.items()]
    parts += [f"-{k}" for k in item.unset]
    return f"{item.target.title}: " + (" ".join(parts) if parts else "up to date")


@contextmanager
def _opened() -> Iterator[tuple[Workspace, Reader, Connection]]:
    """The reader that resolves targets, and a connection of its own for label writes."""
    from roar.store.connection import opened

    with open_reader() as (ws, reader), opened(ws.db_path) as conn:
        yield ws, reader, conn


def _changed(console: Console, target: Target, made: LabelVersion | None) -> int:
    from roar.query.labels import one_line

    if made is None:
        console.err(f"Labels of {target.title} unchanged.")
        return 0
    console.err(f"Labels of {target.title}: version {made.version}")
    console.out(one_line(made.document) or "(no labels)")
    return 0


def _show(console: Console, target: Target, now: LabelVersion | None, as_json: bool) -> int:
    from roar.query.labels import flatten, value_text

    if as_json:
        console.json(
            {
                "entity": target.ids,
                "version": now.version if now else 0,
                "labels": now.document if now else {},
            }
        )
        return 0
    if now is None or not now.document:
        console.err(f"No labels on {target.title}.")
        return 0
    console.out(f"Labels of {target.title} (version {now.version}):")
    for key, value in flatten(now.document):
        console.out(f"  {key} = {value_text(value)}")
    return 0


def _history(console: Console, target: Target, versions: list[LabelVersion], as_json: bool) -> int:
    from roar.query.labels import one_line, version_json

    if as_json:
        console.json({"entity": target.ids, "versions": [version_json(v) for v in versions]})
        return 0
    if not versions:
        console.err(f"No labels on {target.title}.")
        return 0
    console.out(f"Label history of {target.title} ({len(versions)} versions):")
    for v in versions:
        when = datetime.fromtimestamp(v.created_at).strftime("%Y-%m-%d %H:%M:%S")
        console.out(f"  v{v.version}  {when}  {v.operation:<5}  {_change_text(v)}")
        console.out(f"      → {one_line(v.document) or '(no labels)'}")
    return 0


def _change_text(v: LabelVersion) -> str:
    from roar.query.labels import one_line

    if v.operation == "set":
        return one_line(v.change.get("set", {}))
    if v.operation == "unset":
        return " ".join(v.change.get("unset", []))
    source = v.change.get("cp", {}).get("from", {})
    name = source.get("step_ref") or source.get("path") or source.get("session_uid", "")
    return f"from {source.get('kind', '?')} {name}"
