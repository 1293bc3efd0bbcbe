"""roar reproduce TARGET [--json] [--list-requirements] [--lineage] [--run [-y] [--into DIR]
[--package-sync]]: the recipe for an artifact, and (``--run``) making it again.

Without ``--run`` it shows the plan: the jobs that made the target (the latest successful
producer of each artifact needed, build steps first), each with its command, directory,
commit, packages and environment, and the source inputs with whether a file holding their
bytes is here now.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.console import Console, display_path, human_size
from roar.errors import NotInitializedError, RoarError
from roar.reproduce.plan import ReproPlan, make_plan, requirements, session_plan
from roar.workspace import Workspace, find_workspace

if TYPE_CHECKING:
    from roar.store.lineage_reads import Connection

HELP = "Show how to make an artifact again (its plan); --run reproduces it"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help=HELP)
    p.add_argument(
        "target",
        nargs="?",
        help="a path, an artifact hash prefix (8+ hex), @N, @BN or a job uid "
        "(a session with --lineage)",
    )
    p.add_argument(
        "--lineage",
        nargs="?",
        const="",
        metavar="SESSION",
        help="reproduce a whole session: current, its number or its hash prefix "
        "(or give it as TARGET)",
    )
    p.add_argument(
        "--list-requirements",
        action="store_true",
        help="print every recorded Python package as name==version (no truncation)",
    )
    p.add_argument("--run", action="store_true", help="reproduce it in a fresh git worktree")
    p.add_argument("-y", "--yes", action="store_true", help="with --run: do not ask")
    p.add_argument("--into", metavar="DIR", help="with --run: the worktree to create")
    p.add_argument(
        "--package-sync",
        action="store_true",
        help="with --run: also install the recorded system packages",
    )
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if find_workspace() is None:
        return _from_registry(args, console, None)  # a clone with no store: the registry only
    with open_reader() as (ws, reader):
        if args.lineage is not None:
            plan = session_plan(reader, ws, args.lineage or args.target or "current")
        elif not args.target:
            raise RoarError(
                "Name what to reproduce.",
                hint="roar reproduce PATH|HASH|@N|JOB_UID, or --lineage SESSION for a session.",
            )
        else:
            try:
                plan = make_plan(reader, ws, args.target)
            except RoarError:
                from roar.reproduce import from_registry as remote

                if not remote.may_be_remote(args.target) or remote.known_locally(
                    reader, args.target
                ):
                    raise
                return _from_registry(args, console, ws)
        if args.json and not args.run and not args.list_requirements:
            console.json(plan_json(plan, ws.root, _labels(reader.conn, plan)))
            return 0
    return _show_or_run(plan, args, console, ws)


def _from_registry(args: argparse.Namespace, console: Console, ws: Workspace | None) -> int:
    """The target is in no local store: its plan from the GLaaS registry (glaas.url)."""
    from roar.reproduce import from_registry as remote
    from roar.workspace import find_git_root

    if ws is None:
        if args.lineage is not None or not args.target or not remote.may_be_remote(args.target):
            raise NotInitializedError()
        root = find_git_root()
        if root is None:
            raise NotInitializedError()
        ws = Workspace(root)
    plan, url = remote.fallback(ws.root, ws.config_path, args.target)
    console.err(f"{args.target} is not in the local store: its recipe comes from {url}")
    if args.json and not args.run and not args.list_requirements:
        console.json(plan_json(plan, ws.root))
        return 0
    return _show_or_run(plan, args, console, ws)


def _show_or_run(plan: ReproPlan, args: argparse.Namespace, console: Console, ws: Workspace) -> int:
    if args.run:
        return _run(plan, args, console, ws)
    if args.list_requirements:
        pins = requirements(plan)
        if args.json:
            console.json({"requirements": pins})
        else:
            for pin in pins:
                console.out(pin)
        return 0
    _render(plan, args, console)
    return 0


def _run(plan: ReproPlan, args: argparse.Namespace, console: Console, ws: Workspace) -> int:
    from roar.reproduce.run import RunOptions, run_plan

    options = RunOptions(
        into=args.into, assume_yes=args.yes, package_sync=args.package_sync, json=args.json
    )
    return run_plan(ws, plan, options, console)


def _labels(conn: Connection, plan: ReproPlan) -> dict[str, dict]:
    """Fill the steps' jobs with their labels; the target's and the sources' by digest. (What
    ``roar.query.labels.attach`` and ``of_artifacts`` do, read straight from the store: that
    module imports the history queries, ~15 ms this command does not otherwise need.)"""
    from roar.store import labels

    jobs = [step.job for step in plan.steps]
    docs = labels.documents(conn, "job", (j.uid for j in jobs))
    for job in jobs:
        job.labels = docs.get(job.uid, {})
    digests = [s.digest for s in plan.sources] + ([plan.target.digest] if plan.target else [])
    return labels.documents(conn, "artifact", digests)


def plan_json(plan: ReproPlan, root: Any, labels: dict[str, dict] | None = None) -> dict[str, Any]:
    """The plan as the JSON contract's ``roar reproduce --json`` (docs/json-contract.md)."""
    from roar.query.serialize import file_json, job_identity, job_json

    labels = labels or {}
    target = plan.target
    return {
        "target": {
            **file_json(target),
            "algorithm": target.algorithm,
            "labels": labels.get(target.digest, {}),
        }
        if target
        else None,
        "target_job": job_identity(plan.target_job) if plan.target_job else None,
        "session_uid": plan.session_uid,
        "commit": plan.commit,
        "repo_remote": plan.repo_remote,
        "steps": [
            {
                **job_json(step.job, root),
                "env_names": step.env_names,
                "packages": step.packages,
                "system_packages": step.system_packages,
            }
            for step in plan.steps
        ],
        "sources": [
            {
                "path": s.path,
                "hash": s.digest,
                "size": s.size,
                "composite": s.is_composite,
                "algorithm": s.algorithm,
                "present": s.present_at is not None,
                "present_at": s.present_at,
                "labels": labels.get(s.digest, {}),
            }
            for s in plan.sources
        ],
        "requirements": requirements(plan),
    }


