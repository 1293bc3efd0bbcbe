"""Traced workers started ahead for the next `roar run` of a Ray driver (roar/ray/pool.py).

The notes alone (no cluster): a note is taken by one driver only and only for its own
runtime_env. On the two-node cluster (tests/ray/conftest.py): after a traced job the driver
has started the next job's worker and left a note; the next traced job of the same driver
takes it, its task runs in that worker (started before the job), and its write is recorded
with the right BLAKE3; with ROAR_RAY_POOL=0 nothing is started ahead.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from roar.ray import pool
from tests.conftest import ROAR, commit_all, make_repo

TOKEN = "ROAR_RAY_TOKEN"
ENV = {"env_vars": {TOKEN: "ray1xaaaa", "A": "1"}, "worker_process_setup_hook": "m.setup"}


def test_a_note_is_taken_once_and_only_for_its_runtime_env(tmp_path, monkeypatch):
    key = pool.key_of(ENV, TOKEN)
    assert key is not None
    # the token is not part of the key: the next job's own token does not matter
    assert pool.key_of({**ENV, "env_vars": {TOKEN: "ray2xbbbb", "A": "1"}}, TOKEN) == key
    other = pool.key_of({**ENV, "env_vars": {TOKEN: "ray1xaaaa", "A": "2"}}, TOKEN)
    assert other is not None and other != key
    (tmp_path / "roar-ray-pool-ray9xcccp.json").write_text(
        json.dumps({"token": "ray9xcccp", "key": key, "at": time.time()})
    )
    assert pool.claim(str(tmp_path), other) is None  # another runtime_env: left alone
    elsewhere = tmp_path / "roar-ray-pool-ray8xeeeep.json"
    elsewhere.write_text(
        json.dumps({"token": "ray8xeeeep", "key": key, "ray_address": "10.0.0.9:6379", "at": 1e12})
    )
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert pool.claim(str(tmp_path), key) == "ray9xcccp"  # not the other cluster's pool
    elsewhere.unlink()
    (tmp_path / "roar-ray-pool-ray9xcccp.json").write_text(
        json.dumps({"token": "ray9xcccp", "key": key, "at": time.time()})
    )
    assert pool.claim(str(tmp_path), key) == "ray9xcccp"
    assert pool.claim(str(tmp_path), key) is None  # taken
    assert list(tmp_path.iterdir()) == []


def test_stale_notes_are_removed_and_a_callable_hook_has_no_pool(tmp_path):
    key = pool.key_of(ENV, TOKEN)
    assert key is not None
    stale = tmp_path / "roar-ray-pool-ray9xddddp.json"
    stale.write_text(json.dumps({"token": "ray9xddddp", "key": key, "at": time.time() - 2e5}))
    assert pool.claim(str(tmp_path), key) is None
    assert not stale.exists()
    # a callable setup hook is exported per job under its own key: never the same runtime_env
    assert pool.key_of({**ENV, "worker_process_setup_hook": print}, TOKEN) is None


def test_sweep_removes_only_old_logs_of_workers_that_are_gone(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    old = time.time() - 7200
    folders = {
        "old_gone": (f"roar-preload-ray1xaaaap-w{proc.pid}", old),
        "new_gone": (f"roar-preload-ray1xbbbbp-w{proc.pid}", time.time()),
        "old_alive": (f"roar-preload-ray1xccccp-w{os.getpid()}", old),
    }
    for name, mtime in folders.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "events.log").write_bytes(b"x")
        os.utime(tmp_path / name / "events.log", (mtime, mtime))
    pool.sweep(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [folders["new_gone"][0], folders["old_alive"][0]]
    )


DRIVER = """
import os, sys
import ray

ray.init(address=os.environ["RAY_ADDRESS"], runtime_env={"env_vars": {"POOL_TEST": "MARK"}})

@ray.remote(num_cpus=1)
def write(path):
    with open(path, "w") as f:
        f.write("written by pid %d" % os.getpid())
    return os.getpid()

print("PID", ray.get(write.remote(os.path.abspath(sys.argv[1]))))
ray.shutdown()
"""


def _notes(address: str) -> dict[str, dict]:
    """The pool notes left by drivers whose RAY_ADDRESS was ``address`` (keys are digests)."""
    found = {}
    for name in os.listdir("/dev/shm"):
        if name.startswith("roar-ray-pool-") and name.endswith(".json"):
            try:
                note = json.loads(Path("/dev/shm", name).read_text())
            except (OSError, ValueError):
                continue
            if note.get("ray_address") == address:
                found[note["token"]] = note
    return found


def _pooled_pids(token: str) -> set[int]:
    """The pids of the workers started ahead under ``token`` that are up (their log exists)."""
    prefix = f"roar-preload-{token}-w"
    return {int(n[len(prefix) :]) for n in os.listdir("/dev/shm") if n.startswith(prefix)}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_next_traced_job_runs_in_the_worker_started_ahead(tmp_path, ray_cluster):
    pytest.importorskip("ray")
    blake3 = pytest.importorskip("blake3").blake3
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("the worker logs are not in /dev/shm on this machine")
    mark = uuid.uuid4().hex  # this test's runtime_env: no other job takes its pool
    root = make_repo(tmp_path / "project")
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([*ROAR, "init", "-y"], cwd=root, env=env, check=True, capture_output=True)
    (root / "driver.py").write_text(DRIVER.replace("MARK", mark))
    (root / ".gitignore").write_text("out*.txt\n")
    commit_all(root, "driver")

    def run(out: str, extra: dict[str, str] | None = None) -> int:
        proc = subprocess.run(
            [*ROAR, "run", "python", "driver.py", out],
            cwd=root, env={**env, **(extra or {})}, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Partial worker lineage" not in proc.stdout + proc.stderr
        return int(proc.stdout.split("PID ", 1)[1].split()[0])

    before = set(_notes(ray_cluster))
    run("out1.txt", {"ROAR_RAY_POOL": "0"})
    assert set(_notes(ray_cluster)) <= before  # turned off: nothing started ahead

    run("out2.txt")
    (token,) = set(_notes(ray_cluster)) - before
    deadline = time.monotonic() + 300  # the worker starts in the background (two imports of ray)
    while not _pooled_pids(token) and time.monotonic() < deadline:
        time.sleep(1)
    ahead = _pooled_pids(token)
    assert ahead, "no worker was started ahead"

    pid = run("out3.txt")
    assert pid in ahead  # the task ran in the worker started before the job
    after = set(_notes(ray_cluster))
    assert token not in after  # the note was taken, and a new one left for the next job
    assert len(after - before) == 1
    job = json.loads(
        subprocess.run(
            [*ROAR, "show", "@3", "--json"], cwd=root, env=env, capture_output=True, text=True
        ).stdout
    )
    out = root / "out3.txt"
    assert {f["path"]: f["hash"] for f in job["outputs"]}[str(out)] == blake3(
        out.read_bytes()
    ).hexdigest()
    (worker,) = [w for w in job["metadata"]["workers"] if w["pid"] == pid]
    assert [t["writes"] for t in worker["tasks"] if t["name"] == "write"] == [[str(out)]]
