"""A real store for the language server: a temporary git repo whose pipeline was recorded by
real ``roar run``s (and one notebook cell run on the real roar kernel), plus pytest-lsp
fixtures that start the real ``roar-lsp`` over stdio against it.

Layout of the project the tests hover in::

    data/raw.csv ─@1 prep.py─► data/clean.csv ─@2 train.py─► out/model.pkl ─@3 report.py─► out/report.txt
                                     └─ analysis.ipynb cell ─► out/summary.txt
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import ROAR, commit_all, make_repo
from tests.kernel.conftest import jupyter_path  # noqa: F401  the roar kernelspec, once a session

SERVER = [sys.executable, "-m", "lsp_server"]
CLIENTS = ["visual-studio-code", "neovim"]  # capabilities recorded from the real editors

STEP = """import sys
src, dst = sys.argv[1], sys.argv[2]
import os
os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
open(dst, "w").write(open(src).read().upper() + sys.argv[0] + "\\n")
"""


def roar(*args: str, cwd: Path) -> str:
    proc = subprocess.run([*ROAR, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_pipeline(root: Path) -> Path:
    """A repo with roar initialised and three recorded steps."""
    make_repo(root)
    (root / "README.md").write_text("lsp test project\n")
    for name in ("prep.py", "train.py", "report.py"):
        (root / name).write_text(STEP)
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (root / ".gitignore").write_text("data/\nout/\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "pipeline")
    roar("run", "python", "prep.py", "data/raw.csv", "data/clean.csv", cwd=root)
    roar("run", "python", "train.py", "data/clean.csv", "out/model.pkl", cwd=root)
    roar("run", "python", "report.py", "out/model.pkl", "out/report.txt", cwd=root)
    return root


@dataclass
class Project:
    root: Path

    def uri(self, rel: str) -> str:
        return (self.root / rel).as_uri()

    def digest(self, rel: str) -> str:
        import blake3

        return blake3.blake3((self.root / rel).read_bytes()).hexdigest()


def run_notebook_cell(root: Path, source: str) -> None:
    """Execute one cell of ``analysis.ipynb`` on the real roar kernel (recorded as a cell job)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "roar", "display_name": "roar", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(source))
    path = root / "analysis.ipynb"
    nbformat.write(nb, path)
    client = NotebookClient(
        nb, timeout=120, kernel_name="roar", resources={"metadata": {"path": str(root)}}
    )
    # As Jupyter Server does: tell the kernel which notebook it serves.
    with client.setup_kernel(env={**os.environ, "JPY_SESSION_NAME": path.name}):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, jupyter_path) -> Project:  # noqa: F811
    """The shared, never-modified project (tests that change files build their own)."""
    root = build_pipeline(tmp_path_factory.mktemp("lsp") / "project")
    run_notebook_cell(
        root, "text = open('data/clean.csv').read()\nopen('out/summary.txt', 'w').write(text[:5])\n"
    )
    (root / "docs").mkdir()
    return Project(root)


@pytest.fixture
def fresh_pipeline(tmp_path) -> Project:
    """A private copy-free project for tests that change files or record more jobs."""
    return Project(build_pipeline(tmp_path / "project"))


def initialize_params(root: Path, client: str, **options) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=pytest_lsp.client_capabilities(client),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options={"pollInterval": 0.2, **options},
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), params=CLIENTS)
async def client(lsp_client: LanguageClient, request, pipeline: Project):
    """The real server on the shared project, initialised as VS Code and as Neovim."""
    await lsp_client.initialize_session(initialize_params(pipeline.root, request.param))
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(params=CLIENTS)
async def fresh_lsp(request):
    """Start the real server on a given project root with given options (stopped afterwards)."""
    started: list[LanguageClient] = []

    async def start(root: Path, **options) -> LanguageClient:
        client = await ClientServerConfig(server_command=SERVER).start()
        started.append(client)
        await client.initialize_session(initialize_params(root, request.param, **options))
        return client

    yield start
    for client in started:
        await client.shutdown_session()
        await client.stop()


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )
    return uri


async def hover_at(
    client: LanguageClient, uri: str, line: int, character: int
) -> types.Hover | None:
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )


def column_of(text: str, needle: str, line: int = 0) -> int:
    """A column inside the first occurrence of ``needle`` on ``line`` (its middle)."""
    at = text.splitlines()[line].index(needle)
    return at + len(needle) // 2


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    import asyncio

    for _ in range(int(timeout / 0.1)):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()
