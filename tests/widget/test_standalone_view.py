"""The standalone renderer (``static/dag_view.js``, what the VS Code webview loads) in headless
Chromium: drawing, marks, selection, search, focus and collapsing, under a webview-like CSP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roar.query import graph
from tests.widget.browser import (
    ARGS,
    chromium_path,
    missing_prerequisite,
    skip_unless_ready,
    standalone_page,
)
from tests.widget.synthetic import SyntheticStore, digest, sweep

pytestmark = skip_unless_ready(missing_prerequisite())

# What a VS Code webview allows: its own files, WebAssembly compiled from them, nothing else.
WEBVIEW_CSP = (
    "default-src 'none'; script-src file: 'wasm-unsafe-eval'; style-src file:; img-src file: data:"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_view(browser, tmp_path: Path):
    pages = []

    def open_(payload: dict, options: str = "{}", csp: str | None = WEBVIEW_CSP):
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        pages.append(page)
        page.problems = []  # CSP violations, script errors, anything fetched from a network
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("request", lambda r: r.url.startswith("file:") or page.problems.append(r.url))
        page.goto(standalone_page(tmp_path, payload, options, csp).as_uri())
        page.wait_for_function("window.stats || window.failure")
        assert page.evaluate("window.failure") is None
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def chain_payload(tmp_path: Path) -> dict:
    """raw → @1 → a → @2 → b → @3 → c, then @1 rerun (so @2, @3 stale), b deleted, @4 fails."""
    store = SyntheticStore(tmp_path / "project")
    store.write("raw.txt", "raw\n")
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A1"})
    store.job("python step.py a.txt b.txt", ["a.txt"], {"b.txt": "B1"})
    store.job("python step.py b.txt c.txt", ["b.txt"], {"c.txt": "C1"})
    store.job("python step.py raw.txt a.txt", ["raw.txt"], {"a.txt": "A2"})
    store.job("python broken.py c.txt", ["c.txt"], {"log.txt": "L"}, exit_code=2)
    store.close()
    os.remove(tmp_path / "project" / "b.txt")
    return graph.load_graph(tmp_path / "project")


def node(page, node_id: str):
    return page.locator(f"svg.roar-dag g.node[data-id='{node_id}']")


def test_draws_every_node_with_its_marks_under_a_webview_policy(open_view, chain_payload):
    page = open_view(chain_payload)
    ids = page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.dataset.id)")
    assert sorted(ids) == sorted(n["id"] for n in chain_payload["nodes"])
    assert page.locator("svg.roar-dag g.edge").count() == len(chain_payload["edges"])
    b_txt = node(page, f"artifact-{digest('B1')}")
    assert {"artifact", "stale", "missing"} <= set(b_txt.get_attribute("class").split())
    assert "[stale, missing]" in b_txt.text_content()  # a word, not colour alone
    assert "dasharray" in b_txt.locator("path, polygon").first.evaluate("e => e.outerHTML")
    broken = next(n for n in chain_payload["nodes"] if n.get("exit_code") == 2)
    assert "failed" in node(page, broken["id"]).get_attribute("class")
    assert "[stale, exit 2]" in node(page, broken["id"]).text_content()
    assert page.problems == []  # no CSP violation, no error, nothing fetched


def test_click_selects_highlights_lineage_and_shows_details(open_view, chain_payload):
    page = open_view(chain_payload)
    step2 = next(n for n in chain_payload["nodes"] if n.get("step_ref") == "@2")
    node(page, step2["id"]).click()
    assert page.evaluate("window.selections") == [step2["id"]]
    assert "selected" in node(page, step2["id"]).get_attribute("class")
    old_a = f"artifact-{digest('A1')}"
    assert "upstream" in node(page, old_a).get_attribute("class")
    assert "downstream" in node(page, f"artifact-{digest('C1')}").get_attribute("class")
    details = page.locator(".roar-dag-details")
    assert "python step.py a.txt b.txt" in details.inner_text()
    assert step2["job_uid"] in details.inner_text() and "c0ffeec0ffee" in details.inner_text()
    # Clicking an input in the details panel selects it; its full hash is shown.
    details.locator(f"a[data-id='{old_a}']").click()
    assert page.evaluate("window.selections")[-1] == old_a
    assert digest("A1") in details.inner_text()


def test_search_by_name_and_hash_prefix_then_focus(open_view, chain_payload):
    page = open_view(chain_payload)
    search = page.locator(".roar-dag-search")
    search.fill("c.txt")
    c_txt = f"artifact-{digest('C1')}"
    found = page.eval_on_selector_all("g.node.match", "gs => gs.map(g => g.dataset.id)")
    commands = [n["id"] for n in chain_payload["nodes"] if "c.txt" in n.get("command", "")]
    assert sorted(found) == sorted([c_txt, *commands]) and len(commands) == 2  # name or command
    assert page.locator(".roar-dag-matches").inner_text() == "3 matches"
    search.fill(digest("B1")[:10])
    assert page.locator("g.node.match").count() == 1
    search.press("Enter")  # jump to (select) the match
    assert page.evaluate("window.selections")[-1] == f"artifact-{digest('B1')}"
    page.locator(".roar-dag-focus").click()
    page.wait_for_function("document.querySelectorAll('svg.roar-dag g.node').length < 9")
    shown = page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.dataset.id)")
    assert len(shown) == 5  # b.txt, @2, @3 (one hop), a.txt (old), c.txt (two hops)
    page.locator(".roar-dag-all").click()
    page.wait_for_function(
        f"document.querySelectorAll('svg.roar-dag g.node').length == {len(chain_payload['nodes'])}"
    )


def test_a_sweep_collapses_into_groups_and_a_member_can_be_focused(open_view, tmp_path):
    store = SyntheticStore(tmp_path / "sweep")
    sweep(store, 402)  # prepare, 200 train/evaluate pairs, report: 805 nodes
    store.close()
    payload = graph.load_graph(tmp_path / "sweep")
    page = open_view(payload)  # "auto": past 150 nodes, collapsed
    labels = page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.textContent)")
    assert (
        len(labels) == 9
    )  # raw, prepare, data, train×, models×, evaluate×, metrics×, report, html
    assert any("python train.py --seed # ×200" in text for text in labels)
    group = page.locator("svg.roar-dag g.node.group", has_text="train.py")
    group.click()
    assert page.evaluate("window.selections")[-1].startswith("group-")
    member = page.locator(".roar-dag-details a", has_text="--seed 7").first
    member.click()  # focus on that one run's neighbourhood
    page.wait_for_function("document.querySelectorAll('svg.roar-dag g.node').length < 9")
    texts = page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.textContent)")
    assert any("--seed 7" in t for t in texts) and not any("×" in t for t in texts)
    assert page.problems == []
