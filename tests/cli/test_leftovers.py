"""A command that leaves a process running (a daemon) (issue 13, item 10).

roar waits for the whole tree, as documented; after the command itself exited it says once on
stderr which processes it waits for (pids, command lines), and the first SIGINT or SIGTERM stops
the wait: the job is recorded with what was seen so far, a note naming the processes left
running, and the command's own exit code. preload and eBPF stop following the daemon (it runs
on); ptrace keeps tracing it after the job is recorded (its tracee cannot run without it) until
a second signal stops roar, which ends it. Real processes, the real store, every backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROAR, commit_all

BACKENDS = ("ebpf", "preload", "ptrace")
DAEMON = """\
import os, sys, time
open("early.txt", "w").write("early")
if os.fork() == 0:
    os.setsid()
    time.sleep(0.3)
    open("late.txt", "w").write("late")
    open("daemon.pid", "w").write(str(os.getpid()))
    time.sleep(300)
    os._exit(0)
sys.exit(4)
"""


class Stderr:
    """roar's stderr, read as it comes."""

    def __init__(self, proc: subprocess.Popen):
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with self._lock:
                self.text += line

    def wait_for(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if needle in self.text:
                    return self.text
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never appeared on roar's stderr:\n{self.text}")

    def all(self) -> str:
        self._thread.join(timeout=10)
        return self.text


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


@pytest.fixture
def project(repo: Path, ebpf_service) -> Path:
    (repo / "daemon.py").write_text(DAEMON)
    (repo / ".gitignore").write_text(".roar/\n")
    commit_all(repo, "daemon")
    return repo


def job_of(repo: Path) -> dict:
    out = subprocess.run(
        [*ROAR, "log", "--json"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    (job,) = json.loads(out.stdout)["jobs"]
    return job


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_stops_the_wait_for_a_daemon_and_records_what_was_seen(project, backend, sig):
    repo = project
    roar = subprocess.Popen(
        [*ROAR, "run", "--tracer", backend, sys.executable, "daemon.py"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon = None
    try:
        err = Stderr(roar)
        notice = err.wait_for("roar waits for them to exit", timeout=30)
        deadline = time.monotonic() + 10
        while not (repo / "daemon.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        daemon = int((repo / "daemon.pid").read_text())
        assert "left 1 process(es) running" in notice and "exited (code 4)" in notice, notice
        assert f"  {daemon}  " in notice and "daemon.py" in notice, notice  # pid and command
        assert notice.count("roar waits for them") == 1
        roar.send_signal(sig)  # not to the group: the daemon has its own session anyway
        if backend == "ptrace":
            err.wait_for("the job is recorded", timeout=30)
            assert roar.poll() is None and alive(daemon)  # still traced: roar must stay
            job = job_of(repo)  # already in the store
            roar.send_signal(sig)
        assert roar.wait(timeout=30) == 4  # the command's own code
        text = err.all()
        job = job_of(repo)
        assert job["exit_code"] == 4 and job["interrupted"] is True, job
        assert {Path(o["path"]).name for o in job["outputs"]} >= {"early.txt", "late.txt"}
        notes = " ".join(job["metadata"]["warnings"])
        assert f"stopped waiting for 1 process(es) left running: {daemon} (" in notes, notes
        assert "stopped waiting" in text
        if backend == "ptrace":
            deadline = time.monotonic() + 10
            while alive(daemon) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not alive(daemon)  # stopping roar ended its tracee (PTRACE_O_EXITKILL)
        else:
            assert alive(daemon)  # left running, untraced
    finally:
        if roar.poll() is None:
            roar.kill()
        pid_file = repo / "daemon.pid"
        if daemon is None and not pid_file.exists():
            time.sleep(0.5)  # it writes its pid 0.3 s after it starts
        if daemon is None and pid_file.exists():
            daemon = int(pid_file.read_text())
        for pid in [daemon, *left_in(repo)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (OSError, TypeError):
                pass


def left_in(repo: Path) -> list[int]:
    """Processes working in the project (roar, a preload reaper, the daemon), never the eBPF
    service."""
    where = os.path.realpath(repo)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") != where:
                continue
            if b"ebpf_service" in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        found.append(int(entry))
    return found


@pytest.mark.parametrize("backend", ["preload"])
def test_no_notice_when_nothing_is_left(project, run_roar, backend):
    (project / "quick.py").write_text("open('x.txt', 'w').write('x')\n")
    commit_all(project, "quick")
    result = run_roar("run", "--tracer", backend, sys.executable, "quick.py", cwd=project)
    assert "roar waits" not in result.stderr and "stopped waiting" not in result.stderr
