"""roar session list | show [SESSION] | use SESSION [--json]

`roar reset` starts a new session and keeps the old ones; these reach them again. SESSION is
`current`, the number `roar session list` shows, or a prefix (4+ hex) of the session's hash.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.console import Console

HELP = "Sessions: list them, show one's DAG, make one active again"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("session", help=HELP)
    add_json_flag(p)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    listing = verbs.add_parser("list", help="every session, the active one marked")
    add_json_flag(listing)
    show = verbs.add_parser("show", help="one session's pipeline DAG (default: current)")
    show.add_argument("session", nargs="?", default="current")
    show.add_argument("--expanded", action="store_true", help="every run, not only the latest")
    add_json_flag(show)
    use = verbs.add_parser("use", help="make SESSION the active session (the others are kept)")
    use.add_argument("session")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.verb == "show":
        return _show(args, console)
    if args.verb == "use":
        return _use(args.session, console)
    return _list(args.json, console)


def _list(as_json: bool, console: Console) -> int:
    with open_reader() as (_ws, r):
        sessions = r.sessions()
        counts = r.session_job_counts()
    rows = [
        {
            "number": s.id,
            "session_uid": s.uid,
            "created_at": datetime.fromtimestamp(s.created_at).astimezone().isoformat(),
            "jobs": counts.get(s.id, 0),
            "active": s.is_active,
        }
        for s in sessions
    ]
    if as_json:
        console.json({"sessions": rows})
        return 0
    if not rows:
        console.err("No sessions yet: the first `roar run` starts one.")
        return 0
    console.out(f"{'':2}{'#':>4}  {'SESSION':<12}  {'CREATED':<19}  JOBS")
    for sess in sessions:
        created = datetime.fromtimestamp(sess.created_at).strftime("%Y-%m-%d %H:%M:%S")
        mark = "*" if sess.is_active else ""
        console.out(f"{mark:<2}{sess.id:>4}  {sess.uid[:12]}  {created}  {counts.get(sess.id, 0)}")
    console.out()
    console.out("* active.  `roar session show N` draws one; `roar session use N` makes it active.")
    return 0


def _show(args: argparse.Namespace, console: Console) -> int:
    from roar.cli.commands.dag import render
    from roar.query.history import resolve_session, session_dag_of
    from roar.query.labels import for_dag
    from roar.query.serialize import dag_json

    with open_reader() as (ws, r):
        session = resolve_session(r, args.session)
        dag = session_dag_of(r, session, expanded=args.expanded)
        labels = for_dag(r, dag)
    if args.json:
        console.json(
            {
                "session_uid": session.uid,
                "dag_hash": dag.dag_hash(),
                **dag_json(dag, ws.root, labels),
            }
        )
        return 0
    state = "active" if session.is_active else "inactive"
    console.out(f"Session {session.id} ({session.uid[:12]}, {state})")
    render(dag, console, show_artifacts=False)
    return 0


def _use(ref: str, console: Console) -> int:
    from roar.query.history import resolve_session
    from roar.store import writer
    from roar.store.connection import opened

    with open_reader() as (ws, r):
        session = resolve_session(r, ref)
    if session.is_active:
        console.err(f"Session {session.id} ({session.uid[:12]}) is already the active session.")
        return 0
    with opened(ws.db_path) as conn:
        writer.activate_session(conn, session.id)
    console.err(f"Session {session.id} ({session.uid[:12]}) is now the active session.")
    return 0
