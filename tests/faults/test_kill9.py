"""kill -9 of roar, at random points, never loses the job and never invents what it did not see
(issue 13, item 3).

roar writes an in-flight record under `.roar/inflight/` before the command starts; when roar is
killed, the next roar command that opens the store for writing records the job as interrupted
from what the tracer kept: the preload log (its reaper outlives roar), the eBPF service (it keeps
tracing a job whose client vanished and holds its records for a claim), or the summary the backend
wrote when the tree ended. ptrace's tracer dies with roar and takes the tree with it
(PTRACE_O_EXITKILL): the job is recorded with no files, saying so. An exit code nobody saw is
NULL. Real processes, the real store, every backend; each trial kills roar at a random moment
before, while or after the command runs (seeded per trial: a failure names its seed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roar.record.hashing import hash_bytes
from tests.conftest import ROAR, commit_all
from tests.faults.conftest import BACKENDS

TRIALS = 20
FILES = 150
WORKLOAD = """\
import sys, time
open("started", "w").close()
for i in range(int(sys.argv[1])):
    with open(f"o{i:04d}.txt", "w") as f:
        f.write(f"{i}\\n")
    time.sleep(0.002)
open("done", "w").close()
sys.exit(3)
"""


def tree_pids(repo: Path) -> list[int]:
    """Processes (not this one) whose working directory is the project: roar, its reaper, the
    command and anything it started (never the eBPF service, wherever it was started)."""
    where = os.path.realpath(repo)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") != where:
                continue
        except OSError:
            continue
        if b"roar.tracing.ebpf_service" in _cmdline(int(entry)):
            continue
        found.append(int(entry))
    return found


def kill_all(repo: Path) -> None:
    for pid in tree_pids(repo):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_for_tree_end(repo: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while tree_pids(repo):
        if time.monotonic() > deadline:
            raise AssertionError(f"the traced tree did not end: {tree_pids(repo)}")
        time.sleep(0.05)


def wait_for(path: Path, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)


def roar_json(repo: Path, *args: str):
    proc = subprocess.run(
        [*ROAR, *args, "--json"], cwd=repo, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    import json

    return json.loads(proc.stdout), proc.stderr


def warnings_of(job: dict) -> list[str]:
    return list((job.get("metadata") or {}).get("warnings") or [])


def check_outputs(repo: Path, job: dict) -> set[str]:
    """Every recorded output holds the digest of the file's bytes (nothing made up)."""
    names = set()
    for out in job["outputs"]:
        path = Path(out["path"])
        assert path.parent == repo, out
        assert out["hash"] == hash_bytes(path.read_bytes()), f"wrong digest for {path}"
        names.add(path.name)
    return names


