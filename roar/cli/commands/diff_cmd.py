"""roar diff A B [--json] [--format dag [-o FILE]] [--exit-code]

A and B: an artifact (path or hash prefix), a job (@N, @BN, uid) or a session
(session:current, session:PREFIX). The comparison is ``roar.query.diff``; this only renders it.
"""

from __future__ import annotations

import argparse
import os
import sys

from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.console import Console, display_path
from roar.errors import RoarError
from roar.query.diff import FileChange, LineageDiff, diff_refs
from roar.query.diff_causes import param_value
from roar.query.diff_sides import Side

HELP = "Compare the lineage of two artifacts, jobs or sessions: what changed, likeliest first"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help=HELP, description=HELP + ".")
    p.add_argument(
        "a", help="artifact (path, hash prefix), job (@N, @BN, uid) or session:current|PREFIX"
    )
    p.add_argument("b", help="the same kinds as A")
    add_json_flag(p)
    p.add_argument(
        "--format",
        choices=["text", "dag"],
        default="text",
        help="dag: both lineages as Graphviz DOT, the differing nodes marked",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="with --format dag: write FILE (SVG or PNG when it ends in .svg/.png, else DOT)",
    )
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when the lineages differ (0 when identical), as git diff --exit-code",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.output and args.format != "dag":
        raise RoarError(
            "-o applies to --format dag.", hint="roar diff A B --format dag -o diff.svg"
        )
    if args.json and args.format == "dag":
        raise RoarError("--json and --format dag are two outputs: choose one.")
    with open_reader() as (ws, r):
        d = diff_refs(r, ws, args.a, args.b)
    code = 1 if args.exit_code and not d.identical else 0
    if args.format == "dag":
        _emit_dag(d, args.output)
    elif args.json:
        from roar.query.diff_json import diff_json

        console.json(diff_json(d, ws.root))
    else:
        render_text(d, console)
    return code


def _emit_dag(d: LineageDiff, output: str | None) -> None:
    from roar.query import diff_dag

    ext = os.path.splitext(output or "")[1].lower().lstrip(".")
    data = diff_dag.render(d, ext if ext in ("svg", "png") else "dot")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise RoarError(f"Cannot write {output}: {exc.strerror}.") from None


# Text ------------------------------------------------------------------------------------------
def render_text(d: LineageDiff, console: Console) -> None:
    console.out(f"A: {_side(d.a)}")
    console.out(f"B: {_side(d.b)}")
    console.out()
    if d.identical:
        console.out(f"The two lineages are identical ({_count(len(d.pairs))} compared).")
        return
    if d.causes:
        console.out(console.style(f"Most likely cause: {d.causes[0].summary}", "bold"))
    else:
        console.out("No recorded difference explains it (see the outputs below).")
    _section(console, "Inputs (source data)", [_file(f) for f in d.inputs])
    _section(
        console,
        "Parameters",
        [
            f"{_steps(p.step_a, p.step_b):<8} {p.param.name}: {param_value(p.param.a, p.param.change == 'added')}"
            f" → {param_value(p.param.b, p.param.change == 'removed')}"
            for p in d.parameters
        ],
    )
    _section(console, "Code", [_code(c) for c in d.code])
    _section(
        console,
        "Environment variables (names only; values stay masked)",
        [f"{e.name} {e.change} ({_step_list(e.steps)})" for e in d.environment],
    )
    _section(
        console,
        "Packages",
        [f"{p.name}: {p.a or '(none)'} → {p.b or '(none)'}  ({p.change})" for p in d.packages],
    )
    _section(console, "Host", [f"{h.name}: {_v(h.a)} → {_v(h.b)}" for h in d.host])
    _section(console, "Tracer", [f"{t.a} → {t.b} ({_step_list(t.steps)})" for t in d.tracer])
    _section(
        console,
        "Structure",
        [f"only in A: {j.ref} [{j.uid}] {j.command}" for j in d.only_a]
        + [f"only in B: {j.ref} [{j.uid}] {j.command}" for j in d.only_b],
    )
    outputs = []
    if d.first_divergence is not None:
        p = d.first_divergence
        outputs.append(f"first diverging step: {_steps(p.a.ref, p.b.ref)} ({p.a.command})")
    outputs += [
        f"non-deterministic: {_steps(p.a.ref, p.b.ref)} made other bytes from the same "
        "recorded recipe"
        for p in d.nondeterministic
    ]
    target = (
        (d.target.a.digest, d.target.b.digest) if d.target and d.target.a and d.target.b else None
    )
    outputs += [_file(f) for f in ([d.target] if d.target else [])]
    outputs += [
        _file(f) for f in d.outputs if not (f.a and f.b and (f.a.digest, f.b.digest) == target)
    ]
    _section(console, "Outputs (consequences)", outputs)
    for m in d.metrics:
        _metrics(console, m)


