"""DagWidget and `%roar dag` in a real IPython kernel (nbclient, no browser): the widget model
the kernel publishes, refresh(), the selection trait, and the text fallback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_ext import STATIC
from tests.widget.browser import bundle_missing, skip_unless_ready
from tests.widget.synthetic import SyntheticStore, digest

pytestmark = skip_unless_ready(bundle_missing())

VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"


@pytest.fixture
def project(tmp_path: Path) -> SyntheticStore:
    store = SyntheticStore(tmp_path / "project")
    store.write("raw.txt", "raw\n")
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A1"})
    store.job("python step.py a.txt b.txt", ["a.txt"], {"b.txt": "B1"})
    yield store
    store.close()


def execute(root: Path, *cells: str | Callable[[], None]) -> nbformat.NotebookNode:
    """Run the cells in one kernel; a callable runs in the test between two cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", store_widget_state=True,
        resources={"metadata": {"path": str(root)}},
    )  # fmt: skip
    with client.setup_kernel():
        for cell in cells:
            if callable(cell):
                cell()
                continue
            nb.cells.append(nbformat.v4.new_code_cell(cell))
            client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        client.set_widgets_metadata()
    return nb


def widget_state(nb: nbformat.NotebookNode, cell: int) -> dict:
    data = next(o["data"] for o in nb.cells[cell].outputs if VIEW_MIME in o.get("data", {}))
    model_id = data[VIEW_MIME]["model_id"]
    return nb.metadata["widgets"][STATE_MIME]["state"][model_id]["state"]


def text(nb: nbformat.NotebookNode, cell: int) -> str:
    return "".join(o.get("text", "") for o in nb.cells[cell].outputs)


def test_roar_dag_magic_shows_the_widget_with_the_sessions_graph(project):
    nb = execute(
        project.root,
        "%load_ext roar_kernel",
        "%roar dag",
        "w = _\nw.selected = w.graph['nodes'][0]['id']\nprint(w.selected_node['label'])",
        "%roar dag --artifact a.txt",
        "%roar dag --json",
    )
    state = widget_state(nb, 1)
    labels = sorted(n["label"] for n in state["graph"]["nodes"])
    assert labels == sorted(
        ["raw.txt", "a.txt", "b.txt", "@1 python step.py raw.txt a.txt",
         "@2 python step.py a.txt b.txt"]
    )  # fmt: skip
    assert len(state["graph"]["edges"]) == 4 and state["error"] == ""
    assert state["_esm"] == (STATIC / "widget.js").read_text()  # the built bundle, inline
    assert state["_css"] == (STATIC / "dag_view.css").read_text()
    assert state["selected"] == state["graph"]["nodes"][0]["id"]  # synced kernel → front end
    assert text(nb, 2).strip() == "@1 python step.py raw.txt a.txt"
    lineage = widget_state(nb, 3)["graph"]
    assert lineage["scope"]["kind"] == "lineage" and lineage["counts"]["jobs"] == 1
    assert json.loads(text(nb, 4))["total_steps"] == 2  # other flags: the CLI's output


def test_refresh_picks_up_new_jobs_and_errors_are_shown_not_raised(project, tmp_path):
    nb = execute(
        project.root,
        "import jupyter_ext\nw = jupyter_ext.show()\nw",
        "print(w.graph['counts']['jobs'])",
        lambda: project.job("python step.py b.txt c.txt", ["b.txt"], {"c.txt": "C1"}),
        "w.refresh()\nprint(w.graph['counts']['jobs'], repr(w.error))",
        f"lost = jupyter_ext.show(path={str(tmp_path)!r})\nprint(repr(lost.error))",
    )
    assert text(nb, 1).strip() == "2"
    assert text(nb, 2).strip() == "3 ''"
    assert "roar is not initialized" in text(nb, 3)
    # The front end's copy of the model has the new job too.
    assert digest("C1") in {n.get("hash") for n in widget_state(nb, 0)["graph"]["nodes"]}
