"""A tracked file edited outside roar in the DAG viewer (issue 14.7): a real two-step pipeline
recorded with ``roar run``, its first input edited by hand, the payload built as the widget
builds it (``roar.query.graph.load_graph``), drawn by the standalone bundle in headless Chromium. The
edited file is drawn as modified on disk (its own fill, a bold line and a word), the legend
says what that means, the details panel says so, and the steps downstream are drawn stale."""

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
def edited_payload(repo: Path, run_roar, copy_step) -> dict:
    """in.txt → @1 → a.txt → @2 → b.txt, recorded; then in.txt edited by hand."""
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "in.txt").write_text("source\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    (repo / "in.txt").write_text("source, edited by hand\n")
    return graph.load_graph(repo)  # what DagWidget.refresh() sends to the front end


@pytest.fixture
def page(tmp_path: Path, edited_payload: dict):
    with viewer_page(tmp_path / "site", edited_payload) as page:
        yield page


def shape_html(page, node_id: str) -> str:
    """The outline Graphviz drew for a node (a note: its first polygon or path)."""
    g = page.locator(f"svg.roar-dag g.node[data-id='{node_id}']")
    return g.locator("path, polygon").first.evaluate("e => e.outerHTML")


def test_a_file_edited_outside_roar_is_drawn_modified_and_its_readers_stale(edited_payload, page):
    nodes = edited_payload["nodes"]
    edited = next(n for n in nodes if n["type"] == "artifact" and n["label"] == "in.txt")
    a_txt = next(n for n in nodes if n["type"] == "artifact" and n["label"] == "a.txt")
    jobs = {n["step_ref"]: n for n in nodes if n["type"] == "job"}
    assert edited["disk_state"] == "modified on disk"  # the payload the CLI side builds
    assert {ref: j["state"] for ref, j in jobs.items()} == {"@1": "stale", "@2": "stale"}

    # The node: a class, a word in its label, and its own fill and line (not a colour alone).
    g = page.locator(f"svg.roar-dag g.node[data-id='{edited['id']}']")
    assert "modified" in g.get_attribute("class").split()
    assert "[modified on disk]" in g.text_content()
    drawn = shape_html(page, edited["id"])
    fill = drawn.split('fill="')[1].split('"')[0]
    width = (
        float(drawn.split('stroke-width="')[1].split('"')[0]) if "stroke-width" in drawn else 1.0
    )
    # Not the fill of a current, stale or superseded file (a.txt is stale: dashed, amber).
    others = {
        "#ecfdf5",
        "#fef3c7",
        "#f3f4f6",
        shape_html(page, a_txt["id"]).split('fill="')[1].split('"')[0],
    }
    assert fill not in others and width > 1 and "dasharray" not in drawn, drawn
    a_class = page.locator(f"svg.roar-dag g.node[data-id='{a_txt['id']}']").get_attribute("class")
    assert "modified" not in a_class.split()

    # The steps downstream of it are drawn stale (dashed, with the word).
    for job in jobs.values():
        jg = page.locator(f"svg.roar-dag g.node[data-id='{job['id']}']")
        assert "stale" in jg.get_attribute("class").split() and "[stale]" in jg.text_content()
        assert "dasharray" in shape_html(page, job["id"])

    # The legend explains it.
    legend = page.locator(".roar-dag-legend-modified")
    assert legend.count() == 1
    text = legend.inner_text()
    assert "modified on disk" in text and "changed since roar recorded it" in text
    assert "stale" in text

    # The details panel says it, and a stale reader names the input that changed.
    g.click()
    details = page.locator(".roar-dag-details")
    assert "modified on disk" in details.inner_text()
    assert "changed since roar recorded it" in details.inner_text()
    page.locator(f"svg.roar-dag g.node[data-id='{jobs['@1']['id']}']").click()
    assert "(modified on disk)" in details.locator("a", has_text="in.txt").inner_text()

    assert "1 modified on disk" in page.locator(".roar-dag-status").inner_text()
    assert page.problems == []
