"""`roar run python script.py` whose script reads and writes S3 objects (boto3 get_object,
put_object, a multipart upload_file, download_file; s3fs open/read and write) on the loopback
S3 server: the job's remote inputs and outputs carry the ETag, version, size and BLAKE3 that
the server and the bytes say. One run serves the checks of what it recorded (module scope)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import ROAR, commit_all, make_repo
from tests.remote_access.conftest import S3, Project

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("boto3")
pytest.importorskip("s3fs")

MIB = 1 << 20

SCRIPT = """
import os, sys
import boto3, s3fs
from boto3.s3.transfer import TransferConfig

bucket = sys.argv[1]
client = boto3.client("s3")
small = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)

body = client.get_object(Bucket=bucket, Key="in/small.txt")["Body"].read()
client.put_object(Bucket=bucket, Key="out/put.txt", Body=body.upper())

with open("big.bin", "wb") as f:  # ~20 MiB: a multipart upload of 3 parts
    f.write(os.urandom(20 * MIB))
client.upload_file("big.bin", bucket, "out/big.bin", Config=small)
client.download_file(bucket, "in/large.bin", "large.bin", Config=small)
client.get_object(Bucket=bucket, Key="in/partial.bin", Range="bytes=0-99")["Body"].read()

fs = s3fs.S3FileSystem()
with fs.open(f"{bucket}/in/s3fs.txt", "rb", block_size=MIB) as f:
    text = f.read()  # ~3 MiB in 1 MiB ranges, read in order
with fs.open(f"{bucket}/out/s3fs.txt", "wb") as f:
    f.write(text[::-1])