def _render(plan: ReproPlan, args: argparse.Namespace, console: Console) -> None:
    if plan.target is not None:
        title = f"{display_path(plan.target.path)} ({plan.target.digest[:12]})"
    elif plan.target_job is not None:
        title = f"{plan.target_job.ref} [{plan.target_job.uid}] {plan.target_job.command}"
    else:
        title = f"session {(plan.session_uid or '')[:12]}"
    console.out(f"Reproduction plan for {title}")
    if plan.commit:
        remote = f" ({plan.repo_remote})" if plan.repo_remote else ""
        console.out(f"Commit: {plan.commit}{remote}")
    console.out()
    console.out(f"Steps ({len(plan.steps)}, in order):")
    for i, step in enumerate(plan.steps, 1):
        job = step.job
        console.out(f"  {i}. {job.ref:<5} [{job.uid}] {job.command}")
        cwd = job.cwd or "."
        commit = (job.git_commit or "no commit")[:12] + (" (dirty)" if job.git_dirty else "")
        details = [f"in {cwd}", f"commit {commit}"]
        if step.packages:
            details.append(f"{len(step.packages)} Python package(s)")
        if step.system_packages:
            details.append(f"{len(step.system_packages)} system package(s)")
        console.out(f"       {' · '.join(details)}")
        if step.note:
            console.out(f"       {step.note}")
        injected = job.metadata.get("env_injected") or []
        if step.env_names:
            extra = f" (roar env: {', '.join(injected)})" if injected else ""
            console.out(f"       env: {len(step.env_names)} variable(s){extra}")
    names = sorted({n for step in plan.steps for n in step.env_names})
    if names:
        console.out(f"  Environment variables the steps ran with: {', '.join(names)}")
    console.out()
    missing = [s for s in plan.sources if s.present_at is None]
    console.out(f"Source inputs ({len(plan.sources)}):")
    for s in plan.sources:
        state = "present" if s.present_at else "MISSING"
        kind = " (directory)" if s.is_composite else ""
        where = (
            f"  (found at {display_path(s.present_at)})"
            if s.present_at and s.present_at != s.path
            else ""
        )
        console.out(
            f"  {state:<8} {s.digest[:12]}  {human_size(s.size):>9}  "
            f"{display_path(s.path)}{kind}{where}"
        )
    if not plan.sources:
        console.out("  (none)")
    pins = requirements(plan)
    if pins:
        console.out()
        console.out(
            f"Python packages ({len(pins)}): {', '.join(pins[:8])}"
            + (", …  (--list-requirements lists them all)" if len(pins) > 8 else "")
        )
    if missing:
        console.err(
            f"{len(missing)} source input(s) not found here: --run needs a file holding "
            "those bytes, at the recorded path or anywhere roar has hashed it."
        )
    again = (
        f"--lineage {args.lineage or args.target or 'current'}"
        if args.lineage is not None
        else args.target
    )
    console.err(f"To run it: roar reproduce {again} --run")
