"""`roar run` of a Ray driver whose tasks read and write S3 objects (boto3) on the loopback S3
server (moto, tests/transfer's fixture) on the two-node cluster of tests/ray/conftest.py: the
objects are remote inputs and outputs of the driver's one job with their BLAKE3, each tagged
with the worker's node (where the task ran: the two tasks are spread when the nodes are free),
pid and task; workers see ROAR_CLUSTER_AWS_ENDPOINT_URL as
AWS_ENDPOINT_URL while the driver uses its own (localhost) endpoint."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.conftest import ROAR, commit_all, make_repo
from tests.transfer.conftest import S3, s3  # noqa: F401 - the loopback S3 server fixture

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("ray")
pytest.importorskip("boto3")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # may carry the cluster's start

DRIVER = """
import json, os, sys
import boto3, ray

bucket = sys.argv[1]
credentials = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                          "AWS_DEFAULT_REGION")}
ray.init(address=os.environ["RAY_ADDRESS"], runtime_env={"env_vars": credentials})

@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def transform(i):
    import time
    client = boto3.client("s3")
    data = client.get_object(Bucket=bucket, Key=f"in/{i}.txt")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"out/{i}.txt", Body=data.upper())
    time.sleep(1.0)  # hold the node's one CPU so the other task goes to the other node
    return os.environ.get("AWS_ENDPOINT_URL"), ray.get_runtime_context().get_node_id()

seen = ray.get([transform.remote(i) for i in range(2)])
boto3.client("s3").put_object(Bucket=bucket, Key="driver.txt", Body=b"from the driver")
print("ENDPOINTS", [s[0] for s in seen])
print("NODES", json.dumps(sorted({s[1] for s in seen})))
ray.shutdown()
"""


@pytest.fixture(scope="module")
def traced(tmp_path_factory, ray_cluster, s3: S3) -> dict[str, Any]:  # noqa: F811
    root = make_repo(tmp_path_factory.mktemp("ray_s3") / "project")
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    (root / "driver.py").write_text(DRIVER)
    commit_all(root, "driver")
    bucket = s3.bucket()
    inputs = {f"in/{i}.txt": f"shard {i} in the bucket\n".encode() * (i + 1) for i in range(2)}
    for key, data in inputs.items():
        s3.client.put_object(Bucket=bucket, Key=key, Body=data)
    port = s3.endpoint.rsplit(":", 1)[1]
    env = {
        **os.environ,
        **s3.env,
        "AWS_ENDPOINT_URL": f"http://localhost:{port}",  # the driver's
        "ROAR_CLUSTER_AWS_ENDPOINT_URL": s3.endpoint,  # the workers'
        "RAY_ADDRESS": ray_cluster,
        "RAY_USAGE_STATS_ENABLED": "0",
        # every node's records come back through the object store, as from another machine
        "ROAR_RAY_COLLECT": "tasks",
    }
    run = subprocess.run([*ROAR, "run", "python", "driver.py", bucket], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    shown = subprocess.run([*ROAR, "show", "@1", "--json"], cwd=root, env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    return {"bucket": bucket, "inputs": inputs, "run": run, "job": json.loads(shown.stdout)}


def test_task_s3_reads_and_writes_join_the_drivers_job(traced, s3: S3):  # noqa: F811
    job, bucket = traced["job"], traced["bucket"]
    inputs = {f["path"]: f["hash"] for f in job["inputs"]}
    outputs = {f["path"]: f["hash"] for f in job["outputs"]}
    for key, data in traced["inputs"].items():
        assert inputs[f"s3://{bucket}/{key}"] == blake3(data).hexdigest()
        out = key.replace("in/", "out/")
        written = s3.client.get_object(Bucket=bucket, Key=out)["Body"].read()
        assert written == data.upper()
        assert outputs[f"s3://{bucket}/{out}"] == blake3(written).hexdigest()
    assert outputs[f"s3://{bucket}/driver.txt"] == blake3(b"from the driver").hexdigest()


def test_each_object_is_tagged_with_the_workers_node_pid_and_task(traced):
    job, bucket = traced["job"], traced["bucket"]
    listed = {o["url"]: o for o in job["metadata"]["s3"]}
    nodes = set()
    for i in range(2):
        for url in (f"s3://{bucket}/in/{i}.txt", f"s3://{bucket}/out/{i}.txt"):
            (who,) = listed[url]["processes"]
            assert who["task"] == "transform" and who["node_id"] and who["pid"] > 0
            nodes.add(who["node_id"])
        tasks = [t for w in job["metadata"]["workers"] for t in w["tasks"]]
        assert any(f"s3://{bucket}/in/{i}.txt" in t.get("reads", []) for t in tasks)
        assert any(f"s3://{bucket}/out/{i}.txt" in t.get("writes", []) for t in tasks)
    (line,) = [x for x in traced["run"].stdout.splitlines() if x.startswith("NODES ")]
    assert nodes == set(json.loads(line[len("NODES ") :]))  # where the tasks said they ran
    (driver,) = listed[f"s3://{bucket}/driver.txt"]["processes"]
    assert "node_id" not in driver  # the driver's own process


def test_workers_see_the_cluster_endpoint_and_the_record_keeps_s3_urls(traced, s3: S3):  # noqa: F811
    assert f"ENDPOINTS {[s3.endpoint, s3.endpoint]}" in traced["run"].stdout
    env = traced["job"]["metadata"]["env"]
    assert "ROAR_S3_OUT" not in env
