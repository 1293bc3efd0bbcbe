"""The eBPF loader service's life cycle, as roar drives it (real service, real BPF)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roar.tracing import ebpf_service
from tests.conftest import ROAR

# Test only: makes a roar process act as another roar build (rust/roar-ebpf/src/lib.rs).
OTHER_BUILD_ENV = "ROAR_EBPF_TEST_OTHER_BUILD"


def _server_pid(sock: Path) -> int | None:
    """The pid of the process listening on ``sock`` (SO_PEERCRED), None if nobody listens."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(sock))
        except OSError:
            return None
        pid, _, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


class ServiceDir:
    """A private socket directory; remembers the services seen there, to end them."""

    def __init__(self, base: Path):
        self.base = base
        self.dir = base.parent
        self.seen: set[int] = set()

    def remember(self) -> None:
        for sock in self.dir.glob("*.sock"):
            pid = _server_pid(sock)
            if pid:
                self.seen.add(pid)


@pytest.fixture
def service_dir(tmp_path, monkeypatch):
    """A private socket directory (a real first use); every service started there is killed."""
    svc = ServiceDir(tmp_path / "svc" / "ebpf.sock")
    monkeypatch.setenv(ebpf_service.SOCKET_ENV, str(svc.base))
    yield svc
    svc.remember()
    for pid in svc.seen:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def own_socket(service_dir):
    return ebpf_service.socket_path()


def _pid(sock) -> int:
    return int(sock.with_suffix(".pid").read_text())