def _side(s: Side) -> str:
    if s.kind == "session" and s.session is not None:
        return f"session {s.session.uid[:12]} ({_count(len(s.jobs))})"
    if s.kind == "job" and s.anchor is not None:
        return f"job {s.anchor.ref} [{s.anchor.uid}] {s.anchor.command} ({_count(len(s.jobs))} in its lineage)"
    target = s.target
    made = (
        f"made by {s.anchor.ref} [{s.anchor.uid}]"
        if s.anchor
        else "a source file: no recorded job made it"
    )
    name = display_path(target.path) if target else s.ref
    lineage = f"{_count(len(s.jobs))} in its lineage"
    return f"{name} {target.digest[:12] if target else ''} ({made}; {lineage})"


def _count(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _section(console: Console, title: str, lines: list[str]) -> None:
    if not lines:
        return
    console.out()
    console.out(console.style(f"{title}:", "bold"))
    for line in lines:
        console.out(f"  {line}")


def _file(f: FileChange) -> str:
    steps = _steps(f.step_a or "-", f.step_b or "-")
    steps = "" if steps == "-" else f"  ({steps})"
    if f.a is None:
        assert f.b is not None
        return f"{display_path(f.b.path)}  only in B{steps}"
    if f.b is None:
        return f"{display_path(f.a.path)}  only in A{steps}"
    name = display_path(f.a.path)
    if f.a.path != f.b.path:
        name += f" → {display_path(f.b.path)}"
    inside = "".join(f"\n      {rel}  {change}" for rel, change in f.members)
    return f"{name}  {f.a.digest[:12]} → {f.b.digest[:12]}{steps}{inside}"


def _code(c) -> str:  # type: ignore[no-untyped-def]
    from roar.query.diff_causes import code_summary

    text = code_summary(c).removeprefix("code: ")
    if c.files:
        text += "\n    " + "\n    ".join(c.files[:20])
        if len(c.files) > 20:
            text += f"\n    … and {len(c.files) - 20} more"
    return text


def _metrics(console: Console, m) -> None:  # type: ignore[no-untyped-def]
    console.out()
    name = display_path(m.path_a)
    if m.path_b != m.path_a:
        name += f" → {display_path(m.path_b)}"
    console.out(console.style(f"Metrics: {name}", "bold"))
    for side in m.unavailable:
        console.out(f"  ({side.upper()}'s version is no longer on disk: not compared)")
    if not m.changes and not m.unavailable:
        console.out("  no value changed (only the formatting)")
    if not m.changes:
        return
    width = max(3, *(len(c.key) for c in m.changes))
    col_a = max(1, *(len(_v(c.a)) for c in m.changes))
    col_b = max(1, *(len(_v(c.b)) for c in m.changes))
    console.out(f"  {'key':<{width}}  {'A':<{col_a}}  {'B':<{col_b}}  change")
    for c in m.changes:
        delta = "" if c.delta is None else f"{c.delta:+g}"
        console.out(f"  {c.key:<{width}}  {_v(c.a):<{col_a}}  {_v(c.b):<{col_b}}  {delta}".rstrip())


def _steps(a: str, b: str) -> str:
    return a if a == b else f"{a}/{b}"


def _step_list(steps: list[tuple[str, str]]) -> str:
    return ", ".join(_steps(a, b) for a, b in steps)


def _v(v: object) -> str:
    return "(none)" if v is None else str(v)