print("done", len(body), len(text))
""".replace("MIB", str(MIB))


def roar_json(project: Project, *args: str) -> Any:
    return json.loads(project.roar(*args, "--json").stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory, s3: S3) -> dict[str, Any]:
    """One traced run of SCRIPT; what it recorded and what the server says."""
    root = make_repo(tmp_path_factory.mktemp("s3run") / "project")
    (root / ".gitignore").write_text("*.bin\n")
    (root / "script.py").write_text(SCRIPT)
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    commit_all(root, "initial")
    project = Project(root, s3)
    bucket = s3.bucket()
    s3.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    inputs = {
        "in/small.txt": b"small object read with get_object\n",
        "in/s3fs.txt": bytes(range(256)) * (3 * MIB // 256 + 17),
        "in/large.bin": bytes(reversed(range(256))) * (12 * MIB // 256),
    }
    for key, data in inputs.items():
        s3.client.put_object(Bucket=bucket, Key=key, Body=data)
    s3.client.put_object(Bucket=bucket, Key="in/partial.bin", Body=b"p" * 4096)
    done = project.roar("run", "python", "script.py", bucket)
    return {
        "project": project,
        "bucket": bucket,
        "inputs": inputs,
        "stdout": done.stdout,
        "job": roar_json(project, "show", "@1"),
    }


def head(s3: S3, bucket: str, key: str) -> dict[str, Any]:
    h = s3.client.head_object(Bucket=bucket, Key=key)
    return {
        "etag": h["ETag"].strip('"'),
        "version_id": h.get("VersionId"),
        "size": h["ContentLength"],
    }


def remote_of(run: dict[str, Any], key: str) -> dict[str, Any]:
    url = f"s3://{run['bucket']}/{key}"
    shown = roar_json(run["project"], "show", url)
    (row,) = [r for r in shown["remote_objects"] if r["url"] == url]
    return {"shown": shown, "row": row}


def test_reads_are_inputs_with_the_servers_etag_version_and_the_bytes_blake3(run, s3: S3):
    inputs = {f["path"]: f for f in run["job"]["inputs"]}
    for key, data in run["inputs"].items():
        url = f"s3://{run['bucket']}/{key}"
        assert url in inputs, (url, sorted(inputs))
        assert inputs[url]["hash"] == blake3(data).hexdigest(), url
        row = remote_of(run, key)["row"]
        assert {k: row[k] for k in ("etag", "version_id", "size")} == head(s3, run["bucket"], key)
        assert row["hash"] == blake3(data).hexdigest()


def test_writes_are_outputs_with_the_servers_etag_version_and_the_bytes_blake3(run, s3: S3):
    outputs = {f["path"]: f for f in run["job"]["outputs"]}
    bucket = run["bucket"]
    for key in ("out/put.txt", "out/big.bin", "out/s3fs.txt"):
        data = s3.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        url = f"s3://{bucket}/{key}"
        assert outputs[url]["hash"] == blake3(data).hexdigest(), url
        row = remote_of(run, key)["row"]
        assert {k: row[k] for k in ("etag", "version_id", "size")} == head(s3, bucket, key)
        assert row["hash"] == blake3(data).hexdigest()
        producers = remote_of(run, key)["shown"]["produced_by"]
        assert [j["job_uid"] for j in producers] == [run["job"]["job_uid"]]


def test_multipart_upload_file_has_a_part_etag_and_the_files_blake3(run, s3: S3):
    row = remote_of(run, "out/big.bin")["row"]
    assert row["etag"].endswith("-3") and row["multipart"] is True
    local = (run["project"].root / "big.bin").read_bytes()
    assert row["size"] == len(local) == 20 * MIB
    assert row["hash"] == blake3(local).hexdigest()


def test_download_file_links_the_object_to_the_file_it_wrote(run):
    outputs = {f["path"]: f for f in run["job"]["outputs"]}
    local = str(run["project"].root / "large.bin")
    url = f"s3://{run['bucket']}/in/large.bin"
    inputs = {f["path"]: f for f in run["job"]["inputs"]}
    assert outputs[local]["hash"] == inputs[url]["hash"]


def test_the_dag_runs_bucket_object_to_job_to_bucket_object(run):
    shown = remote_of(run, "in/small.txt")["shown"]
    assert [j["job_uid"] for j in shown["consumed_by"]] == [run["job"]["job_uid"]]
    assert shown["artifact"]["disk_state"] == "remote"
    listed = {o["url"]: o for o in run["job"]["metadata"]["s3"]}
    assert listed[f"s3://{run['bucket']}/out/put.txt"]["role"] == "output"
    assert listed[f"s3://{run['bucket']}/in/small.txt"]["via"] == ["get_object"]
    assert run["job"]["metadata"]["env"].get("ROAR_S3_OUT") is None  # roar's, not the job's
    assert "done" in run["stdout"]


def test_an_object_read_in_part_is_listed_without_a_hash_and_said_once(run):
    url = f"s3://{run['bucket']}/in/partial.bin"
    assert url not in {f["path"] for f in run["job"]["inputs"]}
    listed = {o["url"]: o for o in run["job"]["metadata"]["s3"]}
    assert listed[url]["hash"] is None and listed[url]["recorded"] is False
    warnings = [w for w in run["job"]["metadata"]["warnings"] if "S3 object(s)" in w]
    assert len(warnings) == 1 and url in warnings[0]


RANGED = """
import sys, boto3
boto3.client("s3").get_object(Bucket=sys.argv[1], Key="out/put.txt", Range="bytes=0-3")["Body"].read()
"""


def test_a_part_read_of_an_object_roar_recorded_gets_the_recorded_hash(run):
    project = run["project"]
    (project.root / "ranged.py").write_text(RANGED)
    project.roar("run", "--allow-dirty", "python", "ranged.py", run["bucket"])
    job = roar_json(project, "show", "@2")
    url = f"s3://{run['bucket']}/out/put.txt"
    outputs = {f["path"]: f["hash"] for f in run["job"]["outputs"]}
    assert {f["path"]: f["hash"] for f in job["inputs"]}[url] == outputs[url]
