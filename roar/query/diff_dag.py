"""``roar diff --format dag``: both lineages drawn side by side, the differing nodes marked.

Each side is a cluster of the usual drawing (``graphviz_export``: jobs are boxes, artifacts are
notes). A step whose recipe or outputs differ, a step present on one side only and a file whose
bytes differ are drawn with a thick red border and words in the label (``[differs: --lr]``,
``[only in A]``), and carry the DOT/SVG class ``differs`` (or ``only-in-a``/``only-in-b``), so a
script or a style sheet can find them.
"""

from __future__ import annotations

from typing import Any

from roar.errors import RoarError
from roar.query import graphviz_export
from roar.query.diff import LineageDiff, PairDiff
from roar.query.diff_sides import Side
from roar.query.graph import artifact_node, job_node
from roar.store.views import FileView

FORMATS = ("dot", "svg", "png")
_MARK = {"color": "#dc2626", "penwidth": "2.5"}


def marked(d: LineageDiff) -> tuple[dict[str, str], dict[str, str]]:
    """(job uid → mark, digest → mark) for side A and B together: what the drawing marks."""
    jobs: dict[str, str] = {}
    files: dict[str, str] = {}
    for p in d.pairs:
        if p.outputs or not p.same_recipe or p.params or p.host:
            jobs[p.a.uid] = jobs[p.b.uid] = _why(p)
    for j in d.only_a:
        jobs[j.uid] = "only in A"
    for j in d.only_b:
        jobs[j.uid] = "only in B"
    for f in [*d.inputs, *d.outputs, *([d.target] if d.target else [])]:
        for side in (f.a, f.b):
            if side is not None:
                files[side.digest] = "differs"
    return jobs, files


def _why(p: PairDiff) -> str:
    """``differs: --lr, code``: what differs about a pair of steps, in a few words."""
    reasons = [c.name for c in p.params[:2]] + (["…"] if len(p.params) > 2 else [])
    reasons += [word for word, differs in (
        ("inputs", p.read_other_bytes), ("code", p.code), ("environment", bool(p.env)),
        ("packages", p.packages), ("tracer", p.a.tracer != p.b.tracer), ("host", bool(p.host)),
    ) if differs]  # fmt: skip
    if not reasons and p.outputs:
        reasons.append("outputs")
    return "differs: " + ", ".join(reasons) if reasons else "differs"


def to_digraph(d: LineageDiff) -> Any:
    gv = graphviz_export._graphviz_module()
    jobs, files = marked(d)
    dot = gv.Digraph("roar_diff", comment="roar diff")
    dot.attr(rankdir="LR", fontname="Helvetica", labelloc="t",
             label=f"roar diff: {d.a.ref} vs {d.b.ref}")  # fmt: skip
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", color="#6b7280", arrowsize="0.7")
    for name, side in (("b", d.b), ("a", d.a)):  # dot stacks the later cluster on top
        with dot.subgraph(name=f"cluster_{name}") as sub:
            sub.attr(label=f"{name.upper()}: {side.ref}", style="rounded", color="#9ca3af")
            _draw_side(sub, name, side, jobs, files)
    return dot


def _draw_side(g: Any, name: str, side: Side, jobs: dict[str, str], files: dict[str, str]) -> None:
    drawn: set[str] = set()

    def artifact(f: FileView) -> str:
        node_id = f"{name}-artifact-{f.digest}"
        if node_id not in drawn:
            drawn.add(node_id)
            g.node(node_id, **_attrs(artifact_node(f, "active"), files.get(f.digest)))
        return node_id

    for job in side.jobs:
        job_id = f"{name}-job-{job.uid}"
        g.node(job_id, **_attrs(job_node(job, "active"), jobs.get(job.uid)))
        for f in job.inputs:
            g.edge(artifact(f), job_id)
        for f in job.outputs:
            g.edge(job_id, artifact(f))
    if side.target is not None:
        artifact(side.target)


def _attrs(node: dict[str, Any], mark: str | None) -> dict[str, str]:
    attrs = graphviz_export.node_attributes(node)
    if mark:
        attrs.update(_MARK)
        attrs["class"] = mark.split(":")[0].replace(" ", "-").lower()
        attrs["label"] += f"\\n[{mark}]"
    return attrs


def render(d: LineageDiff, fmt: str) -> bytes:
    """DOT source, or SVG/PNG rendered by Graphviz's ``dot``."""
    digraph = to_digraph(d)
    if fmt == "dot":
        return str(digraph.source).encode()
    gv = graphviz_export._graphviz_module()
    try:
        return bytes(digraph.pipe(format=fmt))
    except gv.ExecutableNotFound:
        raise RoarError(
            f"Rendering {fmt.upper()} needs Graphviz's 'dot' program, which is not installed.",
            hint="Install Graphviz (Debian/Ubuntu: apt-get install graphviz), or write DOT: "
            "roar diff A B --format dag -o diff.dot",
        ) from None
