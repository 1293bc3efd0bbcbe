"""roar scope status|list|use SCOPE|clear [--json]: the repo's default publication scope
(``registration.scope`` in .roar/config.toml), where `roar register` publishes without
--public/--private/--anonymous: anonymous, public, private or OWNER/PROJECT."""

from __future__ import annotations

import argparse

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console

HELP = "Show or set this repo's GLaaS publication scope (anonymous, public, private, O/P)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scope", help=HELP)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{status,list,use,clear}")
    add_json_flag(verbs.add_parser("status", help="the repo's scope and your login"))
    add_json_flag(verbs.add_parser("list", help="the scopes you can publish in"))
    use = verbs.add_parser("use", help="publish in SCOPE from now on")
    use.add_argument("scope", help="anonymous, public, private or OWNER/PROJECT")
    add_json_flag(use)
    add_json_flag(verbs.add_parser("clear", help="unset the repo's scope"))
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import account
    from roar.workspace import require_workspace

    path = require_workspace().config_path
    if args.verb == "use":
        out = account.scope_use(path, args.scope)
        if args.json:
            console.json(out)
        else:
            console.out(f"Scope: {out['scope']} (registration.scope in {out['config']})")
        if out["warning"] and not args.json:
            console.err(f"Warning: {out['warning']}")
        return 0
    if args.verb == "clear":
        out = account.scope_clear(path)
        if args.json:
            console.json(out)
        else:
            console.out(f"Scope cleared (was {out['was'] or 'not set'}).")
        return 0
    if args.verb == "list":
        out = account.scope_list(path)
        if args.json:
            console.json(out)
            return 0
        for row in out["scopes"]:
            mark = "*" if row["scope"] == out["scope"] else " "
            state = "" if row["available"] else " (needs roar login)"
            console.out(f"{mark} {row['scope']:<24} {row['note']}{state}")
        return 0
    out = account.scope_status(path)
    if args.json:
        console.json(out)
        return 0
    console.out(f"Scope: {out['scope'] or 'not set'}")
    who = f"logged in as {out['user']}" if out["user"] else "not logged in"
    console.out(f"GLaaS: {out['url'] or 'not configured'} ({who})")
    if not out["scope"]:
        console.out(
            "roar register publishes anonymously when logged out; logged in, set a scope: "
            "roar scope use private|public|OWNER/PROJECT|anonymous"
        )
    return 0
