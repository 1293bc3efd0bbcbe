"""roar config list|get KEY|set KEY VALUE [--json]"""

from __future__ import annotations

import argparse

from roar import config as config_mod
from roar.cli.console import Console
from roar.workspace import require_workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="View or set configuration")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    lst = verbs.add_parser("list", help="every key with its value and meaning")
    lst.add_argument("--json", action="store_true")
    get = verbs.add_parser("get", help="one key")
    get.add_argument("key")
    get.add_argument("--json", action="store_true")
    st = verbs.add_parser("set", help="set a key (validated)")
    st.add_argument("key")
    st.add_argument("value")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    ws = require_workspace()
    cfg = config_mod.load(ws.config_path)
    if args.verb == "list":
        if args.json:
            console.json({k: cfg.values[k] for k in config_mod.KEYS})
            return 0
        for name, key in config_mod.KEYS.items():
            value = _fmt(cfg.values[name])
            default = (
                ""
                if cfg.values[name] == key.default
                else console.style(f"  (default {_fmt(key.default)})", "dim")
            )
            console.out(f"{name:<30} {value:<22} {key.help}{default}")
        return 0
    if args.verb == "get":
        value = cfg.get(args.key)
        console.json({args.key: value}) if args.json else console.out(f"{args.key}: {_fmt(value)}")
        return 0
    value = config_mod.set_value(ws.config_path, args.key, args.value)
    console.err(f"Set {args.key} = {_fmt(value)}")
    console.err(f"Saved to {ws.config_path}")
    return 0


def _fmt(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
