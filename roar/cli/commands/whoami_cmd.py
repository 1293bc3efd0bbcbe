"""roar whoami [--json]: whom GLaaS (glaas.url) knows you as with the stored login, and your
projects; "anonymous" when not logged in."""

from __future__ import annotations

import argparse

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console

HELP = "Show whom GLaaS knows you as"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("whoami", help=HELP)
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import account
    from roar.workspace import find_workspace

    ws = find_workspace()
    out = account.whoami(ws.config_path if ws else None)
    if args.json:
        console.json(out)
        return 0
    if not out["authenticated"]:
        console.out(f"anonymous (not logged in to {out['url']}; roar login)")
        return 0
    projects = ", ".join(out.get("projects") or []) or "none"
    console.out(f"{out['user']} on {out['url']} ({out['method']}); projects: {projects}")
    return 0
