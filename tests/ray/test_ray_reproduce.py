"""`roar reproduce` of an output written by a Ray task (issue 19's last test): the plan's one
step is the driver's job, and `--run` replays the driver under `roar run` on the same two-node
cluster (tests/ray/conftest.py) in a fresh worktree, where the task writes the same bytes.

The reproduction's virtualenv holds the recorded packages (ray and its ~35 dependencies):
building it from PyPI takes minutes and needs the network, so the test puts into roar's venv
cache, under the key roar computes for that requirement set, a virtualenv that sees this
interpreter's site-packages (``--system-site-packages``) — what a previous reproduction of the
same recipe would have left there. Everything else is real: the worktree, the replayed
`roar run`, the cluster's traced workers, the verification.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import ROAR, commit_all, make_repo

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("ray")
# The cluster start (when this module runs alone) and two traced drivers on a busy 2-core host.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DRIVER = """
import os
import ray

ray.init(address=os.environ["RAY_ADDRESS"])

@ray.remote(num_cpus=1)
def shout(src, dst):
    with open(src) as f:
        text = f.read()
    with open(dst, "w") as f:
        f.write(text.upper())

# paths from the driver's working directory: a replay in a worktree writes into the worktree
ray.get(shout.remote(os.path.abspath("data/shard.txt"), os.path.abspath("data/out.txt")))
ray.shutdown()
"""


def _roar(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600):
    return subprocess.run(
        [*ROAR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, ray_cluster):
    """A project whose driver's Ray task wrote data/out.txt, recorded by `roar run`."""
    base = tmp_path_factory.mktemp("ray-repro")
    env = {
        **os.environ,
        "RAY_ADDRESS": ray_cluster,
        "RAY_USAGE_STATS_ENABLED": "0",
        "XDG_CACHE_HOME": str(base / "cache"),
    }
    root = make_repo(base / "project")
    subprocess.run([*ROAR, "init", "-y"], cwd=root, env=env, check=True, capture_output=True)
    (root / "driver.py").write_text(DRIVER)
    (root / ".gitignore").write_text("data/\n")
    (root / "data").mkdir()
    (root / "data" / "shard.txt").write_text("a shard for a ray task\n")
    commit_all(root, "driver")
    run = _roar("run", "python", "driver.py", cwd=root, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    job = json.loads(_roar("show", "@1", "--json", cwd=root, env=env).stdout)
    out = root / "data" / "out.txt"
    (task,) = [t for w in job["metadata"]["workers"] for t in w["tasks"] if t["name"] == "shout"]
    assert task["writes"] == [str(out)]  # the output was written by the Ray task
    return root, env, job, blake3(out.read_bytes()).hexdigest()


def _seed_venv_cache(root: Path, env: dict[str, str], target: str) -> None:
    """The recorded requirement set's cached venv: one that sees this interpreter's packages."""
    from roar.reproduce import environment

    listed = _roar("reproduce", target, "--list-requirements", cwd=root, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "==" in line]
    assert any(line.startswith("ray==") for line in lines), lines
    path = Path(env["XDG_CACHE_HOME"]) / "roar" / "venvs" / environment.venv_key(lines)
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(path)
    (path / environment.COMPLETE).write_text("\n".join(lines) + "\n")


def test_the_plan_of_a_ray_tasks_output_is_the_drivers_job(recorded):
    root, env, job, digest = recorded
    plan = _roar("reproduce", digest[:12], "--json", cwd=root, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    doc = json.loads(plan.stdout)
    (step,) = doc["steps"]
    assert step["job_uid"] == job["job_uid"]
    assert step["argv"] == ["python", "driver.py"]
    assert {o["path"]: o["hash"] for o in step["outputs"]}[str(root / "data" / "out.txt")] == digest
    assert [s["path"] for s in doc["sources"]] == [str(root / "data" / "shard.txt")]


def test_reproduce_run_replays_the_driver_on_the_cluster_and_the_hash_matches(recorded, tmp_path):
    root, env, _job, digest = recorded
    _seed_venv_cache(root, env, digest[:12])
    into = tmp_path / "repro"
    run = _roar("reproduce", digest[:12], "--run", "-y", "--into", str(into), cwd=root, env=env)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    out = into / "data" / "out.txt"
    assert blake3(out.read_bytes()).hexdigest() == digest
    (row,) = [line for line in run.stdout.splitlines() if str(out) in line]
    assert row.startswith("match") and row.endswith("(target)"), run.stdout
    assert "Reproduced: the target matches" in run.stderr
    assert "Partial worker lineage" not in said
    # the replay is itself recorded in the worktree's store, the task's write by its worker
    replay = json.loads(_roar("show", "@1", "--json", cwd=into, env=env).stdout)
    assert replay["command"] == "python driver.py"
    (task,) = [t for w in replay["metadata"]["workers"] for t in w["tasks"] if t["name"] == "shout"]
    assert task["writes"] == [str(out)]
    assert {o["path"]: o["hash"] for o in replay["outputs"]}[str(out)] == digest
