"""`roar pop` and `roar reset` delete or hide data: they default to No on a terminal, and
without one they refuse unless given -y, changing nothing."""

from __future__ import annotations

import os
import pty
import subprocess
import time

import pytest

from tests.conftest import ROAR, commit_all


@pytest.fixture
def one_job(repo, run_roar):
    (repo / ".gitignore").write_text(".roar/\nout.txt\n")
    commit_all(repo, "ignore out")
    run_roar("run", "sh", "-c", "echo made > out.txt", cwd=repo)
    return repo / "out.txt"


def jobs(run_roar, repo):
    return run_roar("log", "--json", cwd=repo).json()["jobs"]


def on_terminal(args: list[str], cwd, answer: bytes) -> tuple[int, str]:
    """Run roar with a pseudo-terminal as stdin, type ``answer``, return (exit code, output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*ROAR, *args], cwd=cwd, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in output and time.monotonic() < deadline:
        try:
            output += os.read(leader, 4096)
        except OSError:
            break
    os.write(leader, answer)
    code = proc.wait(timeout=60)
    try:
        while chunk := os.read(leader, 4096):
            output += chunk
    except OSError:
        pass
    os.close(leader)
    return code, output.decode(errors="replace")


@pytest.mark.parametrize("stdin", [subprocess.DEVNULL, "n\n", "y\n"], ids=["devnull", "n", "y"])
@pytest.mark.parametrize("command", ["pop", "reset"])
def test_without_a_terminal_refuses_unless_y(repo, run_roar, one_job, command, stdin):
    proc = subprocess.run(
        [*ROAR, command],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        **({"stdin": stdin} if stdin == subprocess.DEVNULL else {"input": stdin}),
    )
    assert proc.returncode == 1
    assert "Aborted." in proc.stderr and "-y" in proc.stderr
    assert one_job.read_text() == "made\n"
    assert len(jobs(run_roar, repo)) == 1


def test_pop_with_y_goes_ahead(repo, run_roar, one_job):
    run_roar("pop", "-y", cwd=repo)
    assert not one_job.exists() and jobs(run_roar, repo) == []


@pytest.mark.parametrize("command", ["pop", "reset"])
def test_on_a_terminal_enter_means_no(repo, run_roar, one_job, command):
    code, output = on_terminal([command], repo, b"\n")
    assert code == 1 and "[y/N]" in output and "Aborted." in output
    assert one_job.exists() and len(jobs(run_roar, repo)) == 1


def test_on_a_terminal_yes_pops(repo, run_roar, one_job):
    code, output = on_terminal(["pop"], repo, b"y\n")
    assert code == 0, output
    assert not one_job.exists() and jobs(run_roar, repo) == []
