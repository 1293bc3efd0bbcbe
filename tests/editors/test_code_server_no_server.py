"""VS Code (code-server) with the roar extension but no roar-lsp to be found: no roar.* setting
names one, the Python extension is not installed, and the extension host's PATH has no roar-lsp.
The extension says so once, in a notification naming where it looked and how to fix it, with a
button to the settings; "roar: Show lineage" repeats that rather than `spawn roar ENOENT`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors import code_server
from tests.editors.conftest import require
from tests.editors.test_code_server import ARTIFACTS, CHROMIUM, browse, run_command

NOT_FOUND = "roar-lsp was not found"


def path_without_roar() -> str:
    """PATH without the folders holding roar-lsp or roar (pyenv's shims, a venv's bin)."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    keep = [d for d in dirs if d and not any((Path(d) / n).exists() for n in ("roar-lsp", "roar"))]
    return os.pathsep.join(keep)


@pytest.fixture(scope="module")
def workbench(pipeline, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    require(code_server.BINARY.exists(), "code-server", "make editors")
    require(code_server.VSIX.exists(), "the roar .vsix", "make editors")
    require(Path(CHROMIUM).exists(), "chromium", "make system-deps")
    home = tmp_path_factory.mktemp("code-server-no-lsp")
    env = {"PATH": path_without_roar()}
    with code_server.running(home, settings={"roar.interpreter": None}, env=env) as url:
        yield url, pipeline.root


@pytest.fixture
def page(workbench):
    with browse(*workbench) as page:
        yield page


def test_missing_server_is_reported_once_with_the_fix(page):
    toasts = page.locator(".notifications-toasts .notification-toast", has_text=NOT_FOUND)
    toasts.first.wait_for(state="visible", timeout=90_000)  # the extension activates on .roar/
    page.wait_for_timeout(3000)  # nothing more comes: it is said once
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "code-server-no-roar-lsp.png"))
    assert toasts.count() == 1
    text = " ".join(toasts.first.inner_text().split())
    # where it looked, in order
    assert "roar.server.path: not set" in text
    assert "roar.interpreter: not set" in text
    assert "the Python extension's interpreter: none" in text
    assert "PATH: no roar-lsp in its" in text
    # and how to fix it
    assert "set roar.server.path" in text and "or roar.interpreter" in text
    assert "pip install 'roar[lsp]'" in text
    assert toasts.first.get_by_role("button", name="Open settings").is_visible()

    # "Show lineage" says the same instead of running a roar that is not there
    run_command(page, "roar: Show lineage")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(ARTIFACTS / "code-server-no-roar-lsp-lineage.png"))
    assert all("ENOENT" not in frame.locator("body").inner_text() for frame in page.frames)
    assert toasts.count() >= 1

    # the button opens the extension's settings
    toasts.first.hover()  # a toast shows its buttons while hovered or focused
    toasts.first.get_by_role("button", name="Open settings").click()
    # (code-server is a remote window: machine settings such as these are on its Remote tab)
    page.locator(".settings-editor").wait_for(state="visible")
    for title in ("Server: Path", "Roar: Interpreter"):
        setting = page.locator(".settings-editor .setting-item-contents", has_text=title)
        setting.first.wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / "code-server-no-roar-lsp-settings.png"))
