"""roar dag [--expanded] [--show-artifacts] [--stale-only] [--no-color] [--json]
roar dag --format dot|svg|png|graph-json [-o FILE] [--expanded] [--notebook NB | --artifact X]"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from roar.cli.commands._common import (
    add_json_flag,
    artifact_legend,
    artifact_role,
    artifact_tags,
    open_reader,
    plural,
)
from roar.cli.console import Console, exit_text, quote_path
from roar.errors import RoarError
from roar.query.disk import MODIFIED, REMOTE_PREFIXES
from roar.query.history import active_dag
from roar.query.labels import for_dag
from roar.query.lineage import Dag, DagNode
from roar.query.serialize import dag_json

GRAPH_FORMATS = ("dot", "svg", "png", "graph-json")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dag", help="Show the session's pipeline DAG")
    p.add_argument("--expanded", action="store_true", help="show every execution, including reruns")
    p.add_argument("--show-artifacts", action="store_true", help="list intermediate artifacts too")
    p.add_argument("--stale-only", action="store_true", help="only stale steps and artifacts")
    p.add_argument("--no-color", action="store_true", help="no colours")
    add_json_flag(p)
    p.add_argument(
        "--format",
        choices=("text", *GRAPH_FORMATS),
        default="text",
        help="draw the graph: Graphviz DOT, SVG or PNG (rendered by Graphviz's dot), or the "
        "viewer's graph-json (jobs and artifacts as nodes)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the drawing to FILE")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--notebook", metavar="NB", help="only the cells of this notebook")
    scope.add_argument("--artifact", metavar="X", help="the lineage of one artifact (path/hash)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.format != "text":
        return _draw(args, console)
    if args.output or args.artifact:
        raise RoarError("-o and --artifact apply to --format dot|svg|png|graph-json.")
    with open_reader() as (ws, r):
        dag = active_dag(r, expanded=args.expanded)  # empty before the first job: not an error
        labels = for_dag(r, dag) if args.json else None
    hint = None if args.json or args.notebook else _make_hint(dag)
    if args.notebook:
        _only_notebook(dag, args.notebook)
    if args.stale_only:
        dag.nodes = [n for n in dag.nodes if n.stale]
        dag.artifacts = [a for a in dag.artifacts if a.state in ("stale", "superseded")]
    elif not args.show_artifacts:
        dag.artifacts = [a for a in dag.artifacts if a.is_terminal]
    if args.json:
        console.json(dag_json(dag, ws.root, labels))
        return 0
    render(dag, console, show_artifacts=args.show_artifacts, stale_only=args.stale_only)
    if hint:
        console.err(hint)
    return 0


def _make_hint(dag: Dag) -> str | None:
    """``roar make X`` for a stale final output (computed before a view hides artifacts)."""
    from roar.cli.commands.make_cmd import make_hint

    return make_hint(dag)


def _only_notebook(dag: Dag, notebook: str) -> None:
    """Keep one notebook's cells (by path, or a bare name matching the path's tail)."""
    from roar.query.graph import notebook_matcher

    wanted = notebook_matcher(notebook)
    dag.nodes = [n for n in dag.nodes if wanted(n.job.notebook_path)]
    kept = {n.job.step_number for n in dag.nodes}
    dag.artifacts = [a for a in dag.artifacts if a.producer_step in kept]
    dag.recount()  # the scope changed: counts are the notebook's


def _draw(args: argparse.Namespace, console: Console) -> int:
    from roar.query import graph, graphviz_export

    if args.json or args.stale_only or args.show_artifacts:
        raise RoarError(
            "--json, --stale-only and --show-artifacts apply to the text view, not --format.",
            hint="A drawing shows every artifact, with stale ones marked.",
        )
    if args.format == "png" and not args.output and sys.stdout.isatty():
        raise RoarError(
            "PNG is binary: write it to a file.", hint="roar dag --format png -o dag.png"
        )
    with open_reader() as (ws, r):
        payload = graph.graph_for(
            r, ws, artifact=args.artifact, notebook=args.notebook, expanded=args.expanded
        )
    if args.format == "graph-json":
        return _emit_json(payload, args.output, console)
    _emit(graphviz_export.render(payload, args.format), args.output)
    return 0


def _emit_json(payload: dict[str, Any], output: str | None, console: Console) -> int:
    if output is None:
        console.json(payload)
        return 0
    import json

    _emit(json.dumps(payload, indent=2).encode() + b"\n", output)
    return 0


def _emit(data: bytes, output: str | None) -> None:
    """Write the finished drawing (rendered in memory first, so an error writes nothing)."""
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise RoarError(f"Cannot write {output}: {exc.strerror}.") from None


def render(dag: Dag, console: Console, *, show_artifacts: bool, stale_only: bool = False) -> None:
    if not dag.nodes:
        if stale_only and dag.total_steps:
            steps = plural(dag.total_steps, "step")
            console.out(f"Nothing is stale: {steps} up to date ({steps} in the pipeline).")
        else:
            console.out("No steps in pipeline.")
        return
    console.out(_header(dag))
    console.out()
    width = shutil.get_terminal_size((100, 20)).columns
    label_width = max(20, min(max(len(_label(n)) for n in dag.nodes), width - 45))
    shared = shared_units([_label(n) for n in dag.nodes if n.job.kind != "cell"])
    shown_tags: list[str] = []
    for node in dag.nodes:
        console.out(_node_line(node, console, label_width, shared))
        outs = [a for a in dag.artifacts if a.producer_step == node.job.step_number]
        outs = [] if node.job.kind == "build" else outs  # builds are numbered apart
        gone = node.job.deleted
        if not node.latest:  # an earlier run: its outputs are listed under the latest one
            outs, gone = [], []
        last = len(outs) + len(gone) - 1
        for i, a in enumerate(outs):
            branch = "└──>" if i == last else "├──>"
            tags = artifact_tags(a)
            shown_tags += tags
            color = {"stale": "yellow", "superseded": "dim"}.get(a.state)
            if a.disk_state == MODIFIED and a.state != "superseded":
                color = "yellow"
            remote = a.path.startswith(REMOTE_PREFIXES)  # an object store's URL: shown whole
            name = quote_path(a.path if remote else os.path.basename(a.path))
            label = console.style(" ".join([f"({name})", *tags]), *(color,) if color else ())
            console.out(f"    {branch} {label}{artifact_role(a)}")
        for i, f in enumerate(gone, start=len(outs)):
            branch = "└──x" if i == last else "├──x"
            console.out(
                f"    {branch} {console.style(f'({quote_path(os.path.basename(f.path))})', 'red')} deleted"
            )
    legend = _legend(dag, shown_tags)
    if legend:
        console.out()
        console.out(legend)


def _header(dag: Dag) -> str:
    """``Pipeline: 4 steps (2 stale steps, 3 stale artifacts, 1 superseded)``: counted over the
    whole DAG (``Dag.counts``), whatever the view then hides, so every view says the same."""
    c = dag.counts
    text = f"Pipeline: {plural(c.steps, 'step')}"
    if dag.expanded and len(dag.nodes) != c.steps:
        text += f" ({plural(len(dag.nodes), 'run')} shown)"
    extras = []
    if c.stale_steps:
        extras.append(plural(len(c.stale_steps), "stale step"))
    if c.stale_artifacts:
        extras.append(plural(c.stale_artifacts, "stale artifact"))
    if c.superseded_artifacts:
        extras.append(f"{c.superseded_artifacts} superseded")
    if c.modified_artifacts:
        extras.append(f"{c.modified_artifacts} modified on disk")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _label(node: DagNode) -> str:
    return node.job.step_name or node.job.command


def _units(command: str) -> list[str]:
    """A command's words, an option and its value kept together (`--chunk 3`)."""
    words = command.split(" ")
    units: list[str] = []
    for word in words:
        if units and units[-1].startswith("-") and " " not in units[-1] and "=" not in units[-1]:
            if not word.startswith("-"):
                units[-1] += " " + word
                continue
        units.append(word)
    return units


