"""The lineage graph (``roar.query.graph``) as Graphviz DOT, SVG or PNG.

DOT is built with the ``graphviz`` Python package; SVG and PNG are rendered by Graphviz's
``dot`` program. Both are optional: a missing one is a ``RoarError`` naming what to install,
raised before anything is written. Jobs are boxes, artifacts are notes; states are marked by
line style and a word in the label, not by colour alone (colour-blind readers, printouts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roar.errors import RoarError
from roar.store.paths import quote_path

if TYPE_CHECKING:
    import graphviz

FORMATS = ("dot", "svg", "png")

_FONT = "Helvetica"
# state → (style additions, fill colour, word shown in the label)
_JOB_STATES = {
    "active": ("", "#dbeafe", ""),
    "stale": ("dashed", "#fef3c7", "stale"),
    "superseded": ("dotted", "#f3f4f6", "superseded"),
}
_ARTIFACT_STATES = {
    "active": ("", "#ecfdf5", ""),
    "stale": ("dashed", "#fef3c7", "stale"),
    "superseded": ("dotted", "#f3f4f6", "superseded"),
    "orphaned": ("", "#ecfdf5", ""),  # the newest version, read by no step: drawn as active
}


def _graphviz_module() -> Any:
    try:
        import graphviz
    except ImportError:
        raise RoarError(
            "Drawing the DAG needs the Python package 'graphviz', which is not installed.",
            hint="pip install graphviz (or: pip install 'roar[jupyter]')",
        ) from None
    return graphviz


def to_digraph(graph: dict[str, Any]) -> graphviz.Digraph:
    """A ``graphviz.Digraph`` of the graph payload: nodes keep their payload ids."""
    gv = _graphviz_module()
    dot = gv.Digraph("roar", comment=_title(graph))
    dot.attr(rankdir="LR", fontname=_FONT, label=_title(graph), labelloc="t")
    dot.attr("node", fontname=_FONT, fontsize="10")
    dot.attr("edge", color="#6b7280", arrowsize="0.7")
    for node in graph["nodes"]:
        dot.node(node["id"], **node_attributes(node))
    for edge in graph["edges"]:
        dot.edge(edge["source"], edge["target"], **edge_attributes(edge))
    return dot


def node_attributes(node: dict[str, Any]) -> dict[str, str]:
    lines = [node["label"] if node["type"] == "job" else quote_path(node["label"])]
    if node["type"] == "job":
        style, fill, word = _JOB_STATES.get(node["state"], _JOB_STATES["active"])
        attrs = {"shape": "box", "style": _style("rounded,filled", style), "fillcolor": fill}
        if node["failed"]:
            attrs.update(peripheries="2", color="#b91c1c")
            word = _join(
                word,
                "interrupted"
                if node["interrupted"]
                else (
                    "exit code unknown"
                    if node["exit_code"] is None
                    else f"exit {node['exit_code']}"
                ),
            )
    else:
        style, fill, word = _ARTIFACT_STATES.get(node["state"], _ARTIFACT_STATES["active"])
        lines.append(node["short_hash"] or "content unknown")
        attrs = {"shape": "note", "style": _style("filled", style), "fillcolor": fill}
        if node["missing"]:
            attrs.update(style=_style("filled", "dashed"), color="#b91c1c")
            word = _join(word, "missing")
    if word:
        lines.append(f"[{word}]")
    attrs["label"] = "\\n".join(_dot_text(line) for line in lines)  # \n: DOT's centred line break
    return attrs


def edge_attributes(edge: dict[str, Any]) -> dict[str, str]:
    if edge["kind"] == "variable":
        return {"style": "dashed", "label": ", ".join(edge.get("names", [])), "fontsize": "9"}
    if edge["kind"] == "deleted":
        red = "#b91c1c"
        return {"style": "dashed", "color": red, "fontcolor": red, "label": "deleted",
                "fontsize": "9", "arrowhead": "tee"}  # fmt: skip
    if edge.get("previous_run"):
        return {"style": "dotted", "label": "earlier run", "fontsize": "9"}
    return {}


def to_dot(graph: dict[str, Any]) -> str:
    return str(to_digraph(graph).source)


def render(graph: dict[str, Any], fmt: str) -> bytes:
    """DOT source, or SVG/PNG rendered by Graphviz's ``dot`` (in memory: nothing is written
    when ``dot`` is missing)."""
    digraph = to_digraph(graph)
    if fmt == "dot":
        return str(digraph.source).encode()
    gv = _graphviz_module()
    try:
        return bytes(digraph.pipe(format=fmt))
    except gv.ExecutableNotFound:
        raise RoarError(
            f"Rendering {fmt.upper()} needs Graphviz's 'dot' program, which is not installed.",
            hint="Install Graphviz (Debian/Ubuntu: apt-get install graphviz), "
            "or write DOT with --format dot.",
        ) from None


def _title(graph: dict[str, Any]) -> str:
    scope = graph["scope"]
    counts = graph["counts"]
    what = {
        "session": f"session {(scope.get('session_uid') or 'none yet')[:12]}",
        "notebook": f"notebook {scope.get('notebook_path', '')}",
        "lineage": f"lineage of {scope.get('target', {}).get('path', '')}",
    }.get(scope["kind"], scope["kind"])
    return f"roar: {what} ({counts['jobs']} jobs, {counts['artifacts']} artifacts)"


def _dot_text(text: str) -> str:
    """Keep a label literal: a backslash in a command is not a DOT escape sequence (and a byte
    of a path that is not UTF-8 is written \\xNN: DOT is UTF-8 text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\\", "\\\\")


def _style(base: str, extra: str) -> str:
    return f"{base},{extra}" if extra else base


def _join(a: str, b: str) -> str:
    return f"{a}, {b}" if a else b
