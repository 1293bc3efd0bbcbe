"""VS Code's own workbench (code-server) with the built .vsix, driven by headless Chromium:
hovering a path in a .py file shows roar's provenance in the hover widget, and "roar: Show
lineage" draws the DAG in a webview. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.editors import code_server
from tests.editors.conftest import require

ARTIFACTS = code_server.REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TEXT = 'import pickle\n\nmodel = pickle.load(open("out/model.pkl", "rb"))\n'


@pytest.fixture(scope="module")
def workbench(pipeline, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    require(code_server.BINARY.exists(), "code-server", "make editors")
    require(code_server.VSIX.exists(), "the roar .vsix", "make editors")
    require(Path(CHROMIUM).exists(), "chromium", "make system-deps")
    (pipeline.root / "cs_check.py").write_text(TEXT)
    with code_server.running(tmp_path_factory.mktemp("code-server")) as url:
        yield url, pipeline.root


@pytest.fixture
def page(workbench):
    with browse(*workbench) as page:
        yield page


@contextmanager
def browse(url: str, root: Path):
    """Headless Chromium on the workbench, with ``root`` open as the folder."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{url}/?folder={root}")
            yield page
        finally:
            browser.close()


def open_file(page, name: str) -> None:
    page.get_by_role("treeitem", name=name).click()
    page.locator(".monaco-editor .view-line").first.wait_for(state="visible")


def run_command(page, title: str) -> None:
    """Run a command from the palette. Its text is filled in once the box is there: keys typed
    while the palette opens go to the editor (on a busy machine the first words were lost)."""
    page.keyboard.press("F1")
    box = page.locator(".quick-input-widget .quick-input-box input")
    box.wait_for(state="visible")
    box.fill(f">{title}")
    page.locator(".quick-input-list .monaco-list-row", has_text=title).first.wait_for()
    page.keyboard.press("Enter")


def test_hover_shows_provenance_in_vscode(page, pipeline):
    open_file(page, "cs_check.py")
    # the innermost token span: Monaco nests a line span around the token spans and re-renders
    # them while tokenizing, so the locator is re-resolved on every try
    word = page.locator(".monaco-editor .view-line span:not(:has(span))", has_text="model.pkl")
    word.wait_for(state="visible")
    hover = page.locator(".monaco-hover-content", has_text="Produced by")
    for _ in range(40):  # the extension host and the server start a few seconds after opening
        page.mouse.move(5, 500)
        word.hover()
        page.wait_for_timeout(750)
        if hover.is_visible():
            break
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "code-server-hover.png"))
    text = hover.inner_text()
    assert "model.pkl" in text and "current" in text
    assert "Produced by @2" in text and "python train.py data/clean.csv out/model.pkl" in text
    assert pipeline.digest("out/model.pkl")[:12] in text
    assert "Consumers (1)" in text
    # VS Code asks for code lenses on its own debounce, after the hover can already answer
    lens = page.locator(".codelens-decoration", has_text="produced by @2 · train.py")
    lens.wait_for(state="visible", timeout=30_000)
    assert "produced by @2 · train.py" in lens.inner_text()


def test_show_lineage_draws_the_dag_in_a_webview(page):
    open_file(page, "cs_check.py")
    run_command(page, "roar: Show lineage")
    viewer = None
    for _ in range(120):  # the webview is an iframe inside an iframe: look through them all
        viewer = next((f for f in page.frames if f.locator("svg.roar-dag g.node").count()), None)
        if viewer is not None:
            break
        page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "code-server-lineage.png"))
    assert viewer is not None, "no DAG drawn in the lineage webview"
    # the whole session from `roar dag --format graph-json`: 3 runs and the notebook cell
    labels = " ".join(t or "" for t in viewer.locator("svg.roar-dag g.node").all_text_contents())
    assert "train.py" in labels and "report.py" in labels and "model.pkl" in labels
    assert "4 jobs" in viewer.locator("body").inner_text()
