"""roar status [--json]: the active session at a glance, with its DAG hash."""

from __future__ import annotations

import argparse
import os

from roar.cli.commands._common import (
    add_json_flag,
    artifact_legend,
    artifact_tags,
    open_reader,
    step_refs,
)
from roar.cli.console import Console, human_size
from roar.query.disk import MISSING, MODIFIED
from roar.query.history import session_dag
from roar.query.labels import for_dag
from roar.query.lineage import Dag
from roar.query.serialize import dag_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="Summary of the active session")
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        session, dag = session_dag(r)
        labels = for_dag(r, dag) if args.json else None
    build_steps = sorted({n.job.step_number for n in dag.nodes if n.job.kind == "build"})
    run_steps = sorted({n.job.step_number for n in dag.nodes if n.job.kind != "build"})
    tracked = [
        (a, a.disk_state != MISSING if a.disk_state else os.path.exists(a.path))
        for a in dag.artifacts
    ]
    if args.json:
        data = dag_json(dag, ws.root, labels)
        console.json(
            {
                "session_id": session.id,
                "session_uid": session.uid,
                "dag_hash": dag.dag_hash(),
                "build_steps": len(build_steps),
                "run_steps": len(run_steps),
                "stale_steps": dag.stale_steps,
                "nodes": data["nodes"],
                "artifacts": data["artifacts"],  # artifact objects: `present`, `disk_state`
            }
        )
        return 0
    console.out(f"Session: {session.uid[:12]}")
    console.out(f"DAG hash:    {dag.dag_hash()}")  # the line scripts for earlier roars grep
    console.out(f"  Build steps: {len(build_steps)}")
    console.out(f"  Run steps:   {len(run_steps)}")
    if dag.stale_steps:
        console.out(
            console.style(f"  Stale:       {step_refs(dag.stale_steps)}", "yellow")
            + "  (rerun them to bring outputs up to date)"
        )
    if tracked:
        present = [a for a, p in tracked if p]
        missing = [a for a, p in tracked if not p]
        console.out()
        console.out(f"Tracked artifacts ({len(tracked)} shown):")
        shown_tags: list[str] = []
        for label, group in (("Present:", present), ("Missing:", missing)):
            if group:
                console.out(f"  {label}")
                for a in group:
                    tags = [t for t in artifact_tags(a) if t != "[missing]"]
                    shown_tags += tags
                    state = "".join(f" {t}" for t in tags)
                    if a.disk_state == MODIFIED and a.state != "superseded":
                        state = console.style(state, "yellow")
                    console.out(f"    {a.digest[:12]}  {human_size(a.size):>10}  {a.path}{state}")
        modified = dag.counts.modified_artifacts
        changed = f" ({modified} modified on disk)" if modified else ""
        console.out(f"Total: {len(present)} present{changed}, {len(missing)} missing")
        legend = artifact_legend(shown_tags)
        if legend:
            console.out("Legend: " + "\n        ".join(legend))
    _suggest_make(dag, console)
    return 0


def _suggest_make(dag: Dag, console: Console) -> None:
    from roar.cli.commands.make_cmd import make_hint

    hint = make_hint(dag)
    if hint:
        console.err(hint)