@pytest.fixture
def project(repo: Path, ebpf_service) -> Path:
    (repo / "work.py").write_text(WORKLOAD)
    (repo / ".gitignore").write_text(".roar/\n")
    commit_all(repo, "workload")
    return repo


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_of_roar_at_a_random_point_never_loses_the_job(project: Path, backend, trial):
    repo = project
    rng = random.Random(f"{backend}-{trial}")
    phase = rng.choice(["starting", "running", "running", "recording"])
    argv = [sys.executable, "work.py", str(FILES)]
    log = repo.parent / "roar-run.log"
    with open(log, "wb") as err:
        roar = subprocess.Popen(
            [*ROAR, "run", "--tracer", backend, *argv],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        if phase == "starting":
            time.sleep(rng.uniform(0.0, 0.6))
        elif phase == "running":
            wait_for(repo / "started", 60, roar)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            wait_for(repo / "done", 60, roar)
            time.sleep(rng.uniform(0.0, 0.4))
        roar.kill()
        roar.wait(timeout=30)
        wait_for_tree_end(repo)
        folder = repo / ".roar" / "inflight"
        ids = [p.stem for p in folder.glob("*.json") if p.name.count(".") == 1]

        data, stderr = roar_json(repo, "log")
        ran = (repo / "started").exists()
        context = f"[{backend}, trial {trial}, killed {phase}] roar's stderr:\n{log.read_text()}\nnext command's stderr:\n{stderr}"
        jobs = [j for j in data["jobs"] if j["argv"][1:] == argv[1:]]
        assert len(jobs) <= 1, f"the job was recorded twice {context}"
        if ran:
            assert len(jobs) == 1, f"the command ran but its job was lost {context}"
        # nothing left behind: no in-flight record, no preload log, nothing for a later command
        assert not [p for p in folder.glob("*.json")], context
        for ident in ids:
            for base in ("/dev/shm", "/tmp"):
                assert not Path(base, f"roar-preload-{ident}").exists(), context
        again = subprocess.run([*ROAR, "log"], cwd=repo, capture_output=True, text=True, timeout=60)
        assert "was stopped" not in again.stderr, context  # recorded once
        if not jobs:
            return
        (job,) = jobs
        outputs = check_outputs(repo, job)
        everything = {f"o{i:04d}.txt" for i in range(FILES)}
        if not job["interrupted"]:  # roar finished before the kill
            assert job["exit_code"] == 3 and everything <= outputs, context
            return
        assert job["exit_code"] in (None, 3), f"an exit code was invented {context}"
        assert "was stopped while" in stderr, context
        notes = " ".join(warnings_of(job))
        assert "hashed its files then" in notes, context
        if backend == "ptrace":
            complete = everything <= outputs and job["exit_code"] == 3  # killed after the tree
            assert complete or (not outputs and "PTRACE_O_EXITKILL" in notes), context
        elif (repo / "done").exists() and "lost" not in notes and "dropped" not in notes:
            # the tree finished with roar gone: everything it wrote is recorded, not a part
            missing = everything - outputs
            assert not missing, (
                f"{len(missing)} outputs missing, e.g. {sorted(missing)[:3]} {context}"
            )
    finally:
        kill_all(repo)


def test_killing_the_preload_reaper_records_an_interrupted_job_with_an_unknown_exit(project):
    """The reaper's death is not "every process exited": roar says so, the exit code is NULL
    (not a made-up 127), and the job is interrupted with what the log held."""
    repo = project
    argv = [sys.executable, "work.py", "400"]
    roar = subprocess.Popen(
        [*ROAR, "run", "--tracer", "preload", *argv],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(repo / "started", 60, roar)
        time.sleep(0.2)
        children = Path(f"/proc/{roar.pid}/task/{roar.pid}/children").read_text().split()
        reapers = [int(c) for c in children if _cmdline(int(c)) == _cmdline(roar.pid)]
        assert len(reapers) == 1, (children, reapers)
        os.kill(reapers[0], signal.SIGKILL)
        _out, err = roar.communicate(timeout=120)
        assert roar.returncode == 1, err  # not the command's code: it was not seen
        assert "Exit code: unknown" in err and "killed by signal 9" in err, err
        wait_for_tree_end(repo)
        data, _ = roar_json(repo, "log")
        (job,) = data["jobs"]
        assert job["interrupted"] is True and job["exit_code"] is None, job
        assert any("reaper" in w for w in warnings_of(job))
        outputs = check_outputs(repo, job)
        assert outputs and len(outputs) < 402  # what the log held, nothing invented
    finally:
        kill_all(repo)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


WAITING = """\
import os, sys, time
open("started", "w").close()
open("a.txt", "w").write("a")
while not os.path.exists("go"):
    time.sleep(0.01)
open("b.txt", "w").write("b")
sys.exit(5)
"""


@pytest.mark.parametrize("backend", ["ebpf", "preload"])
def test_a_job_still_running_when_roar_died_is_recorded_once_it_has_ended(project, backend):
    """Commands run while the tree still runs leave it alone (and say so); once it has ended,
    of two commands racing to record it, one does, with everything it did."""
    repo = project
    (repo / "waiting.py").write_text(WAITING)
    commit_all(repo, "waiting")
    roar = subprocess.Popen(
        [*ROAR, "run", "--tracer", backend, sys.executable, "waiting.py"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(repo / "a.txt", 60, roar)
        time.sleep(0.2)
        roar.kill()
        roar.wait(timeout=30)
        data, stderr = roar_json(repo, "log")
        assert data["jobs"] == [] and "still runs" in stderr, stderr
        (repo / "go").write_text("")
        wait_for_tree_end(repo)
        racing = [
            subprocess.Popen(
                [*ROAR, "log", "--json"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for p in racing:
            p.communicate(timeout=120)
            assert p.returncode == 0
        data, _ = roar_json(repo, "log")
        (job,) = data["jobs"]
        assert job["interrupted"] is True and job["exit_code"] in (None, 5), job
        assert check_outputs(repo, job) >= {"a.txt", "b.txt"}
    finally:
        kill_all(repo)


def test_a_job_recorded_before_roar_died_is_not_recorded_again(project, run_roar):
    """roar was killed between writing the job and removing its in-flight record."""
    import json

    repo = project
    run_roar("run", "--tracer", "ptrace", sys.executable, "work.py", "3", cwd=repo, check=False)
    data, _ = roar_json(repo, "log")
    (job,) = data["jobs"]
    import sqlite3

    with sqlite3.connect(repo / ".roar" / "roar.db") as conn:
        started, identity = conn.execute("SELECT started_at, step_identity FROM jobs").fetchone()
    folder = repo / ".roar" / "inflight"
    folder.mkdir(exist_ok=True)
    record = {
        "version": 1, "id": "1-999999", "pid": 999999, "kind": "run", "argv": job["argv"],
        "command": job["command"], "cwd": str(repo), "repo": str(repo), "name": None,
        "forced_step": None, "algorithm": "blake3", "backend": "ptrace", "started_at": started,
        "step_identity": identity, "git": {}, "dirty": [], "diff_hash": None,
    }  # fmt: skip
    (folder / "1-999999.json").write_text(json.dumps(record))
    data, stderr = roar_json(repo, "log")
    assert len(data["jobs"]) == 1, stderr
    assert not (folder / "1-999999.json").exists()
