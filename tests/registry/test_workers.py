"""glaas-server with several processes (GLAAS_WORKERS / --workers), on SQLite and PostgreSQL:
every worker answers registrations and lookups on its own.

Each worker is shown to serve by pausing the others (SIGSTOP) while lookups go through: a
paused process accepts nothing, so whatever answers is the one left running. The pauses are
short (uvicorn's supervisor replaces a worker that misses its health check for 5 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import REPO, running_server


def _workers(parent: int) -> list[int]:
    """The server's worker processes: the children uvicorn spawned (multiprocessing's spawn,
    not its resource tracker)."""
    out = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                out.append(int(pid))
    return sorted(out)


def _server_pid(port: str) -> int:
    """The pid of `python -m glaas serve` listening on ``port`` (its env names the port)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[1:4] == [b"-m", b"glaas", b"serve"] and f"GLAAS_PORT={port}".encode() in env:
            return int(proc.name)
    raise AssertionError(f"no glaas-server process on port {port}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_each_register_and_look_up(kind, request, tmp_path, pipeline_bundle):
    url = (
        f"sqlite:///{tmp_path / 'glaas.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with running_server(url, tmp_path / "server.log", {"GLAAS_WORKERS": "2"}) as api:
        parent = _server_pid(api.base.rsplit(":", 1)[1])
        workers = _workers(parent)
        assert len(workers) == 2, workers
        api.register(pipeline_bundle)
        artifact = pipeline_bundle["artifacts"][0]["hash"]
        for serving in workers:
            paused = [w for w in workers if w != serving]
            for w in paused:
                os.kill(w, signal.SIGSTOP)
            try:
                for _ in range(3):
                    status, out = api.get(f"/api/v1/artifacts/{artifact[:12]}")
                    assert status == 200, out
                    assert out["hash"] == artifact
                # A registration (a write) through this worker alone, too.
                api.register(pipeline_bundle)
            finally:
                for w in paused:
                    os.kill(w, signal.SIGCONT)
        assert _workers(parent) == workers  # none was replaced or died meanwhile


def test_bad_worker_count_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "glaas", "serve", "--workers", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--workers is '0': give a number of server processes from 1 to 64" in proc.stderr
