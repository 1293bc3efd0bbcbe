"""roar make TARGET [--dry-run] [-y] [--allow-dirty] [--json]

Reruns exactly the stale steps upstream of TARGET (a path, a hash prefix or @N), in order, each
recorded as a rerun of its step (``roar run @N``); ``--dry-run`` prints the plan. The rules and
the walk are in ``roar/reproduce/make.py``.
"""

from __future__ import annotations

import argparse
import shlex

from roar.cli.commands._common import plural
from roar.cli.console import Console, display_path
from roar.errors import RoarError
from roar.reproduce import make
from roar.store.connection import connect
from roar.workspace import require_workspace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.query.lineage import Dag


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make", help="Rerun exactly the stale steps upstream of an artifact")
    p.add_argument("target", help="a file path, a hash prefix (8+ hex) or @N")
    p.add_argument("--dry-run", action="store_true", help="print the plan, rerun nothing")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before rerunning")
    p.add_argument(
        "--allow-dirty", action="store_true", help="rerun with uncommitted changes (roar run's)"
    )
    p.add_argument("--json", action="store_true", help="the plan (and what ran) as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    ws = require_workspace()
    conn = connect(ws.db_path)
    try:
        session_id = make.session_of(conn)
        target = make.resolve_target(conn, session_id, args.target)
        plan = make.plan(conn, session_id, target, make.disk_check(conn))
        if plan.up_to_date or args.dry_run:
            _show(plan, args, console)
            return 0
        if plan.blockers:
            raise RoarError(
                f"Cannot make {args.target}: {plan.blockers[0]}.",
                hint="roar make --dry-run shows the plan.",
            )
        if not args.json:
            _show(plan, args, console)
        refs = ", ".join(p.run.ref for p in plan.steps)
        question = f"Rerun {plural(len(plan.steps), 'step')} ({refs})?"
        if not (args.yes or console.confirm_destructive(question)):
            console.err("Aborted.")
            return 1

        def started(step: make.PlannedStep, total: int) -> None:
            console.err(console.style(f"[{len(ran) + 1}/{total}] {step.run.ref}", "bold")
                        + f" {step.run.command}")  # fmt: skip

        ran: list[make.Rerun] = []

        def runner(step: make.PlannedStep) -> int:
            code = make.rerun_step(
                ws.root, step.run, allow_dirty=args.allow_dirty, quiet_stdout=args.json
            )
            ran.append(make.Rerun(step, code))
            return code

        done = make.execute(
            conn, session_id, target, lambda: make.disk_check(conn), runner, started
        )
    finally:
        conn.close()
    failed = done[-1] if done and done[-1].exit_code != 0 else None
    if args.json:
        console.json({**_plan_json(plan), "ran": [_ran_json(r) for r in done]})
    if failed is not None:
        console.error(
            f"{failed.step.run.ref} failed (exit {failed.exit_code}): {failed.step.run.command}",
            "The steps after it were not rerun; fix it and run roar make again.",
        )
        return failed.exit_code
    if not done:  # made meanwhile by someone else
        console.err(f"{args.target} is up to date.")
        return 0
    console.err(f"Made {args.target}: reran {', '.join(r.step.run.ref for r in done)}.")
    return 0


def _show(plan: make.Plan, args: argparse.Namespace, console: Console) -> None:
    if args.json:
        console.json(_plan_json(plan))
        return
    name = args.target
    if plan.target.step is None:
        console.out(
            f"Nothing to make: {name} is a source input (no step of this session wrote it)."
        )
        return
    if plan.up_to_date:
        upstream = plural(plan.considered, "step")
        console.out(f"{name} is up to date ({upstream} upstream of it, none stale).")
        return
    console.out(
        f"{name}: {plural(len(plan.steps), 'stale step')} to rerun "
        f"(of {plural(plan.considered, 'step')} upstream of it):"
    )
    width = max(len(p.run.ref) for p in plan.steps)
    for p in plan.steps:
        reasons = "; ".join(make.describe(r, display_path) for r in p.reasons)
        console.out(f"  {p.run.ref:<{width}}  {p.run.command}")
        console.out(console.style(f"  {'':<{width}}  because {reasons}", "dim"))
    for blocker in plan.blockers:
        console.out(console.style(f"Cannot rerun: {blocker}.", "red"))
    if args.dry_run:
        console.err(f"Dry run: nothing was rerun (roar make {shlex.quote(name)} reruns them).")


def _plan_json(plan: make.Plan) -> dict:
    return {
        "target": plan.target.name,
        "target_step": plan.target.step.ref if plan.target.step else None,
        "up_to_date": plan.up_to_date,
        "steps_considered": plan.considered,
        "plan": [
            {
                "step": p.run.ref,
                "step_number": p.run.step_number,
                "job_uid": p.run.uid,
                "command": p.run.command,
                "cwd": p.run.cwd,
                "dependencies": p.dependencies,
                "reasons": [
                    {"kind": r.kind, "path": r.path, "step": r.step, "text": make.describe(r)}
                    for r in p.reasons
                ],
            }
            for p in plan.steps
        ],
        "blockers": plan.blockers,
    }


def _ran_json(r: make.Rerun) -> dict:
    return {"step": r.step.run.ref, "command": r.step.run.command, "exit_code": r.exit_code}


def make_hint(dag: Dag) -> str | None:
    """One line for ``roar status`` and ``roar dag``: ``roar make X`` for a stale final output."""
    finals = make.stale_final_outputs(dag)
    if not finals:
        return None
    line = f"hint: roar make {shlex.quote(display_path(finals[0]))} reruns only the stale steps upstream of it"
    if len(finals) > 1:
        others = ", ".join(display_path(p) for p in finals[1:3]) + (
            ", …" if len(finals) > 3 else ""
        )
        line += f" (also stale: {others})"
    return line
