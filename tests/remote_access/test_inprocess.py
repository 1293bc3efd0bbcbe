"""roar's S3 hooks started inside a running process (a Ray worker's setup does this,
roar.ray.worker): records go to the file named, tagged; botocore is not imported by the start,
and a process that imported it before still gets the handlers for the clients it makes after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote_access.conftest import S3

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("boto3")

SCRIPT = """
import sys
if sys.argv[3] == "early":
    import botocore.session  # imported before roar's hooks start
from roar.remote_access.inprocess import start
start(sys.argv[1], lambda: {"task": "t1"})
print("botocore after start:", "botocore" in sys.modules)
import boto3
client = boto3.client("s3")
client.put_object(Bucket=sys.argv[2], Key="k.txt", Body=b"in-process bytes")
client.get_object(Bucket=sys.argv[2], Key="k.txt")["Body"].read()
"""


@pytest.mark.parametrize("when", ["late", "early"])
def test_started_in_process_records_with_tags(tmp_path: Path, s3: S3, when: str):
    records = tmp_path / "s3.jsonl"
    bucket = s3.bucket()
    env = {k: v for k, v in os.environ.items() if k != "ROAR_S3_OUT"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(records), bucket, when],
        env={**env, **s3.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"botocore after start: {when == 'early'}" in done.stdout
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    digest = blake3(b"in-process bytes").hexdigest()
    ops = [(r["op"], r["via"], r.get("digest")) for r in lines if r["op"] != "loaded"]
    assert ("write", "put_object", digest) in ops
    assert ("read", "get_object", digest) in ops
    assert all(r["tags"] == {"task": "t1"} for r in lines if r["op"] != "loaded")
