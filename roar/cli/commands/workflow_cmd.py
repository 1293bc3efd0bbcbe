"""roar workflow generate [PATH] [--session S] [--name N] [-y|--force] [--json]

Writes a session as TReqs workflow YAML (format: ``roar/query/workflow.py``), by default the
active session to ``.treqs/workflows/<name>.yaml`` at the project root; ``-`` writes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from roar.cli.commands._common import open_reader, plural
from roar.cli.console import Console, display_path
from roar.errors import RoarError
from roar.query.history import require_active_session, resolve_session
from roar.query.workflow import build_workflow, slug


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workflow", help="Write a session as a TReqs workflow (YAML)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    gen = verbs.add_parser(
        "generate",
        help="write the session's steps as TReqs workflow YAML",
        description="Write a session's steps (build steps first, then the pipeline, each by its "
        "latest run) as a TReqs workflow: name, optional working_directory, one key per task.",
    )
    gen.add_argument(
        "path",
        nargs="?",
        help="where to write it (default: .treqs/workflows/<name>.yaml at the project root; "
        "- for stdout)",
    )
    gen.add_argument(
        "--session", metavar="S", help="a session uid prefix (default: the active one)"
    )
    gen.add_argument("--name", metavar="N", help="the workflow's name (default: <repo>-<session>)")
    gen.add_argument(
        "-y", "--force", dest="force", action="store_true", help="overwrite an existing file"
    )
    gen.add_argument("--json", action="store_true", help="describe what was written, as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        session = resolve_session(r, args.session) if args.session else require_active_session(r)
        jobs = r.session_jobs(session.id)
    workflow = build_workflow(session, jobs, name=args.name, project=ws.root.name)
    if not workflow.tasks:
        raise RoarError(
            f"Session {session.uid[:8]} has no steps to write as a workflow.",
            hint="Record steps first: roar run <command> (notebook cells are not workflow tasks).",
        )
    text = workflow.to_yaml()
    if args.path == "-":
        sys.stdout.write(text)
        return 0
    path = (
        Path(os.path.abspath(args.path))
        if args.path
        else ws.root / ".treqs" / "workflows" / f"{slug(workflow.name)}.yaml"
    )
    shown = display_path(str(path))
    if path.exists() and not args.force:
        if path.is_dir() or not console.confirm_destructive(f"Overwrite {shown}?"):
            raise RoarError(
                f"Workflow file already exists: {shown}",
                hint="Pass --force (or -y) to overwrite it, or give another PATH.",
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RoarError(f"Cannot write {shown}: {exc.strerror or exc}.") from None
    if args.json:
        console.json({"path": str(path), **workflow.to_json()})
    names = ", ".join(t.name for t in workflow.tasks)
    console.err(
        f"Wrote {shown}: workflow {workflow.name!r}, {plural(len(workflow.tasks), 'task')} ({names})"
    )
    if workflow.skipped_cells:
        console.err(
            f"Left out {plural(workflow.skipped_cells, 'notebook cell step')}: cells are not "
            "shell commands (rerun them in their notebook)."
        )
    return 0
