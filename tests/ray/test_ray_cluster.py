"""`roar run` of a Ray driver on a real two-node cluster (tests/ray/conftest.py): the workers'
file accesses, on both nodes, join the driver's one job with the right BLAKE3 hashes; numpy's
C-level writes in an actor and a task's `cp` count; the job lists its workers; a cluster policy
forbidding the hook leaves the run working with one "Partial worker lineage" warning.

One `roar run` of the pipeline driver serves most tests (Ray workers start slowly on a busy
2-core machine); the policy case runs its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROAR, commit_all, make_repo

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("ray")
# A cluster start (retried when Ray's start-up timeouts are missed on a loaded machine, up to
# ~7 minutes: it is part of the first test's time) and four traced drivers: ~3-4 minutes here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SHARDS = 4

PIPELINE = """
import json, os, subprocess, sys
import ray

ray.init(address=os.environ["RAY_ADDRESS"])
data = sys.argv[1]

@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def work(i):
    import time
    with open(os.path.join(data, f"shard{i}.txt")) as f:
        text = f.read()
    with open(os.path.join(data, f"out{i}.txt"), "w") as f:
        f.write(text.upper())
    time.sleep(1.0)  # hold the node's one CPU so the next task goes to the other node
    return ray.get_runtime_context().get_node_id()

@ray.remote(num_cpus=1)
def copy():
    subprocess.run(["cp", os.path.join(data, "shard0.txt"), os.path.join(data, "copied.txt")],
                   check=True)

@ray.remote(num_cpus=1)
class Saver:
    def save(self):
        import numpy as np
        np.save(os.path.join(data, "ckpt.npy"), np.arange(1000))

nodes = ray.get([work.remote(i) for i in range(SHARDS_N)])
ray.get(copy.remote())
saver = Saver.remote()
ray.get(saver.save.remote())
with open("driver_nodes.json", "w") as f:
    json.dump(nodes, f)
ray.shutdown()
""".replace("SHARDS_N", str(SHARDS))

SMALL = """
import os, sys
import ray

ray.init(address=os.environ["RAY_ADDRESS"])

@ray.remote(num_cpus=1)
def write(path):
    with open(path, "w") as f:
        f.write("from a worker")

ray.get(write.remote(os.path.abspath("data/worker_out.txt")))
with open("data/driver_out.txt", "w") as f:
    f.write("from the driver")
