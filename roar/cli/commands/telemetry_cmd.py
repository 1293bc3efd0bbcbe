"""roar telemetry --status | --print | --disable | --enable  (the seeds' "Product Telemetry")"""

from __future__ import annotations

import argparse
import json

from roar.cli.console import Console
from roar.telemetry import payload


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "telemetry", help="Anonymous usage counters: status, next payload, disable, enable"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--status", action="store_true", help="whether telemetry is on here, and why (default)"
    )
    what.add_argument("--print", action="store_true", help="the exact next payload, as JSON")
    what.add_argument(
        "--disable", action="store_true", help="turn telemetry off for this user, everywhere"
    )
    what.add_argument("--enable", action="store_true", help="undo --disable")
    p.add_argument("--json", action="store_true", help="--status as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.print:
        console.out(json.dumps(payload.preview(), indent=2))
        return 0
    if args.disable:
        payload.disable()
        console.err("Telemetry disabled for this user; the counters not yet sent were deleted.")
        console.err("`roar telemetry --enable` turns it back on.")
        return 0
    if args.enable:
        payload.enable()
        st = payload.state()
        if st["enabled"]:
            console.err("Telemetry enabled.")
        else:
            console.err(f"Telemetry enabled for this user, but off here: {st['reason']}.")
        return 0
    st = payload.state()
    if args.json:
        console.json(st)
        return 0
    console.out(f"Telemetry: {'enabled' if st['enabled'] else 'disabled'}")
    if st["reason"]:
        console.out(f"  why:            {st['reason']}")
    console.out(f"  endpoint:       {st['endpoint']}")
    console.out(f"  install id:     {st['install_id'] or '(not made yet)'}")
    console.out(f"  counted:        {st['counted']} command(s) since the last upload")
    console.out(f"  pending:        {st['pending_events']} payload(s) not yet accepted")
    console.out(f"  next upload:    after {st['next_upload_after'] or 'the first count'}")
    console.out(f"  kept in:        {st['cache_dir']}")
    console.out("`roar telemetry --print` shows the exact next payload; --disable turns it off.")
    return 0