def shared_units(labels: list[str]) -> set[str]:
    """The words every step's command has: what does not tell steps apart."""
    if len(labels) < 2:
        return set()
    sets = [set(_units(label)[2:]) for label in labels]
    return set.intersection(*sets)


def fit_label(label: str, width: int, shared: set[str]) -> str:
    """Shorten a command to ``width``, keeping the program, its script and the words that tell
    it from the other steps (shared ones become `...`); else cut in the middle."""
    if len(label) <= width:
        return label
    units = _units(label)
    kept: list[str] = units[:2]
    for unit in units[2:]:
        if unit in shared:
            if kept[-1] != "...":
                kept.append("...")
        else:
            kept.append(unit)
    short = " ".join(kept)
    if len(short) <= width:
        return short
    head = (width - 3) // 2
    return short[:head] + "..." + short[len(short) - (width - 3 - head) :]


def _node_line(node: DagNode, console: Console, label_width: int, shared: set[str]) -> str:
    job = node.job
    label = _label(node)
    if job.kind == "cell":  # source code: its beginning says most
        label = label if len(label) <= label_width else label[: label_width - 1] + "…"
    else:
        label = fit_label(label, label_width, shared)
    metrics = f"in:{len(job.inputs)} out:{len(job.outputs)} cons:{node.consumed}"
    if job.deleted:
        metrics += f" del:{len(job.deleted)}"
    deps = (
        f"  ← {', '.join(_dependency(node, d) for d in node.dependencies)}"
        if node.dependencies
        else ""
    )
    marker = " [superseded]" if node.state == "superseded" else ""
    if node.stale:
        marker += " *"
    if node.modified_inputs:
        names = ", ".join(quote_path(os.path.basename(p)) for p in node.modified_inputs[:3])
        more = f" +{len(node.modified_inputs) - 3}" if len(node.modified_inputs) > 3 else ""
        marker += f" ({names}{more} modified on disk)"
    failed = console.style(f" ({exit_text(job.exit_code)})", "red") if job.exit_code != 0 else ""
    color = ("yellow",) if node.stale else {"superseded": ("dim",)}.get(node.state, ("bold",))
    ref = console.style(f"{job.ref:<5}", *color)
    return f"{ref} {label:<{label_width}}  {console.style(metrics, 'dim')}{deps}{marker}{failed}"


def _dependency(node: DagNode, step: int) -> str:
    """``@1``, or ``@1 (rows, df)`` when the edge comes from variables a cell read."""
    names = node.variable_dependencies.get(step)
    return f"@{step} ({', '.join(names)})" if names else f"@{step}"


def _legend(dag: Dag, shown_tags: list[str]) -> str:
    parts = []
    if any(n.stale for n in dag.nodes):
        parts.append(
            "* = stale: an input changed since the step ran (a newer output replaced it, or it "
            "was modified on disk); rerun it"
        )
    if any(n.job.kind == "build" for n in dag.nodes):
        parts.append("B = build step")
    if any(n.state == "superseded" for n in dag.nodes):
        parts.append(
            "[superseded] step = a previous run, or one that read what a later run replaced"
        )
    if any(n.job.deleted for n in dag.nodes):
        parts.append("──x = a file the step deleted")
    parts += artifact_legend(shown_tags)
    return "Legend: " + "\n        ".join(parts) if parts else ""