ray.shutdown()
"""


def _roar(*args: str, cwd: Path, env: dict[str, str], timeout: float = 400):
    import subprocess

    return subprocess.run(
        [*ROAR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _digest(path: Path) -> str:
    return blake3(path.read_bytes()).hexdigest()


def _project(root: Path, driver: str) -> Path:
    import subprocess

    make_repo(root)
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    (root / "driver.py").write_text(driver)
    (root / ".gitignore").write_text("data/\ndriver_nodes.json\n")
    (root / "data").mkdir()
    for i in range(SHARDS):
        (root / "data" / f"shard{i}.txt").write_text(f"shard {i}\n" * (i + 1))
    commit_all(root, "driver")
    return root


@pytest.fixture(scope="module")
def env(ray_cluster) -> dict[str, str]:
    return {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, env):
    root = _project(tmp_path_factory.mktemp("ray") / "project", PIPELINE)
    run = _roar("run", "python", "driver.py", str(root / "data"), cwd=root, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    shown = _roar("show", "@1", "--json", cwd=root, env=env)
    assert shown.returncode == 0, shown.stderr
    return root, run, json.loads(shown.stdout)


def _files(job: dict, role: str) -> dict[str, str]:
    return {f["path"]: f["hash"] for f in job[role]}


def test_every_shard_is_an_input_with_its_blake3(pipeline):
    root, _run, job = pipeline
    inputs = _files(job, "inputs")
    for i in range(SHARDS):
        shard = root / "data" / f"shard{i}.txt"
        assert inputs[str(shard)] == _digest(shard)


def test_every_output_from_both_nodes_is_an_output_with_its_blake3(pipeline):
    root, _run, job = pipeline
    outputs = _files(job, "outputs")
    for i in range(SHARDS):
        out = root / "data" / f"out{i}.txt"
        assert outputs[str(out)] == _digest(out)
    task_nodes = set(json.loads((root / "driver_nodes.json").read_text()))
    assert len(task_nodes) == 2  # the tasks did run on both nodes
    work_nodes = {
        w["node_id"]
        for w in job["metadata"]["workers"]
        if any(t["name"] == "work" for t in w["tasks"])
    }
    assert work_nodes == task_nodes


def test_an_actors_numpy_checkpoint_is_an_output(pipeline):
    root, _run, job = pipeline
    ckpt = root / "data" / "ckpt.npy"
    assert _files(job, "outputs")[str(ckpt)] == _digest(ckpt)
    (saver,) = [
        w for w in job["metadata"]["workers"] if any(t["name"] == "Saver.save" for t in w["tasks"])
    ]
    (save,) = [t for t in saver["tasks"] if t["name"] == "Saver.save"]
    assert str(ckpt) in save["writes"]


def test_a_tasks_cp_is_seen_and_attributed_to_the_task(pipeline):
    root, _run, job = pipeline
    copied = root / "data" / "copied.txt"
    assert _files(job, "outputs")[str(copied)] == _digest(copied)
    tasks = [t for w in job["metadata"]["workers"] for t in w["tasks"] if t["name"] == "copy"]
    assert len(tasks) == 1
    assert str(copied) in tasks[0]["writes"]
    assert str(root / "data" / "shard0.txt") in tasks[0]["reads"]


def test_each_work_task_is_tagged_with_its_shard(pipeline):
    root, _run, job = pipeline
    seen = {}
    for worker in job["metadata"]["workers"]:
        assert worker["node_id"] and worker["pid"] > 0
        for task in worker["tasks"]:
            if task["name"] == "work":
                (out,) = [p for p in task["writes"] if "/out" in p]
                seen[out] = task["reads"]
    assert sorted(seen) == [str(root / "data" / f"out{i}.txt") for i in range(SHARDS)]
    for i in range(SHARDS):
        assert str(root / "data" / f"shard{i}.txt") in seen[str(root / "data" / f"out{i}.txt")]


def test_show_lists_the_workers_and_dag_shows_one_step(pipeline, env):
    root, run, job = pipeline
    assert "Partial worker lineage" not in run.stdout + run.stderr
    shown = _roar("show", "@1", cwd=root, env=env)
    workers = job["metadata"]["workers"]
    assert f"Ray workers ({len(workers)} on 2 node(s)):" in shown.stdout
    for w in workers:
        assert f"pid {w['pid']}" in shown.stdout
    dag = _roar("dag", "--json", cwd=root, env=env)
    assert dag.returncode == 0, dag.stderr
    assert json.loads(dag.stdout)["total_steps"] == 1
    # roar's own variables are not recorded as the job's environment
    assert "RAY_RUNTIME_ENV_HOOK" not in job["metadata"]["env"]
    assert "ROAR_RAY_OUT" not in job["metadata"]["env"]


def test_reproduce_plans_an_output_made_by_a_ray_task(pipeline, env):
    root, _run, job = pipeline
    out = root / "data" / "out1.txt"
    plan = _roar("reproduce", str(out), "--json", cwd=root, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    text = plan.stdout
    assert job["job_uid"] in text and "driver.py" in text


def test_a_policy_forbidding_the_hook_warns_once_and_records_the_driver(tmp_path, env, ray_cluster):
    root = _project(tmp_path / "project", SMALL)
    policy_env = {
        **env,
        "RAY_RUNTIME_ENV_HOOK": "policy.forbid_setup_hooks",
        "PYTHONPATH": str(Path(__file__).parent),
    }
    run = _roar("run", "python", "driver.py", cwd=root, env=policy_env)
    assert run.returncode == 0, run.stdout + run.stderr
    said = run.stdout + run.stderr
    assert said.count("Partial worker lineage") == 1, said
    assert "not allowed on this cluster" in said
    job = json.loads(_roar("show", "@1", "--json", cwd=root, env=env).stdout)
    outputs = _files(job, "outputs")
    driver_out = root / "data" / "driver_out.txt"
    assert outputs[str(driver_out)] == _digest(driver_out)
    assert (root / "data" / "worker_out.txt").exists()  # the task ran, untraced
    assert str(root / "data" / "worker_out.txt") not in outputs
    assert "workers" not in job["metadata"]


def test_collection_through_ray_tasks_as_for_nodes_on_other_machines(tmp_path, env):
    """Nodes on other machines send their workers' logs back as the result of a collection
    task pinned to each node (ROAR_RAY_COLLECT=tasks treats every node so). The driver never
    calls ray.shutdown(): the collection runs at exit, before Ray's own exit handler."""
    root = _project(tmp_path / "project", SMALL.replace("ray.shutdown()\n", ""))
    assert "shutdown" not in (root / "driver.py").read_text()
    run = _roar("run", "python", "driver.py", cwd=root, env={**env, "ROAR_RAY_COLLECT": "tasks"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Partial worker lineage" not in run.stdout + run.stderr
    job = json.loads(_roar("show", "@1", "--json", cwd=root, env=env).stdout)
    worker_out = root / "data" / "worker_out.txt"
    assert _files(job, "outputs")[str(worker_out)] == _digest(worker_out)
    (task,) = [t for w in job["metadata"]["workers"] for t in w["tasks"] if t["name"] == "write"]
    assert task["writes"] == [str(worker_out)]
