"""The graph payload (``roar.query.graph``) for known stores: nodes, edges, states — no browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roar.query import graph
from roar.store import writer
from roar.store.queries import reader
from tests.widget.synthetic import SyntheticStore, digest, sweep


@pytest.fixture
def store(tmp_path: Path):
    s = SyntheticStore(tmp_path / "project")
    yield s
    s.close()


def load(store: SyntheticStore, **kwargs) -> dict:
    with reader(store.ws.db_path) as r:
        return graph.session_graph(r, **kwargs)


def by_label(payload: dict) -> dict[str, dict]:
    return {n["label"]: n for n in payload["nodes"]}


def edges(payload: dict) -> set[tuple[str, str, str]]:
    names = {n["id"]: n["label"] for n in payload["nodes"]}
    return {(names[e["source"]], names[e["target"]], e["kind"]) for e in payload["edges"]}


def chain(store: SyntheticStore) -> None:
    store.write("raw.txt", "raw\n")
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A1"})
    store.job("python step.py a.txt b.txt", ["a.txt"], {"b.txt": "B1"})
    store.job("python step.py b.txt c.txt", ["b.txt"], {"c.txt": "C1"})


def test_chain_nodes_and_edges_run_input_job_output(store):
    chain(store)
    payload = load(store)
    assert payload["version"] == graph.GRAPH_VERSION and payload["scope"]["kind"] == "session"
    assert payload["counts"] == {
        "jobs": 3, "artifacts": 4, "stale": 0, "failed": 0, "missing": 0, "modified": 0,
    }  # fmt: skip
    assert edges(payload) == {
        ("raw.txt", "@1 python step.py raw.txt a.txt", "input"),
        ("@1 python step.py raw.txt a.txt", "a.txt", "output"),
        ("a.txt", "@2 python step.py a.txt b.txt", "input"),
        ("@2 python step.py a.txt b.txt", "b.txt", "output"),
        ("b.txt", "@3 python step.py b.txt c.txt", "input"),
        ("@3 python step.py b.txt c.txt", "c.txt", "output"),
    }
    a = by_label(payload)["a.txt"]
    assert a["id"] == f"artifact-{digest('A1')}" and a["short_hash"] == digest("A1")[:8]
    assert a["path"] == str(store.root / "a.txt") and a["size"] == 2
    job = by_label(payload)["@2 python step.py a.txt b.txt"]
    assert job["type"] == "job" and job["id"] == f"job-{job['job_uid']}"
    assert job["step_ref"] == "@2" and job["exit_code"] == 0 and job["git_commit"].endswith("abcd")


def test_rerun_with_new_bytes_marks_downstream_stale_and_keeps_the_old_output_linked(store):
    chain(store)
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A2"})  # rerun of @1
    payload = load(store)
    nodes = by_label(payload)
    # The step is one node carrying its run count; @2 and @3 consumed the old a.txt.
    rerun = nodes["@1 python step.py raw.txt a.txt (2 runs)"]
    assert rerun["state"] == "active" and rerun["runs"] == 2
    assert nodes["@2 python step.py a.txt b.txt"]["state"] == "stale"
    assert nodes["@3 python step.py b.txt c.txt"]["state"] == "stale"
    old_a = next(n for n in payload["nodes"] if n.get("hash") == digest("A1"))
    assert old_a["state"] == "superseded" and old_a["superseded_by"] == digest("A2")
    assert nodes["c.txt"]["state"] == "stale"
    previous = [e for e in payload["edges"] if e.get("previous_run")]
    assert [(e["source"], e["target"]) for e in previous] == [(rerun["id"], old_a["id"])]
    assert payload["counts"]["stale"] == 4  # two steps, b.txt and c.txt


def test_expanded_shows_every_run_and_superseded_ones(store):
    chain(store)
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A2"})
    payload = load(store, expanded=True)
    runs = [n for n in payload["nodes"] if n["type"] == "job" and n["step_number"] == 1]
    assert sorted(n["state"] for n in runs) == ["active", "superseded"]
    assert all(n["runs"] == 1 for n in runs)


def test_missing_and_failed_are_marked(store):
    chain(store)
    store.job("python fail.py c.txt", ["c.txt"], {"partial.txt": "p"}, exit_code=3)
    os.remove(store.root / "b.txt")
    payload = load(store)
    nodes = by_label(payload)
    assert nodes["b.txt"]["missing"] and not nodes["c.txt"]["missing"]
    failed = nodes["@4 python fail.py c.txt"]
    assert failed["failed"] and failed["exit_code"] == 3
    assert payload["counts"]["missing"] == 1 and payload["counts"]["failed"] == 1


def test_deleted_files_are_edges_to_the_job_that_removed_them(store):
    chain(store)
    store.write("notes.txt", "never recorded\n")
    store.job("sh -c rm", [], {}, deletes={"b.txt": "B1", "notes.txt": None})
    payload = load(store)
    nodes = by_label(payload)
    assert ("b.txt", "@4 sh -c rm", "deleted") in edges(payload)
    assert ("notes.txt", "@4 sh -c rm", "deleted") in edges(payload)
    unknown = nodes["notes.txt"]
    assert unknown["hash"] is None and unknown["short_hash"] is None and unknown["size"] is None
    assert unknown["id"].startswith("artifact-path-") and unknown["missing"]
    assert nodes["b.txt"]["id"] == f"artifact-{digest('B1')}" and nodes["b.txt"]["missing"]
    # the DOT export draws them: red, dashed, labelled; the unknown content says so
    from roar.query import graphviz_export

    dot = graphviz_export.to_dot(payload)
    assert dot.count("label=deleted") == 2 and "content unknown" in dot


def cells(store: SyntheticStore, notebook: str) -> list[writer.RecordedJob]:
    nb = str(store.root / notebook)
    common = {"kind": "cell", "notebook_path": nb}
    first = store.job(
        f"cell [1] {notebook}: rows = load()", ["raw.txt"], {},
        source="rows = load()\n", execution_count=1, cell_id="c1",
        variables=[writer.VariableUse("rows", "defined")], **common,
    )  # fmt: skip
    second = store.job(
        f"cell [2] {notebook}: save(rows)", [], {f"{notebook}.out": "saved"},
        source="save(rows)\n", execution_count=2, cell_id="c2",
        variables=[writer.VariableUse("rows", "read", first.id)], **common,
    )  # fmt: skip
    return [first, second]


def test_cells_are_job_nodes_linked_by_the_variables_they_share(store):
    store.write("raw.txt", "raw\n")
    first, second = cells(store, "analysis.ipynb")
    payload = load(store)
    variable = [e for e in payload["edges"] if e["kind"] == "variable"]
    assert variable == [
        {
            "source": f"job-{first.uid}",
            "target": f"job-{second.uid}",
            "kind": "variable",
            "names": ["rows"],
        }
    ]
    cell = next(n for n in payload["nodes"] if n["id"] == f"job-{first.uid}")
    assert cell["label"] == "@1 cell [1] rows = load()"
    assert cell["source"] == "rows = load()\n" and cell["cell_id"] == "c1"
    assert cell["notebook_path"] == str(store.root / "analysis.ipynb")


def test_notebook_scope_keeps_only_that_notebooks_cells(store):
    store.write("raw.txt", "raw\n")
    cells(store, "one.ipynb")
    store.job("python other.py", ["raw.txt"], {"other.txt": "o"})
    cells(store, "two.ipynb")
    with reader(store.ws.db_path) as r:
        payload = graph.notebook_graph(r, "two.ipynb")
    jobs = [n for n in payload["nodes"] if n["type"] == "job"]
    assert [n["notebook_path"] for n in jobs] == [str(store.root / "two.ipynb")] * 2
    assert {n["label"] for n in payload["nodes"] if n["type"] == "artifact"} == {
        "raw.txt",
        "two.ipynb.out",
    }
    assert payload["scope"] == {
        "kind": "notebook",
        "session_id": 1,
        "notebook_path": "two.ipynb",
    }


def test_lineage_scope_is_only_what_led_to_the_artifact(store):
    chain(store)
    store.job("python side.py raw.txt", ["raw.txt"], {"side.txt": "S"})
    with reader(store.ws.db_path) as r:
        payload = graph.lineage_graph(r, store.ws, str(store.root / "b.txt"))
    assert {n["label"] for n in payload["nodes"]} == {
        "raw.txt",
        "@1 python step.py raw.txt a.txt",
        "a.txt",
        "@2 python step.py a.txt b.txt",
        "b.txt",
    }
    assert payload["scope"]["target"]["hash"] == digest("B1")
    assert len(payload["edges"]) == 4


def test_a_sweep_has_one_node_per_job_and_per_file(store):
    sweep(store, 42)  # prepare, 20 train/evaluate pairs, report
    payload = load(store)
    assert payload["counts"]["jobs"] == 42
    assert payload["counts"]["artifacts"] == 2 + 20 + 20 + 1
    # data.csv feeds every train and every evaluate job.
    data = by_label(payload)["data.csv"]
    assert sum(e["source"] == data["id"] for e in payload["edges"]) == 40