def _roar(repo: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*ROAR, *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _outputs(run_roar, repo: Path, step: str) -> set[str]:
    job = run_roar("show", step, "--json", cwd=repo).json()
    return {Path(o["path"]).name for o in job["outputs"]}


def _outputs_of_job_writing(run_roar, repo: Path, name: str) -> set[str]:
    """The recorded outputs of the job whose command writes ``name`` (steps are numbered when
    a job is recorded, so a long job's number comes after those that ended before it)."""
    jobs = run_roar("log", "--json", cwd=repo).json()["jobs"]
    (step,) = [j["step_ref"] for j in jobs if f"> {name}" in j["command"]]
    return _outputs(run_roar, repo, step)


def _long_job(repo: Path, name: str, seconds: float, env: dict | None = None) -> subprocess.Popen:
    """`roar run --tracer ebpf` of a command that writes ``name`` after ``seconds``; returns once
    the command runs traced (it wrote ``name.started``)."""
    started = repo / f"{name}.started"
    script = f"echo go > {name}.started; sleep {seconds}; echo late > {name}"
    proc = _roar(repo, "run", "--tracer", "ebpf", "sh", "-c", script, env=env)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None, _finish(proc)
        assert time.monotonic() < deadline, "the long job did not start"
        time.sleep(0.05)
    return proc


def test_started_on_demand_once_and_reused(own_socket):
    assert not ebpf_service.is_running()
    assert ebpf_service.ensure_running() == own_socket
    first = _pid(own_socket)
    assert ebpf_service.ensure_running() == own_socket
    assert _pid(own_socket) == first  # reused, not restarted
    assert own_socket.with_suffix(".version").read_text() == ebpf_service._our_version()


def test_the_socket_names_this_build(service_dir):
    """Services of different builds live side by side: the build is in the socket's name."""
    sock = ebpf_service.socket_path()
    assert sock.parent == service_dir.dir
    assert sock != service_dir.base and sock.name.startswith("ebpf-") and sock.suffix == ".sock"
    assert sock == ebpf_service.socket_path()  # stable


def test_a_service_of_another_build_is_replaced(own_socket):
    ebpf_service.ensure_running()
    old = _pid(own_socket)
    own_socket.with_suffix(".version").write_text("0.0.0-some-other-build")
    ebpf_service.ensure_running()
    assert _pid(own_socket) != old
    assert ebpf_service.is_running()
    assert _wait_gone(old, 30), "the replaced service (no jobs) exits"


def test_a_stale_pid_file_never_kills_a_stranger(own_socket):
    own_socket.parent.mkdir(parents=True)
    own_socket.with_suffix(".pid").write_text("1")  # pid 1 is not the service
    assert ebpf_service.stop(own_socket) is False


def test_eight_parallel_first_uses_leave_one_reachable_service(repo, run_roar, service_dir):
    """Issue 13.4: the losers of the start race deleted the winner's .pid/.version, and every
    later eBPF run failed for 15 minutes."""
    procs = [
        _roar(repo, "run", "-q", "--tracer", "ebpf", "sh", "-c", f"echo {i} > out{i}.txt")
        for i in range(8)
    ]
    results = [_finish(p) for p in procs]
    assert [rc for rc, _ in results] == [0] * 8, results
    service_dir.remember()

    later = run_roar("run", "-q", "--tracer", "ebpf", "sh", "-c", "echo 9 > out9.txt", cwd=repo)
    assert later.returncode == 0
    assert _outputs(run_roar, repo, "@9") == {"out9.txt"}

    sock = ebpf_service.socket_path()
    live = _server_pid(sock)
    assert live is not None
    assert _pid(sock) == live  # the pid file names the live service
    assert sock.with_suffix(".version").read_text() == ebpf_service._our_version()
    socks = [p for p in service_dir.dir.glob("*.sock") if _server_pid(p)]
    assert socks == [sock]  # one service, not eight

    check = run_roar("tracer", "check", "ebpf", "--json", cwd=repo).json()
    service = next(c for c in check["checks"] if c["name"] == "service")
    assert str(sock) in service["detail"]  # `roar tracer` names the real socket


def test_services_of_two_builds_coexist_and_a_job_in_flight_is_kept(repo, run_roar, service_dir):
    """A service of another roar build no longer replaces this build's one under a job."""
    job = _long_job(repo, "late.txt", 3)
    service_dir.remember()
    ours = ebpf_service.socket_path()
    ours_pid = _server_pid(ours)
    assert ours_pid

    other = {OTHER_BUILD_ENV: "test-other"}
    done = _roar(repo, "run", "-q", "--tracer", "ebpf", "sh", "-c", "echo b > b.txt", env=other)
    rc, text = _finish(done)
    assert rc == 0, text
    service_dir.remember()

    rc, text = _finish(job)
    assert rc == 0, text
    assert "incomplete" not in text
    assert _server_pid(ours) == ours_pid  # untouched
    live = {p.name: _server_pid(p) for p in service_dir.dir.glob("*.sock")}
    assert len([pid for pid in live.values() if pid]) == 2, live  # one service per build
    assert _outputs_of_job_writing(run_roar, repo, "late.txt") == {"late.txt", "late.txt.started"}


def test_a_replaced_service_finishes_its_jobs_first(repo, run_roar, service_dir):
    """A service found to be of another build is replaced, but its job in flight is kept."""
    job = _long_job(repo, "late.txt", 3)
    sock = ebpf_service.socket_path()
    old = _server_pid(sock)
    assert old
    sock.with_suffix(".version").write_text("0.0.0-another-build")  # as if another build's

    quick = run_roar("run", "-q", "--tracer", "ebpf", "sh", "-c", "echo b > b.txt", cwd=repo)
    assert quick.returncode == 0
    new = _server_pid(sock)
    assert new and new != old  # replaced at once, not after the job
    service_dir.remember()

    rc, text = _finish(job)
    assert rc == 0, text
    assert "incomplete" not in text  # the old service drained the job before it exited
    assert _outputs_of_job_writing(run_roar, repo, "late.txt") == {"late.txt", "late.txt.started"}
    assert _wait_gone(old, 30)
    assert _pid(sock) == new


def test_stop_waits_for_jobs_in_flight_and_reports_a_live_service(repo, run_roar, service_dir):
    job = _long_job(repo, "late.txt", 4)
    sock = ebpf_service.socket_path()
    old = _server_pid(sock)
    assert old
    assert ebpf_service.stop(sock, timeout=0.5) is False  # still finishing its job
    assert _alive(old)

    # meanwhile the next run gets a new service
    run_roar("run", "-q", "--tracer", "ebpf", "true", cwd=repo)
    service_dir.remember()

    rc, text = _finish(job)
    assert rc == 0, text
    assert "incomplete" not in text
    assert _outputs_of_job_writing(run_roar, repo, "late.txt") == {"late.txt", "late.txt.started"}
    assert _wait_gone(old, 30)


def test_stop_of_a_service_that_does_not_exit_reports_failure(service_dir):
    """stop() returned True when the socket went away, even if the process lived on."""
    sock = ebpf_service.socket_path()
    sock.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import signal, socket, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\n"
        "print('up', flush=True); time.sleep(60)\n"
    )
    # argv names the service module, as a real service's does
    stubborn = subprocess.Popen(
        [sys.executable, "-c", code, str(sock), "roar.tracing.ebpf_service"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout.readline().strip() == "up"
        sock.with_suffix(".pid").write_text(str(stubborn.pid))
        t = time.monotonic()
        assert ebpf_service.stop(sock, timeout=1.0) is False
        assert time.monotonic() - t < 5
        assert stubborn.poll() is None
    finally:
        stubborn.kill()
        stubborn.wait()
