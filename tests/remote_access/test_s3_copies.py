"""`roar run python script.py` whose script copies S3 objects on the server (copy_object, boto3's
managed multipart `copy`: UploadPartCopy parts) on the loopback S3 server (moto): the copy is
an output holding its source's BLAKE3 when roar knows the source version (the job read it
whole, or an earlier job wrote it), with its own ETag and version; the source an input. A copy
of an object roar has no hash for is listed without one and said; the command is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROAR, commit_all, make_repo
from tests.remote_access.conftest import S3, Project

blake3 = pytest.importorskip("blake3").blake3
pytest.importorskip("boto3")

MIB = 1 << 20
ODD = "in/old version+1%20.txt"  # a key botocore quotes in CopySource ("%20" as is)

PRIOR = """
import sys, boto3
client = boto3.client("s3")
client.put_object(Bucket=sys.argv[1], Key="prior/p.txt", Body=b"written by an earlier job\\n")
client.put_object(Bucket=sys.argv[1], Key="prior/big.bin", Body=bytes(range(256)) * (12 * MIB // 256))
""".replace("MIB", str(MIB))

SCRIPT = """
import sys, boto3
from boto3.s3.transfer import TransferConfig

bucket, old = sys.argv[1], sys.argv[2]
client = boto3.client("s3")
src = {"Bucket": bucket, "Key": "in/a.txt"}
a = client.get_object(**src)["Body"].read()  # (a) read whole, then copied
client.copy_object(Bucket=bucket, Key="out/b.txt", CopySource=src)
client.copy_object(Bucket=bucket, Key="out/p-copy.txt", CopySource=f"{bucket}/prior/p.txt")  # (b)
# (d) the old version of ODD, read whole; copied by a versionId string and by a dict
client.get_object(Bucket=bucket, Key="ODD", VersionId=old)["Body"].read()
client.copy_object(Bucket=bucket, Key="out/d-string.txt", CopySource=f"{bucket}/ODD?versionId={old}")
client.copy_object(Bucket=bucket, Key="out/d-dict.txt",
                   CopySource={"Bucket": bucket, "Key": "ODD", "VersionId": old})
# (e) managed copy over the multipart threshold: UploadPartCopy parts (CopySourceIfMatch)
config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
client.copy({"Bucket": bucket, "Key": "prior/big.bin"}, bucket, "out/big-copy.bin", Config=config)
print("done", len(a))
""".replace("MIB", str(MIB)).replace("ODD", ODD)

UNKNOWN = """
import sys, boto3
r = boto3.client("s3").copy_object(Bucket=sys.argv[1], Key="out/u-copy.txt",
                                   CopySource=sys.argv[1] + "/in/unknown.txt")
print("copied", r["CopyObjectResult"]["ETag"])
sys.exit(3)
"""


def roar_json(project: Project, *args: str) -> Any:
    return json.loads(project.roar(*args, "--json").stdout)


def new_project(tmp_path_factory, s3: S3, scripts: dict[str, str]) -> Project:
    root = make_repo(tmp_path_factory.mktemp("s3copy") / "project")
    for name, text in scripts.items():
        (root / name).write_text(text)
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    commit_all(root, "initial")
    return Project(root, s3)


def versioned(s3: S3) -> str:
    bucket = s3.bucket()
    s3.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


@pytest.fixture(scope="module")
def run(tmp_path_factory, s3: S3) -> dict[str, Any]:
    """A job that writes two objects, then one that copies them and others (SCRIPT)."""
    project = new_project(tmp_path_factory, s3, {"prior.py": PRIOR, "script.py": SCRIPT})
    bucket = versioned(s3)
    data = {"in/a.txt": b"object a, read whole then copied\n", ODD: b"the old version\n"}
    for key, body in data.items():
        s3.client.put_object(Bucket=bucket, Key=key, Body=body)
    old = s3.client.head_object(Bucket=bucket, Key=ODD)["VersionId"]
    s3.client.put_object(Bucket=bucket, Key=ODD, Body=b"a newer version, never read\n")
    project.roar("run", "python", "prior.py", bucket)
    done = project.roar("run", "python", "script.py", bucket, old)
    return {
        "project": project,
        "bucket": bucket,
        "data": data,
        "stdout": done.stdout,
        "prior": roar_json(project, "show", "@1"),
        "job": roar_json(project, "show", "@2"),
    }


def url(run: dict[str, Any], key: str) -> str:
    return f"s3://{run['bucket']}/{key}"


def files(job: dict[str, Any], role: str) -> dict[str, str]:
    return {f["path"]: f["hash"] for f in job[role]}


def head(s3: S3, bucket: str, key: str) -> dict[str, Any]:
    h = s3.client.head_object(Bucket=bucket, Key=key)
    return {"etag": h["ETag"].strip('"'), "version_id": h["VersionId"], "size": h["ContentLength"]}


def row(run: dict[str, Any], key: str) -> dict[str, Any]:
    shown = roar_json(run["project"], "show", url(run, key))
    (found,) = [r for r in shown["remote_objects"] if r["url"] == url(run, key)]
    return {k: found[k] for k in ("etag", "version_id", "size", "hash")}


def content(s3: S3, bucket: str, key: str) -> str:
    return blake3(s3.client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def test_a_copy_of_an_object_read_whole_holds_its_blake3_and_its_own_etag(run, s3: S3):
    digest = blake3(run["data"]["in/a.txt"]).hexdigest()
    assert files(run["job"], "inputs")[url(run, "in/a.txt")] == digest
    assert files(run["job"], "outputs")[url(run, "out/b.txt")] == digest
    assert row(run, "out/b.txt") == {**head(s3, run["bucket"], "out/b.txt"), "hash": digest}
    listed = {(o["role"], o["url"]): o for o in run["job"]["metadata"]["s3"]}
    source = listed[("input", url(run, "in/a.txt"))]  # the get and the copy: one object version
    assert source["via"] == ["get_object", "copy_object"] and source["hash"] == digest
    copy = listed[("output", url(run, "out/b.txt"))]
    assert copy["copy_of"]["url"] == url(run, "in/a.txt") and copy["recorded"] is True
    assert copy["copy_of"]["version_id"] == source["version_id"] is not None
    assert copy["copy_of"]["etag"] is None  # not required by the request: never guessed
    assert not [w for w in run["job"]["metadata"].get("warnings", []) if "S3 object" in w]
    assert "done" in run["stdout"]


def test_a_copy_of_an_object_an_earlier_job_wrote_gets_its_digest(run, s3: S3):
    written = files(run["prior"], "outputs")[url(run, "prior/p.txt")]
    assert written == content(s3, run["bucket"], "prior/p.txt")
    assert files(run["job"], "outputs")[url(run, "out/p-copy.txt")] == written
    assert files(run["job"], "inputs")[url(run, "prior/p.txt")] == written
    assert row(run, "out/p-copy.txt") == {
        **head(s3, run["bucket"], "out/p-copy.txt"),
        "hash": written,
    }
    shown = roar_json(run["project"], "show", url(run, "out/p-copy.txt"))
    jobs = {run["prior"]["job_uid"], run["job"]["job_uid"]}  # the bytes: written, then copied
    assert {j["job_uid"] for j in shown["produced_by"]} == jobs


def test_copy_source_as_a_versioned_string_and_as_a_dict_name_the_old_version(run, s3: S3):
    old = blake3(run["data"][ODD]).hexdigest()
    outputs = files(run["job"], "outputs")
    for key in ("out/d-string.txt", "out/d-dict.txt"):
        assert outputs[url(run, key)] == old == content(s3, run["bucket"], key), key
        assert row(run, key) == {**head(s3, run["bucket"], key), "hash": old}
    listed = [o for o in run["job"]["metadata"]["s3"] if o["url"] == url(run, ODD)]
    assert len(listed) == 1 and listed[0]["hash"] == old  # the quoted key, unquoted


def test_a_managed_multipart_copy_holds_its_sources_blake3(run, s3: S3):
    source = files(run["prior"], "outputs")[url(run, "prior/big.bin")]
    key = "out/big-copy.bin"
    assert files(run["job"], "outputs")[url(run, key)] == source == content(s3, run["bucket"], key)
    got = row(run, key)
    assert got == {**head(s3, run["bucket"], key), "hash": source}
    assert got["etag"].endswith("-3") and got["size"] == 12 * MIB
    listed = {(o["role"], o["url"]): o for o in run["job"]["metadata"]["s3"]}
    copy = listed[("output", url(run, key))]
    assert copy["via"] == ["multipart"] and copy["multipart"] is True
    assert copy["copy_of"]["etag"] == head(s3, run["bucket"], "prior/big.bin")["etag"]  # IfMatch
    assert listed[("input", url(run, "prior/big.bin"))]["via"] == ["upload_part_copy"]


def test_a_copy_of_an_unknown_object_is_listed_unhashed_and_said(tmp_path_factory, s3: S3):
    project = new_project(tmp_path_factory, s3, {"unknown.py": UNKNOWN})
    bucket = s3.bucket()  # unversioned: the copy names no version
    s3.client.put_object(Bucket=bucket, Key="in/unknown.txt", Body=b"never seen by roar\n")
    plain = subprocess.run(
        [sys.executable, "unknown.py", bucket],
        cwd=project.root,
        env={**os.environ, **s3.env},
        capture_output=True,
        text=True,
    )
    traced = project.roar("run", "python", "unknown.py", bucket, check=False)
    assert plain.returncode == traced.returncode == 3
    assert plain.stdout.startswith("copied") and plain.stdout in traced.stdout
    job = roar_json(project, "show", "@1")
    copy, source = f"s3://{bucket}/out/u-copy.txt", f"s3://{bucket}/in/unknown.txt"
    assert copy not in files(job, "outputs") and source not in files(job, "inputs")
    listed = {o["url"]: o for o in job["metadata"]["s3"]}
    assert listed[copy]["hash"] is None and listed[copy]["recorded"] is False
    assert listed[copy]["copy_of"] == {"url": source, "version_id": None, "etag": None}
    assert listed[source]["hash"] is None and listed[source]["role"] == "input"
    warnings = [w for w in job["metadata"]["warnings"] if "S3 object(s)" in w]
    assert len(warnings) == 1 and copy in warnings[0] and source in warnings[0]
