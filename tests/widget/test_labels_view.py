"""Labels in the DAG viewer's details panel (issue 16.4): a real two-step pipeline recorded with
``roar run``, a job and an artifact labelled with ``roar label set``, the payload built as the
widget builds it (``roar.query.graph.load_graph``) and drawn by the standalone bundle in
headless Chromium. Clicking a node lists its labels, one row per dotted key, typed values as
typed; a node with none shows no labels section."""

from __future__ import annotations

from pathlib import Path

import pytest

from roar.query import graph
from tests.conftest import commit_all
from tests.widget.browser import (
    missing_prerequisite,
    skip_unless_ready,
    viewer_page,
)

pytestmark = skip_unless_ready(missing_prerequisite())


@pytest.fixture
def labelled_payload(repo: Path, run_roar, copy_step) -> dict:
    """in.txt → @1 → a.txt → @2 → b.txt, recorded; @2 and b.txt labelled."""
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "in.txt").write_text("source\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("label", "set", "job", "@2", "phase=train", "lr=0.001", "shuffle=true", cwd=repo)
    run_roar("label", "set", "artifact", "b.txt", "model.name=resnet50", "stage=", cwd=repo)
    return graph.load_graph(repo)  # what DagWidget.refresh() sends to the front end


@pytest.fixture
def page(tmp_path: Path, labelled_payload: dict):
    with viewer_page(tmp_path / "site", labelled_payload) as page:
        yield page


def label_rows(page) -> list[tuple[str, str]]:
    """The details panel's labels section as (key, value) rows; [] when it has none."""
    section = page.locator(".roar-dag-details .roar-dag-labels")
    if section.count() == 0:
        return []
    keys = section.locator(".roar-dag-key").all_inner_texts()
    values = section.locator(".roar-dag-value").all_inner_texts()
    return list(zip(keys, values, strict=True))


def test_the_details_panel_lists_a_nodes_labels(labelled_payload, page):
    nodes = labelled_payload["nodes"]
    jobs = {n["step_ref"]: n for n in nodes if n["type"] == "job"}
    b_txt = next(n for n in nodes if n["type"] == "artifact" and n["label"] == "b.txt")
    a_txt = next(n for n in nodes if n["type"] == "artifact" and n["label"] == "a.txt")
    # The payload the CLI side builds carries the documents as the store holds them.
    assert jobs["@2"]["labels"] == {"phase": "train", "lr": 0.001, "shuffle": True}
    assert b_txt["labels"] == {"model": {"name": "resnet50"}, "stage": ""}
    assert jobs["@1"]["labels"] == {} and a_txt["labels"] == {}

    def click(node_id: str) -> None:
        page.locator(f"svg.roar-dag g.node[data-id='{node_id}']").click()

    click(jobs["@2"]["id"])
    details = page.locator(".roar-dag-details")
    assert "labels" in details.locator("h4").all_inner_texts()
    assert label_rows(page) == [("phase", "train"), ("lr", "0.001"), ("shuffle", "true")]

    click(b_txt["id"])
    assert label_rows(page) == [("model.name", "resnet50"), ("stage", '""')]

    click(jobs["@1"]["id"])  # no labels: no section
    assert label_rows(page) == []
    assert "labels" not in details.locator("h4").all_inner_texts()
    assert page.problems == []
