"""roar log [--json] [-n N]: recent jobs of the active session, oldest first."""

from __future__ import annotations

import argparse
from datetime import datetime

from roar.cli.commands._common import add_json_flag, open_reader, status_word
from roar.cli.console import Console
from roar.query import labels
from roar.query.serialize import job_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="Show recent jobs")
    p.add_argument(
        "-n",
        "--limit",
        type=int,
        default=20,
        help="how many of the latest jobs (default 20; 0: all)",
    )
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        session = r.active_session()
        every = r.session_jobs(session.id) if session else []
        jobs = every[-args.limit :] if args.limit > 0 else every
        labels.for_jobs(r, jobs)
    if args.json:
        console.json(
            {
                "session_id": session.id if session else None,
                "jobs": [job_json(j, ws.root) for j in jobs],
            }
        )
        return 0
    if not jobs:
        console.err("No log entries found." if session else "No active session.")
        return 0
    shown = (
        f"{len(jobs)} jobs"
        if len(jobs) == len(every)
        else f"the last {len(jobs)} of {len(every)} jobs; -n 0 shows all"
    )
    console.out(f"Job Log ({shown})")
    console.out()
    console.out(f"{'UID':<9} {'STEP':<6} {'TIMESTAMP':<19} {'DURATION':>9} {'STATUS':<6} COMMAND")
    console.out("-" * 72)
    for j in jobs:
        when = datetime.fromtimestamp(j.started_at).strftime("%Y-%m-%d %H:%M:%S")
        status = status_word(j.exit_code, j.interrupted)
        colored = console.style(f"{status:<6}", "green" if status == "OK" else "red")
        console.out(f"{j.uid:<9} {j.ref:<6} {when:<19} {j.duration:>8.1f}s {colored} {j.command}")
        if j.labels:
            console.out(f"{'':<9} labels: {labels.one_line(j.labels)}")
    return 0
