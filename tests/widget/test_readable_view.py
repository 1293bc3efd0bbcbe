"""The viewer as a new user first sees it, measured in headless Chromium: text drawn at a
readable size (fit never past 1:1 nor below the minimum, a direction suiting the pane's
shape), notebook cells that touch no file folded away, a details panel that breaks no word
and a search box whose placeholder is not clipped (issue 15, items 5 to 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from roar.query import graph
from tests.kernel.conftest import jupyter_path, notebook  # noqa: F401 (fixtures: a real kernel)
from tests.widget.browser import (
    ARGS,
    MAX_TEXT_PX,
    MIN_TEXT_PX,
    PX_PER_PT,
    TEXT_SIZES,
    chromium_path,
    missing_prerequisite,
    skip_unless_ready,
    standalone_page,
)
from tests.widget.synthetic import SyntheticStore

pytestmark = skip_unless_ready(missing_prerequisite())

WEBVIEW_CSP = (
    "default-src 'none'; script-src file: 'wasm-unsafe-eval'; style-src file:; img-src file: data:"
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NOTEBOOK_PANE = "#host { width: 650px }"  # about a notebook output's width

# Words (runs of non-space characters) of an element's text that are split across lines,
# skipping those longer than the element is wide (a hash may break, anywhere).
SPLIT_WORDS = """(root) => {
  const split = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const box = node.parentElement.getBoundingClientRect();
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0);
      const width = rects.reduce((w, r) => w + r.width, 0);
      const lines = new Set(rects.map((r) => Math.round(r.top)));
      if (lines.size > 1 && width < box.width - 2) split.push(m[0]);
    }
  }
  return split;
}"""


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

    def open_(payload: dict, options: dict | None = None, css: str = NOTEBOOK_PANE, **viewport):
        page = browser.new_page(viewport={"width": 1300, "height": 800, **viewport})
        pages.append(page)
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        directory = tmp_path / f"page{len(pages)}"
        directory.mkdir()
        path = standalone_page(directory, payload, json.dumps(options or {}), WEBVIEW_CSP, css)
        page.goto(path.as_uri())
        page.wait_for_function("window.stats || window.failure")
        assert page.evaluate("window.failure") is None
        return page

    yield open_
    for page in pages:
        page.close()


def chain(root: Path, steps: int) -> dict:
    """raw.txt → @1 → s1.txt → @2 → … → s{steps}.txt: 2 × steps + 1 nodes."""
    store = SyntheticStore(root)
    store.write("raw.txt", "raw\n")
    previous = "raw.txt"
    for i in range(1, steps + 1):
        out = f"s{i}.txt"
        store.job(f"python step.py {previous} {out}", [previous], {out: f"S{i}"})
        previous = out
    store.close()
    return graph.load_graph(root)


def spread(page) -> tuple[float, float]:
    """How far apart the nodes' centres are drawn: (horizontally, vertically)."""
    centres = page.eval_on_selector_all(
        "svg.roar-dag g.node",
        "gs => gs.map(g => { const r = g.getBoundingClientRect(); "
        "return [r.left + r.width / 2, r.top + r.height / 2]; })",
    )
    xs, ys = [c[0] for c in centres], [c[1] for c in centres]
    return max(xs) - min(xs), max(ys) - min(ys)


# 5. Readable at its default zoom ---------------------------------------------------------------
def test_a_seven_node_pipeline_in_a_650px_pane_is_drawn_at_a_readable_size(open_view, tmp_path):
    payload = chain(tmp_path / "chain", 3)  # raw, @1, s1, @2, s2, @3, s3
    assert len(payload["nodes"]) == 7
    page = open_view(payload)
    sizes = page.evaluate(TEXT_SIZES)
    assert len(sizes) >= 7
    assert min(s["px"] for s in sizes) >= MIN_TEXT_PX - 0.01, sizes
    assert min(s["height"] for s in sizes) >= MIN_TEXT_PX, sizes  # the glyphs' box, measured
    assert max(s["px"] for s in sizes) <= MAX_TEXT_PX + 0.01
    # In this squarish pane the chain runs top-down, so more of it is on screen at that size.
    assert page.get_attribute("svg.roar-dag", "data-direction") == "TB"
    assert any(s["inside"] for s in sizes if s["text"].startswith("raw.txt"))
    # Fit keeps that scale; what does not fit is reached by dragging.
    page.locator(".roar-dag-fit").click()
    assert min(s["px"] for s in page.evaluate(TEXT_SIZES)) >= MIN_TEXT_PX - 0.01
    before = page.get_attribute("svg.roar-dag", "viewBox")
    canvas = page.locator(".roar-dag-canvas").bounding_box()
    page.mouse.move(canvas["x"] + 30, canvas["y"] + canvas["height"] - 30)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 30, canvas["y"] + 40, steps=5)
    page.mouse.up()
    assert page.get_attribute("svg.roar-dag", "viewBox") != before
    assert page.problems == []


