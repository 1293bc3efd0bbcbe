"""Real kernels, real notebooks: the roar kernelspec installed by the real CLI into a private
Jupyter path, notebooks executed by nbclient, and the store the kernel wrote read back."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from roar.store.queries import reader
from roar.store.views import JobView
from roar.workspace import Workspace
from tests.conftest import ROAR

KERNEL_TIMEOUT = 120
SETTLE = "(lambda k: hasattr(k, 'cells') and k.cells.flush())(get_ipython().kernel)"


@pytest.fixture(scope="session")
def jupyter_path(tmp_path_factory) -> Iterator[Path]:
    """`roar kernel install --prefix` into a private prefix, visible through JUPYTER_PATH."""
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    subprocess.run([*ROAR, "kernel", "install", "--prefix", str(prefix)], check=True)
    data = prefix / "share" / "jupyter"
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_DATA_DIR")}
    os.environ["JUPYTER_PATH"] = str(data)
    os.environ["JUPYTER_DATA_DIR"] = str(tmp_path_factory.mktemp("jupyter-data"))
    yield data
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class NotebookRun:
    """A notebook in the repo and a live kernel executing its cells one by one."""

    def __init__(self, repo: Path, client: NotebookClient, path: Path):
        self.repo, self.client, self.path = repo, client, path
        self.nb = client.nb

    def add(self, source: str) -> int:
        self.nb.cells.append(nbformat.v4.new_code_cell(source))
        nbformat.write(self.nb, self.path)  # the kernel finds cell ids in the saved notebook
        return len(self.nb.cells) - 1

    def run(self, index: int, settle: bool = True) -> nbformat.NotebookNode:
        """Execute a cell; with ``settle``, also wait until the launcher has recorded it."""
        executed = self.client.execute_cell(self.nb.cells[index], index)
        if settle:
            self.settle()
        return executed

    def settle(self) -> None:
        """Wait until the cells run so far are in the store (a silent request: not a cell)."""
        assert self.client.kc is not None
        reply = run_sync(self.client.kc.execute_interactive)(SETTLE, silent=True, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]

    def cell(self, source: str) -> nbformat.NotebookNode:
        """Add a cell and execute it; the executed cell (with outputs)."""
        return self.run(self.add(source))

    def restart(self) -> None:
        assert self.client.km is not None and self.client.kc is not None
        run_sync(self.client.km.restart_kernel)(now=True)
        run_sync(self.client.kc.wait_for_ready)(timeout=KERNEL_TIMEOUT)


@pytest.fixture
def notebook(jupyter_path, repo: Path) -> Callable[..., NotebookRun]:
    """Start a kernel (``roar`` by default) on a new notebook in the repo; stopped afterwards."""
    started: list[NotebookClient] = []

    def start(
        kernel: str = "roar",
        env: dict[str, str] | None = None,
        name: str = "analysis.ipynb",
        connection_file: Path | None = None,
    ) -> NotebookRun:
        path = repo / name
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        nbformat.write(nb, path)
        client = NotebookClient(
            nb,
            timeout=KERNEL_TIMEOUT,
            kernel_name=kernel,
            allow_errors=True,
            resources={"metadata": {"path": str(repo)}},
        )
        # What Jupyter Server does: tell the kernel which notebook it serves.
        kernel_env = {**os.environ, "JPY_SESSION_NAME": name, **(env or {})}
        client.km = client.create_kernel_manager()
        if connection_file is not None:  # as Jupyter Server does (nbclient uses /tmp)
            connection_file.parent.mkdir(parents=True, exist_ok=True)
            client.km.connection_file = str(connection_file)
        client.start_new_kernel(env=kernel_env)
        client.start_new_kernel_client()
        started.append(client)
        return NotebookRun(repo, client, path)

    yield start
    for client in started:
        if client.km is not None:  # not already shut down by the test
            client._cleanup_kernel()


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed: streams, results and errors."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


def jobs_in(repo: Path) -> list[JobView]:
    """Every job of the active session, in execution order, from the real store."""
    with reader(Workspace(repo).db_path, readonly=True) as r:
        session = r.active_session()
        return r.session_jobs(session.id) if session else []


def names(files) -> list[str]:
    return sorted(os.path.basename(f.path) for f in files)
