"""roar login [--force] [--token-file F] [--json]: sign in to GLaaS (glaas.url) and store the
login (``$XDG_CONFIG_HOME/roar/auth.json``, mode 0600) for attributed, private and project
publishing. With a token file (JSON with "token", from `glaas-server admin create-token
--file`), as that token; without one, with your SSH key (roar auth). A browser/device flow is
not offered by this server."""

from __future__ import annotations

import argparse
from pathlib import Path

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console

HELP = "Log in to GLaaS (a token file or your SSH key) for attributed and private publishing"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("login", help=HELP)
    p.add_argument("--force", action="store_true", help="log in again even when logged in")
    p.add_argument("--token-file", type=Path, help='a JSON file holding {"token": "glaas_…"}')
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import account
    from roar.workspace import find_workspace

    ws = find_workspace()
    out = account.login(ws.config_path if ws else None, args.token_file, args.force)
    if args.json:
        console.json(out)
        return 0
    console.out(f"Logged in to {out['url']} as {out['user']} ({out['method']}).")
    console.err(f"Stored in {out['auth_state']} (readable by you only).")
    return 0
