"""The roar extension finds roar-lsp through the Python extension's selected interpreter (its API,
``ms-python.python``), here a stand-in with the same API, since the real one comes from a
marketplace this machine cannot reach. No roar.* setting names the server and PATH has no
roar-lsp: with an interpreter lacking roar selected, the notification names that interpreter
and offers to select another; once one with roar is selected, the hover works."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors import code_server
from tests.editors.conftest import require
from tests.editors.test_code_server import ARTIFACTS, CHROMIUM, browse, open_file
from tests.editors.test_code_server_no_server import NOT_FOUND, path_without_roar

VSCE = code_server.REPO / "vscode" / "node_modules" / ".bin" / "vsce"

# The parts of the Python extension's API the roar extension uses; the selected interpreter is
# the path written in $ROAR_TEST_SELECTED_PYTHON, and a change of it fires the change event.
STUB = """
const fs = require("fs");
const vscode = require("vscode");
exports.activate = () => {
  const file = process.env.ROAR_TEST_SELECTED_PYTHON;
  const read = () => fs.readFileSync(file, "utf8").trim();
  const changed = new vscode.EventEmitter();
  let last = read();
  fs.watchFile(file, { interval: 200 }, () => {
    if (read() !== last) { last = read(); changed.fire({ id: last, path: last }); }
  });
  return {
    environments: {
      getActiveEnvironmentPath: () => ({ id: read(), path: read() }),
      resolveEnvironment: async (env) =>
        ({ executable: { uri: vscode.Uri.file(typeof env === "string" ? env : env.path) } }),
      onDidChangeActiveEnvironmentPath: changed.event,
    },
  };
};
"""
MANIFEST = {
    "name": "python",
    "publisher": "ms-python",
    "displayName": "Python (test stand-in)",
    "description": "The Python extension's environments API, for roar's tests",
    "version": "0.0.1",
    "license": "MIT",
    "repository": {"type": "git", "url": "https://example.invalid/stub.git"},
    "engines": {"vscode": "^1.91.0"},
    "main": "./extension.js",
    "activationEvents": [],
}
TEXT = 'import pickle\n\nmodel = pickle.load(open("out/model.pkl", "rb"))\n'


def stub_python_extension(where: Path) -> Path:
    require(VSCE.exists(), "vsce (the extension's npm packages)", "make editors")
    where.mkdir()
    (where / "package.json").write_text(json.dumps(MANIFEST, indent=1))
    (where / "extension.js").write_text(STUB)
    (where / "README.md").write_text("A stand-in for ms-python.python in roar's tests.\n")
    subprocess.run(
        [str(VSCE), "package", "--skip-license", "-o", "python.vsix"],
        cwd=where, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return where / "python.vsix"


@pytest.fixture(scope="module")
def workbench(pipeline, tmp_path_factory) -> Iterator[tuple[str, Path, Path, Path]]:
    require(code_server.BINARY.exists(), "code-server", "make editors")
    require(code_server.VSIX.exists(), "the roar .vsix", "make editors")
    require(Path(CHROMIUM).exists(), "chromium", "make system-deps")
    home = tmp_path_factory.mktemp("code-server-python-ext")
    stub = stub_python_extension(home / "stub")
    # a Python without roar: a fresh virtual environment (it does not see the base's packages)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")], check=True)
    bare = home / "venv" / "bin" / "python"
    selected = home / "selected-python"
    selected.write_text(str(bare))
    (pipeline.root / "py_check.py").write_text(TEXT)
    env = {"PATH": path_without_roar(), "ROAR_TEST_SELECTED_PYTHON": str(selected)}
    with code_server.running(
        home, settings={"roar.interpreter": None}, env=env, also=[stub]
    ) as url:
        yield url, pipeline.root, selected, bare


def test_server_found_through_the_python_extensions_interpreter(workbench):
    url, root, selected, bare = workbench
    with browse(url, root) as page:
        toast = page.locator(".notifications-toasts .notification-toast", has_text=NOT_FOUND)
        toast.first.wait_for(state="visible", timeout=90_000)
        text = " ".join(toast.first.inner_text().split())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "code-server-python-ext-without-roar.png"))
        assert f"the Python extension's interpreter: {bare} (roar is not installed in it)" in text
        assert f"install roar into the selected interpreter ({bare} -m pip install" in text
        toast.first.hover()
        assert toast.first.get_by_role("button", name="Select interpreter").is_visible()

        # the user selects an interpreter that has roar: the extension starts the server with it
        selected.write_text(sys.executable)
        open_file(page, "py_check.py")
        word = page.locator(".monaco-editor .view-line span:not(:has(span))", has_text="model.pkl")
        word.wait_for(state="visible")
        hover = page.locator(".monaco-hover-content", has_text="Produced by")
        for _ in range(60):
            page.mouse.move(5, 500)
            word.hover()
            page.wait_for_timeout(750)
            if hover.is_visible():
                break
        page.screenshot(path=str(ARTIFACTS / "code-server-python-ext-with-roar.png"))
        assert "Produced by @2" in hover.inner_text()