def test_a_three_node_graph_is_not_scaled_past_1_to_1(open_view, tmp_path):
    payload = chain(tmp_path / "small", 1)  # raw.txt → @1 → s1.txt
    assert len(payload["nodes"]) == 3
    page = open_view(payload, css="#host { width: 1300px } .roar-dag-view { height: 700px }")
    sizes = page.evaluate(TEXT_SIZES)
    assert max(s["px"] for s in sizes) <= MAX_TEXT_PX + 0.01, sizes
    assert max(s["height"] for s in sizes) < 18, sizes  # not heading-sized
    assert all(s["inside"] for s in sizes)  # and all of it is shown
    drawn = page.evaluate(
        "() => { const s = document.querySelector('svg.roar-dag');"
        " return [s.querySelector('g.graph').getBoundingClientRect().width,"
        " parseFloat(s.dataset.naturalWidth)]; }"
    )
    assert drawn[0] <= drawn[1] * PX_PER_PT + 1  # no wider than the drawing's own size
    page.locator(".roar-dag-fit").click()
    assert max(s["px"] for s in page.evaluate(TEXT_SIZES)) <= MAX_TEXT_PX + 0.01


def test_the_direction_suits_the_panes_shape(open_view, tmp_path):
    payload = chain(tmp_path / "chain", 3)
    wide = open_view(payload, css="#host { width: 1300px } .roar-dag-view { height: 360px }")
    assert wide.get_attribute("svg.roar-dag", "data-direction") == "LR"
    across, down = spread(wide)
    assert across > 3 * down
    tall = open_view(
        payload, css="#host { width: 650px } .roar-dag-view { height: 900px }", height=1000
    )
    assert tall.get_attribute("svg.roar-dag", "data-direction") == "TB"
    across, down = spread(tall)
    assert down > 3 * across
    # The wide pane made tall (its resize handle, a host's layout): drawn top-down again.
    wide.evaluate(
        "() => { const v = document.querySelector('.roar-dag-view');"
        " v.style.width = '650px'; v.style.height = '760px'; }"
    )
    wide.wait_for_function(
        "() => document.querySelector('svg.roar-dag').dataset.direction === 'TB'", timeout=10_000
    )


# 6. Trivial cells ------------------------------------------------------------------------------
TRIVIAL = 20
TRIVIAL_LABEL = re.compile(r"cell \[\d+\] x\d+ = \d+ \+ 1")
PIPELINE = [
    "import csv",
    "with open('raw.csv') as f:\n    rows = [r for r in csv.reader(f)]",
    "base = 5",
    "scale = base * 2",
    *[f"x{n} = {n} + 1" for n in range(1, TRIVIAL + 1)],
    "with open('out.csv', 'w', newline='') as f:\n"
    "    csv.writer(f).writerows([[int(v) * scale for v in r] for r in rows])",
]


@pytest.fixture
def notebook_payload(notebook, repo) -> dict:  # noqa: F811 (the fixture imported above)
    """A real roar kernel runs a csv pipeline with twenty `xN = N + 1` cells in the middle."""
    (repo / "raw.csv").write_text("1,2\n3,4\n")
    nb = notebook()
    for source in PIPELINE:
        nb.cell(source)
    assert (repo / "out.csv").read_text() == "10,20\n30,40\n"  # read_text: universal newlines
    return graph.load_graph(repo)


def labels(page) -> list[str]:
    return page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.textContent)")


