"""``DagWidget``: roar's lineage DAG in a notebook (JupyterLab, Notebook 7, VS Code).

Python builds the graph payload (``roar.query.graph``) from the project's store; the browser lays it
out with Graphviz compiled to WebAssembly, bundled in ``static/`` (no network). A click in the
browser sets ``selected``; the Refresh button (or ``refresh()``) reloads from the store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from roar.errors import RoarError
from roar.query import graph as graph_mod

STATIC = Path(__file__).with_name("static")
NOT_BUILT = """
export default { render({ el }) {
  el.textContent = "roar's DAG viewer is not built: run `make widget` " +
    "(npm ci && npm run build in jupyter_ext/js), then restart the kernel.";
} };
"""


def _static(name: str, fallback: str = "") -> str:
    """A built asset's text; a message module instead when the bundle was never built."""
    path = STATIC / name
    return path.read_text(encoding="utf-8") if path.is_file() else fallback


def empty_graph() -> dict[str, Any]:
    counts = {"jobs": 0, "artifacts": 0, "stale": 0, "failed": 0, "missing": 0}
    return {"version": graph_mod.GRAPH_VERSION, "scope": {"kind": "none"}, "counts": counts,
            "nodes": [], "edges": []}  # fmt: skip


class DagWidget(anywidget.AnyWidget):
    """The lineage graph of the active session, of one notebook's cells, or of one artifact.

    ``DagWidget()`` shows the session; ``notebook=True`` the notebook this kernel runs (or a
    path), ``artifact="model.pkl"`` (a path or hash prefix) what led to that file.
    """

    _esm = _static("widget.js", NOT_BUILT)
    _css = _static("dag_view.css")

    graph = traitlets.Dict().tag(sync=True)  # docs/json-contract.md, graph-json
    selected = traitlets.Unicode("").tag(sync=True)  # a node id from graph, a group id, or ""
    error = traitlets.Unicode("").tag(sync=True)  # why the graph could not be loaded, or ""

    def __init__(
        self,
        *,
        artifact: str | None = None,
        notebook: str | bool | None = None,
        expanded: bool = False,
        path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._artifact, self._notebook, self._expanded = artifact, _notebook(notebook), expanded
        self._start = path
        self.on_msg(self._on_message)
        if "graph" not in kwargs:
            self.refresh()

    def refresh(self) -> None:
        """Reload the graph from the store (after new runs or cells)."""
        try:
            self.graph = graph_mod.load_graph(
                self._start,
                artifact=self._artifact,
                notebook=self._notebook,
                expanded=self._expanded,
            )
            self.error = ""
        except RoarError as exc:
            self.error = exc.message + (f" ({exc.hint})" if exc.hint else "")
            if not self.graph:
                self.graph = empty_graph()

    @property
    def selected_node(self) -> dict[str, Any] | None:
        """The payload node that is selected (None for nothing or a collapsed group)."""
        return next((n for n in self.graph.get("nodes", []) if n["id"] == self.selected), None)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # Request/response: the browser sends {"type": "refresh", "id": n}; the answer is the
        # new graph trait, plus a reply naming the request and any error.
        if isinstance(content, dict) and content.get("type") == "refresh":
            self.refresh()
            self.send({"type": "refreshed", "id": content.get("id"), "error": self.error or None})


def _notebook(notebook: str | bool | None) -> str | None:
    """``True``: the notebook this kernel serves, as the roar kernel finds it."""
    if notebook is not True:
        return notebook or None
    from IPython import get_ipython

    from roar_kernel.session import notebook_path

    shell = get_ipython()
    found = notebook_path(shell, os.getcwd()) if shell is not None else None
    if not found:
        raise RoarError("This kernel does not know which notebook it runs; pass notebook='path'.")
    return found


def show(**kwargs: Any) -> DagWidget:
    """``jupyter_ext.show()`` — a new ``DagWidget`` (see its arguments); display it by leaving it
    as a cell's last expression."""
    return DagWidget(**kwargs)
