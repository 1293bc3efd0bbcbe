"""roar pop [-y]: remove the last job of the session and the outputs it created."""

from __future__ import annotations

import argparse
import os

from roar.cli.commands._common import open_reader
from roar.cli.console import Console, display_path, exit_text
from roar.errors import RoarError
from roar.query.history import require_active_session
from roar.store import writer
from roar.store.connection import opened


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pop", help="Remove the most recent job and the files it wrote")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        session = require_active_session(r)
        jobs = r.session_jobs(session.id)
    if not jobs:
        raise RoarError("No jobs in the active session.")
    job = jobs[-1]
    console.err(f"Step {job.ref}: {job.command} ({exit_text(job.exit_code)})")
    if not (args.yes or console.confirm_destructive("Remove this job?")):
        console.err("Aborted.")
        return 1
    with opened(ws.db_path) as conn:
        outputs = writer.delete_job(conn, job.id)
    deleted = 0
    for path in outputs:
        if _inside(path, str(ws.root)) and os.path.isfile(path):
            os.unlink(path)
            deleted += 1
            console.err(f"  deleted {display_path(path)}")
    console.err(f"Removed job {job.uid} (step {job.ref}).")
    console.err(f"Deleted {deleted} output file(s).")
    return 0


def _inside(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/") and "/.git/" not in path