def test_cells_without_files_are_folded_into_one_node_that_a_click_expands(
    open_view, notebook_payload
):
    cells = [n for n in notebook_payload["nodes"] if n.get("kind") == "cell"]
    assert len(cells) == len(PIPELINE)
    page = open_view(notebook_payload)
    shown = labels(page)
    # The pipeline: csv (feeds the reader and the writer), the reader, scale (feeds the
    # writer) and base (feeds scale: transitively), the writer and both files; the twenty
    # others are one node.
    assert len(shown) == 8, shown
    assert sum("cells without files" in t for t in shown) == 1
    assert any(f"{TRIVIAL} cells without files" in t for t in shown)
    assert not any(TRIVIAL_LABEL.search(t) for t in shown)
    for expected in ("import csv", "open('raw.csv')", "base = 5", "scale = base", "out.csv"):
        assert any(expected in t for t in shown), (expected, shown)
    # The pipeline is drawn readable, not squashed into a strip beside a column of cells.
    pipeline = [s for s in page.evaluate(TEXT_SIZES) if "cells without files" not in s["text"]]
    assert min(s["px"] for s in pipeline) >= MIN_TEXT_PX - 0.01
    assert not page.locator(".roar-dag-cells").is_checked()
    assert page.locator(".roar-dag-cells").is_visible()
    assert page.locator(".roar-dag-toggle", has=page.locator(".roar-dag-cells")).inner_text() == (
        f"every cell ({TRIVIAL} folded)"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dag-folded-cells.png")

    page.locator("svg.roar-dag g.node.folded").click()  # a click shows them
    page.wait_for_function(
        f"() => document.querySelectorAll('svg.roar-dag g.node').length == {len(cells) + 2}"
    )
    assert page.locator(".roar-dag-cells").is_checked()
    assert sum(bool(TRIVIAL_LABEL.search(t)) for t in labels(page)) == TRIVIAL

    page.locator(".roar-dag-cells").uncheck()  # the toggle folds them again
    page.wait_for_function("() => document.querySelectorAll('svg.roar-dag g.node').length == 8")
    page.locator(".roar-dag-cells").check()  # and shows every cell
    page.wait_for_function(
        f"() => document.querySelectorAll('svg.roar-dag g.node').length == {len(cells) + 2}"
    )
    assert page.problems == []


def test_a_graph_without_cells_has_no_cell_toggle(open_view, tmp_path):
    page = open_view(chain(tmp_path / "chain", 1))
    assert page.locator(".roar-dag-cells").is_hidden()


def test_a_folded_cell_selected_from_the_host_is_shown(open_view, notebook_payload):
    quiet = next(n for n in notebook_payload["nodes"] if n.get("source") == "x7 = 7 + 1")
    page = open_view(notebook_payload)
    assert page.locator(f"svg.roar-dag g.node[data-id='{quiet['id']}']").count() == 0
    page.evaluate(f"window.view.select({json.dumps(quiet['id'])})")
    page.wait_for_selector(f"svg.roar-dag g.node.selected[data-id='{quiet['id']}']")


# 7. Details panel and search box ---------------------------------------------------------------
LONG_LINE = "result = " + " + ".join(f"value_{i}" for i in range(30))
SOURCE = f"import csv\nrows = load_rows('data/raw.csv')\n{LONG_LINE}\n"


def variable_cells(root: Path) -> dict:
    """Two cells; the second reads many variables of the first (a long, wrapping list)."""
    from roar.store import writer

    store = SyntheticStore(root)
    nb = str(root / "analysis.ipynb")
    names = ["rows", "columns", "header", "reader", "writer", "transformed", "accumulator"]
    first = store.job(
        "cell [1] analysis.ipynb", [], {}, kind="cell", notebook_path=nb, cell_id="c1",
        execution_count=1, source=SOURCE,
        variables=[writer.VariableUse(n, "defined") for n in names],
    )  # fmt: skip
    store.job(
        "cell [2] analysis.ipynb", [], {"summary_statistics_for_every_column.csv": "s"},
        kind="cell", notebook_path=nb, cell_id="c2", execution_count=2,
        source="summarise(rows, columns, header, reader, writer, transformed, accumulator)\n",
        variables=[writer.VariableUse(n, "read", first.id) for n in names],
    )  # fmt: skip
    store.close()
    return graph.load_graph(root)


def test_the_details_panel_breaks_no_word_and_code_keeps_its_lines(open_view, tmp_path):
    payload = variable_cells(tmp_path / "vars")
    page = open_view(payload, {"allCells": True})
    second = next(n for n in payload["nodes"] if n.get("execution_count") == 2)
    first = next(n for n in payload["nodes"] if n.get("execution_count") == 1)
    details = page.locator(".roar-dag-details")
    for job in (second, first):
        page.evaluate(f"window.view.select({json.dumps(job['id'])})")
        assert details.locator("h3").inner_text().startswith(job["label"][:10])
        assert details.evaluate(SPLIT_WORDS) == [], job["label"]
    # The second cell's "variables from" list wraps, at spaces only.
    page.evaluate(f"window.view.select({json.dumps(second['id'])})")
    item = details.locator(".roar-dag-links li", has_text="accumulator")
    assert item.evaluate("li => li.getBoundingClientRect().height") > 20  # several lines
    assert item.evaluate(SPLIT_WORDS) == []
    # Source: one drawn line per code line, with a horizontal scroll bar for the long one.
    page.evaluate(f"window.view.select({json.dumps(first['id'])})")
    source = details.locator(".roar-dag-source")
    assert source.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"
    assert source.evaluate("e => e.scrollWidth > e.clientWidth")
    assert source.evaluate("e => getComputedStyle(e).overflowX") in ("auto", "scroll")
    line_height = source.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 15")
    text_height = source.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return r.getBoundingClientRect().height; }"
    )
    assert text_height < 3.5 * line_height  # three lines, none wrapped
    assert page.problems == []


@pytest.mark.parametrize("css", [NOTEBOOK_PANE, "#host { width: 1300px }"])
def test_the_search_placeholder_is_not_clipped(open_view, tmp_path, css):
    page = open_view(chain(tmp_path / "chain", 1), css=css)
    box = page.locator(".roar-dag-search")
    placeholder, room, needed = box.evaluate(
        """(e) => {
          const s = getComputedStyle(e);
          const ctx = document.createElement('canvas').getContext('2d');
          ctx.font = s.font;
          const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
          return [e.placeholder, room, ctx.measureText(e.placeholder).width];
        }"""
    )
    assert placeholder.startswith("Search")
    assert needed <= room, (placeholder, needed, room)
    # The same text typed in fits too (scrollWidth counts what overflows the box).
    box.fill(placeholder)
    assert box.evaluate("e => e.scrollWidth <= e.clientWidth")
