"""roar env set NAME VALUE | get NAME | list [--json] | unset NAME"""

from __future__ import annotations

import argparse
import re

from roar import config as config_mod
from roar.cli.console import Console
from roar.errors import RoarError
from roar.workspace import require_workspace

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="Variables injected into every roar run and roar build")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    st = verbs.add_parser("set")
    st.add_argument("name")
    st.add_argument("value")
    get = verbs.add_parser("get")
    get.add_argument("name")
    lst = verbs.add_parser("list")
    lst.add_argument("--json", action="store_true")
    un = verbs.add_parser("unset")
    un.add_argument("name")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    ws = require_workspace()
    env = config_mod.load(ws.config_path).env
    if args.verb == "list":
        if args.json:
            console.json(env)
        else:
            for name, value in sorted(env.items()):
                console.out(f"{name}={value}")
        return 0
    if not NAME.match(args.name):
        raise RoarError(f"Invalid environment variable name: {args.name!r}.")
    if args.verb == "set":
        config_mod.set_env(ws.config_path, args.name, args.value)
        console.err(f"Set {args.name}={args.value}")
        return 0
    if args.name not in env:
        raise RoarError(
            f"Environment variable not set: {args.name}", hint="'roar env list' shows what is set."
        )
    if args.verb == "get":
        console.out(env[args.name])
        return 0
    config_mod.set_env(ws.config_path, args.name, None)
    console.err(f"Unset {args.name}")
    return 0
