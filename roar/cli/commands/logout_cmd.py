"""roar logout: forget the stored GLaaS login for glaas.url (a stored auth state that is not
valid JSON is removed whole)."""

from __future__ import annotations

import argparse

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console

HELP = "Forget the stored GLaaS login"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logout", help=HELP)
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import account
    from roar.workspace import find_workspace

    ws = find_workspace()
    out = account.logout(ws.config_path if ws else None)
    if args.json:
        console.json(out)
    elif out["logged_out"]:
        where = f" from {out['url']}" if out["url"] else ""
        console.out(f"Logged out{where} (removed from {out['auth_state']}).")
    else:
        console.out("Not logged in: nothing to forget.")
    return 0
