"""Headless Chromium for the viewer's tests and benchmark: Debian's ``chromium`` driven by
Playwright (``executable_path``; Playwright's own browser downloads are not used)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_ext import STATIC

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class FrontEnd:
    """What differs between the Jupyter front ends one Jupyter Server serves, for the tests.

    Both render notebooks with JupyterLab's cell components (``.jp-Notebook .jp-Cell``,
    ``.jp-OutputArea-output``) and, with a kernelspec in the notebook's metadata, neither asks
    for a kernel; they differ in the page's URL and in where the kernel's state is shown.
    """

    name: str
    package: str  # the distribution serving it, at ``minimum`` (major version) or later
    minimum: int
    path: str  # the URL path a notebook file is opened under
    kernel_idle: str  # matches once the page's kernel is connected and idle
    screenshot: str  # file name in tests/artifacts/

    def missing(self) -> str | None:
        """Why this front end cannot be served here, or None."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            major = int(version(self.package).split(".")[0])
        except PackageNotFoundError:
            major = 0
        if major < self.minimum:
            return f"{self.package}>={self.minimum} is not installed (pip install -e '.[test]')"
        return None

    def notebook_url(self, server: str, file: str) -> str:
        return f"{server}/{self.path}/{file}"

    def wait_for_idle_kernel(self, page) -> None:
        from playwright.sync_api import expect

        expect(page.locator(self.kernel_idle)).to_have_count(1, timeout=30_000)  # a busy CI


FRONT_ENDS = (
    # The status bar, not the toolbar's indicator: it says idle only once the kernel is connected.
    FrontEnd(
        "lab", "jupyterlab", 4, "lab/tree", '.jp-StatusBar-Widget:has-text("Python 3 (ipykernel) | Idle")',
        "widget-lab.png",
    ),
    # Notebook 7 (the ``notebook`` package) has no status bar; its toolbar's indicator reads
    # "unknown" until the kernel is connected.
    FrontEnd(
        "notebook7", "notebook", 7, "notebooks", '.jp-Notebook-ExecutionIndicator[data-status="idle"]',
        "widget-notebook7.png",
    ),
)  # fmt: skip


def chromium_path() -> str | None:
    return os.environ.get("ROAR_CHROMIUM") or shutil.which("chromium")


def missing_prerequisite() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if chromium_path() is None:
        return "Debian's chromium is not installed (make system-deps)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return bundle_missing()


def bundle_missing() -> str | None:
    if not (STATIC / "widget.js").is_file() or not (STATIC / "dag_view.js").is_file():
        return "the viewer bundle is not built (make widget)"
    return None


def skip_unless_ready(why: str | None):
    """A skip mark for developers without the prerequisite; in CI a missing one is an error."""
    import pytest

    if why and IN_CI:
        raise RuntimeError(f"the widget's tests must run in CI: {why}")
    return pytest.mark.skipif(why is not None, reason=why or "")


def standalone_page(
    directory: Path,
    payload: dict[str, Any],
    options: str = "{}",
    csp: str | None = None,
    css: str = "",
) -> Path:
    """A page showing ``payload`` with the standalone bundle, as a webview would, and ``css``
    after the viewer's (e.g. ``#host { width: 650px }`` for a notebook-sized pane; a file, as
    a strict policy allows no inline style).

    ``window.view`` is the DagView, ``window.selections`` what onSelect reported and
    ``window.stats`` the first render's figures (``window.failure`` if it threw).
    """
    (directory / "payload.js").write_text("window.PAYLOAD = " + json.dumps(payload) + ";\n")
    page = directory / "view.html"
    policy = f'<meta http-equiv="Content-Security-Policy" content="{csp}">' if csp else ""
    page.write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8">{policy}
<link rel="stylesheet" href="{(STATIC / "dag_view.css").as_uri()}">
<link rel="stylesheet" href="page.css">
</head><body><div id="host"></div>
<script src="payload.js"></script>
<script src="{(STATIC / "dag_view.js").as_uri()}"></script>
<script src="harness.js"></script></body></html>
"""
    )
    (directory / "page.css").write_text(css)
    # In a file, not inline: a page under a strict policy (as in a webview) runs no inline script.
    (directory / "harness.js").write_text(
        f"""window.selections = [];
const options = Object.assign({{ onSelect: (id) => window.selections.push(id) }}, {options});
window.view = window.roarDag.render(document.getElementById("host"), window.PAYLOAD, options);
window.view.ready.then((s) => {{ window.stats = Object.assign({{ sinceStart: performance.now() }}, s); }},
                       (e) => {{ window.failure = String(e && e.stack || e); }});
"""
    )
    return page


# The viewer's readable range (jupyter_ext/js/src/layout.ts): node text at 1:1 is NODE_FONT_PT
# points (4/3 px each); fit keeps it between MIN_TEXT_PX and that.
PX_PER_PT = 96 / 72
NODE_FONT_PT = 10
MIN_TEXT_PX = 10
MAX_TEXT_PX = NODE_FONT_PT * PX_PER_PT

# Each node label's rendered font size (px: its font-size times the screen transform), its
# box's height, and whether it is inside the canvas.
TEXT_SIZES = """() => {
  const canvas = document.querySelector('.roar-dag-canvas').getBoundingClientRect();
  return [...document.querySelectorAll('svg.roar-dag g.node text')].map((t) => {
    const m = t.getScreenCTM();
    const r = t.getBoundingClientRect();
    return {
      text: t.textContent,
      px: parseFloat(t.getAttribute('font-size')) * Math.hypot(m.a, m.b),
      height: r.height,
      inside: r.left >= canvas.left - 1 && r.right <= canvas.right + 1
        && r.top >= canvas.top - 1 && r.bottom <= canvas.bottom + 1,
    };
  });
}"""


@contextmanager
def viewer_page(directory: Path, payload: dict[str, Any]) -> Iterator[Any]:
    """Headless Chromium showing ``payload`` in the standalone viewer (files under
    ``directory``), rendered; ``page.problems`` collects script errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        directory.mkdir(exist_ok=True)
        page.goto(standalone_page(directory, payload).as_uri())
        page.wait_for_function("window.stats || window.failure", timeout=120_000)  # a busy machine
        assert page.evaluate("window.failure") is None
        page.problems = problems
        yield page
        browser.close()
