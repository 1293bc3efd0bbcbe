"""The roar kernel started the way JupyterLab and Notebook 7 start it: through a real Jupyter
Server's session API, with cells sent over the kernel websocket carrying Lab's ``cellId``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.kernel.conftest import SETTLE, jobs_in, names

tornado_websocket = pytest.importorskip("tornado.websocket")
pytest.importorskip("jupyter_server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(jupyter_path, repo: Path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={repo}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _post(url: str, body: dict, method: str = "POST") -> dict:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


async def _execute(ws_url: str, cells: list[tuple[str, str]]) -> list[dict]:
    """Run the cells (with Lab's ``cellId``); then wait until the launcher has recorded them
    (a silent request, as conftest's ``settle``)."""
    ws = await tornado_websocket.websocket_connect(ws_url)
    replies = []
    session = uuid.uuid4().hex
    for cell_id, code, silent in [*((c, code, False) for c, code in cells), (None, SETTLE, True)]:
        msg_id = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {"cellId": cell_id} if cell_id else {},
            "channel": "shell",
            "content": {"code": code, "silent": silent, "store_history": not silent,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 60))
            if msg["msg_type"] == "execute_reply" and msg["parent_header"]["msg_id"] == msg_id:
                replies.append(msg["content"])
                break
    ws.close()
    settled = replies.pop()
    assert settled["status"] == "ok", settled
    return replies


def test_cells_from_jupyter_server_carry_notebook_path_and_lab_cell_ids(server, repo):
    (repo / "sub").mkdir()
    session = _post(
        f"{server}/api/sessions",
        {"path": "sub/analysis.ipynb", "name": "analysis.ipynb", "type": "notebook",
         "kernel": {"name": "roar"}},
    )  # fmt: skip
    ws_url = server.replace("http", "ws") + f"/api/kernels/{session['kernel']['id']}/channels"
    replies = asyncio.run(
        _execute(
            ws_url,
            [
                ("cell-a", "open('a.txt', 'w').write('a')"),
                ("cell-b", "data = open('a.txt').read()"),
            ],
        )  # fmt: skip
    )
    assert [r["status"] for r in replies] == ["ok", "ok"]
    first, second = jobs_in(repo)
    assert (first.cell_id, second.cell_id) == ("cell-a", "cell-b")
    assert first.notebook_path == second.notebook_path == str(repo / "sub" / "analysis.ipynb")
    assert first.cwd == second.cwd == "sub"  # the kernel runs in the notebook's folder
    assert names(first.outputs) == ["a.txt"] and names(second.inputs) == ["a.txt"]


def test_cells_run_after_a_rename_record_the_new_path(server, repo):
    # What JupyterLab does: File > New > Notebook, a session for it, a cell; then a rename
    # (the file through the contents API, then the session's path and name).
    created = _post(f"{server}/api/contents", {"type": "notebook"})
    assert created["path"] == "Untitled.ipynb"
    session = _post(
        f"{server}/api/sessions",
        {"path": "Untitled.ipynb", "name": "Untitled.ipynb", "type": "notebook",
         "kernel": {"name": "roar"}},
    )  # fmt: skip
    ws_url = server.replace("http", "ws") + f"/api/kernels/{session['kernel']['id']}/channels"
    before = asyncio.run(_execute(ws_url, [("cell-a", "a = 1")]))
    _post(f"{server}/api/contents/Untitled.ipynb", {"path": "renamed.ipynb"}, "PATCH")
    for change in ({"path": "renamed.ipynb"}, {"name": "renamed.ipynb"}):
        _post(f"{server}/api/sessions/{session['id']}", change, "PATCH")
    after = asyncio.run(_execute(ws_url, [("cell-b", "b = a + 1"), ("cell-c", "c = b")]))
    assert [r["status"] for r in before + after] == ["ok"] * 3
    first, *later = jobs_in(repo)
    assert first.notebook_path == str(repo / "Untitled.ipynb")
    assert [j.notebook_path for j in later] == [str(repo / "renamed.ipynb")] * 2
    assert [j.command.split(":")[0] for j in later] == [
        "cell [2] renamed.ipynb",
        "cell [3] renamed.ipynb",
    ]
