"""roar reset [-y]: start a new session; the old ones stay in the store."""

from __future__ import annotations

import argparse

from roar.cli.commands._common import open_reader
from roar.cli.console import Console
from roar.store import writer
from roar.store.connection import opened


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reset", help="Start a new session (previous ones are kept)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        session = r.active_session()
        count = len(r.session_jobs(session.id)) if session else 0
    console.err(f"Current session has {count} job(s).")
    if not (args.yes or console.confirm_destructive("Start a new session?")):
        console.err("Aborted.")
        return 1
    with opened(ws.db_path) as conn:
        old, new = writer.start_new_session(conn)
    if old is not None:
        console.err(f"Deactivated session {old}.")
    console.err(f"Created new session {new}.")
    return 0
