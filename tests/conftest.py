"""Shared fixtures: throw-away git repositories with roar initialised, and a CLI runner.

Everything is real: the CLI runs as a subprocess (`python -m roar`), the tracer traces real
processes, and the store is the real SQLite file the commands wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# A test suite started in the background by a non-interactive shell (`make test &`, a CI
# runner's nohup) inherits SIGINT ignored, and so does every process it starts: a wrapped
# command then ignores Ctrl-C as it would untraced, and the tests that send SIGINT hang. Give
# the test run what a terminal gives it: Python's own handler, which children see as default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROAR = [sys.executable, "-m", "roar"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended after 20 s (a test server's end)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serving_process(argv: list[str], log: Path, ready_url: str, what: str) -> Iterator[None]:
    """``argv`` (a server on 127.0.0.1) running with its output in ``log``, once ``ready_url``
    answers (within 60 s; the test fails with the log otherwise); stopped at the end."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited {proc.returncode}:\n{log.read_text()}", pytrace=False)
            try:
                urllib.request.urlopen(ready_url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{what} did not answer:\n{log.read_text()}", pytrace=False)
                time.sleep(0.1)
        yield
    finally:
        stop_process(proc)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    git(path, "config", "user.email", "test@roar.invalid")
    git(path, "config", "user.name", "roar tests")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit_all(repo: Path, message: str = "commit") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


@pytest.fixture
def run_roar() -> Callable[..., Result]:
    def run(
        *args: str,
        cwd: Path,
        env: dict | None = None,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> Result:
        proc = subprocess.run(
            [*ROAR, *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"roar {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return result

    return run


@pytest.fixture
def repo(tmp_path: Path, run_roar) -> Path:
    """A git repo with one commit and roar initialised (`.roar/` git-ignored)."""
    root = make_repo(tmp_path / "project")
    (root / "README.md").write_text("test project\n")
    run_roar("init", "-y", cwd=root)
    commit_all(root, "initial")
    return root


# The smallest real pipeline step: `python step.py SRC DST` writes SRC's text plus a line to DST.
COPY_STEP = """
import sys
src, dst = sys.argv[1], sys.argv[2]
open(dst, "w").write(open(src).read() + "x\\n")
"""


@pytest.fixture
def copy_step(write_script: Callable[[str, str], Path]) -> Callable[[], Path]:
    """Write and commit step.py (``COPY_STEP``), the step the pipeline fixtures chain."""
    return lambda: write_script("step.py", COPY_STEP)


@pytest.fixture
def write_script(repo: Path) -> Callable[[str, str], Path]:
    """Write a Python script into the repo and commit it (tracked code)."""

    def write(name: str, body: str) -> Path:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        commit_all(repo, f"add {name}")
        return path

    return write


@pytest.fixture(scope="session", autouse=True)
def _private_ebpf_service(tmp_path_factory):
    """Point every test (and every roar it starts) at a private eBPF service socket, never the
    host's /run/roar one, and stop that service after the session if a test started it.
    (The variable names where services live; this build's socket has the build's tag in it.)"""
    from roar.tracing import ebpf_service

    sock = tmp_path_factory.mktemp("ebpf") / "ebpf.sock"
    previous = os.environ.get(ebpf_service.SOCKET_ENV)
    os.environ[ebpf_service.SOCKET_ENV] = str(sock)
    yield sock
    ebpf_service.stop(ebpf_service.socket_path())
    if previous is None:
        os.environ.pop(ebpf_service.SOCKET_ENV, None)
    else:
        os.environ[ebpf_service.SOCKET_ENV] = previous


@pytest.fixture(scope="session")
def ebpf_service(_private_ebpf_service):
    """The private eBPF loader service, running (real BPF programs; these machines run as root)."""
    from roar.tracing import ebpf_service as service

    service.ensure_running()
    return _private_ebpf_service
