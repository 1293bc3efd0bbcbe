"""`roar get` against moto (an S3 emulator on 127.0.0.1) and a local http.server: a download is a
`get` job (outputs only: the URL and the local copy, one artifact), verified by --hash, never
left half-written, skipped when the copy is already right, and a prefix is one composite."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.conftest import git
from tests.transfer.conftest import Project


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".roar-get-"))


def test_get_records_a_source_job_with_url_etag_and_blake3(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    data = os.urandom(300_000)
    etag = s3.client.put_object(Bucket=bucket, Key="in/data.bin", Body=data)["ETag"].strip('"')
    out = project.roar(
        "get", f"s3://{bucket}/in/data.bin", "data/", "--tag", "-m", "raw data", "--json"
    ).json()
    local = project.root / "data" / "data.bin"
    assert local.read_bytes() == data
    assert out["hash"] == b3(data) and out["downloaded"] == 1
    assert out["objects"][0]["etag"] == etag
    [job] = project.jobs()
    assert job["kind"] == "get" and job["inputs"] == []
    assert job["metadata"]["message"] == "raw data"
    assert out["tag"] == f"roar/get/{b3(data)[:12]}"
    assert out["tag"] in git(project.root, "tag", "--list")
    outputs = {f["path"]: f["hash"] for f in job["outputs"]}
    assert outputs == {f"s3://{bucket}/in/data.bin": b3(data), str(local): b3(data)}
    shown = project.roar("show", f"s3://{bucket}/in/data.bin", "--json").json()
    assert shown["artifact"]["disk_state"] == "remote"
    assert [(r["url"], r["etag"]) for r in shown["remote_objects"]] == [
        (f"s3://{bucket}/in/data.bin", etag)
    ]
    assert [j["job_uid"] for j in shown["produced_by"]] == [job["job_uid"]]


def test_rerun_with_the_right_content_downloads_nothing(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    s3.client.put_object(Bucket=bucket, Key="w.bin", Body=b"weights" * 1000)
    project.roar("get", f"s3://{bucket}/w.bin")
    again = project.roar("get", f"s3://{bucket}/w.bin", "--json").json()
    assert again["downloaded"] == 0 and again["skipped"] == 1
    assert len(project.jobs()) == 1  # nothing moved: nothing recorded
    # A new version of the object is downloaded, but only with --force over the old copy.
    s3.client.put_object(Bucket=bucket, Key="w.bin", Body=b"weights v2")
    refused = project.roar("get", f"s3://{bucket}/w.bin", check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert (project.root / "w.bin").read_bytes() == b"weights" * 1000
    project.roar("get", f"s3://{bucket}/w.bin", "--force")
    assert (project.root / "w.bin").read_bytes() == b"weights v2"


def test_hash_mismatch_is_refused_and_leaves_nothing(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    s3.client.put_object(Bucket=bucket, Key="m.bin", Body=b"model bytes")
    (project.root / "dl").mkdir()
    res = project.roar("get", f"s3://{bucket}/m.bin", "dl/", "--hash", "0" * 64, check=False)
    assert res.returncode == 1
    assert "Hash mismatch" in res.stderr and "Nothing was written" in res.stderr
    assert list((project.root / "dl").iterdir()) == []
    assert project.jobs() == []
    ok = project.roar("get", f"s3://{bucket}/m.bin", "dl/", "--hash", b3(b"model bytes")[:16])
    assert ok.returncode == 0 and (project.root / "dl" / "m.bin").read_bytes() == b"model bytes"


def test_prefix_of_1000_objects_is_one_composite_artifact(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    src = project.root.parent / "shards"
    src.mkdir()
    for i in range(1000):
        (src / f"{i:04d}.txt").write_text(f"shard {i}\n")
    project.roar("put", str(src), f"s3://{bucket}/shards/", "-m", "shards", "-y")
    assert len(s3.keys(bucket, "shards/")) == 1000
    out = project.roar("get", f"s3://{bucket}/shards/", "local/", "--json").json()
    assert out["composite"] and out["downloaded"] == 1000
    assert sorted(os.listdir(project.root / "local")) == [f"{i:04d}.txt" for i in range(1000)]
    job = project.jobs()[-1]
    assert job["kind"] == "get"
    assert {(f["path"], f["composite"]) for f in job["outputs"]} == {
        (f"s3://{bucket}/shards", True),
        (str(project.root / "local"), True),
    }
    shown = project.roar("show", f"s3://{bucket}/shards/", "--json").json()
    assert shown["artifact"]["hash"] == out["hash"] and len(shown["members"]) == 1000
    again = project.roar("get", f"s3://{bucket}/shards/", "local/", "--json").json()
    assert again["downloaded"] == 0 and again["skipped"] == 1000


def test_dry_run_does_nothing(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    s3.client.put_object(Bucket=bucket, Key="a/x.txt", Body=b"x")
    res = project.roar("get", f"s3://{bucket}/a/", "out/", "--dry-run")
    assert "Would download 1 object(s)" in res.stdout
    assert not (project.root / "out").exists() and project.jobs() == []
    (project.root / "up.txt").write_text("up\n")
    res = project.roar("put", "up.txt", f"s3://{bucket}/up/", "-m", "m", "--dry-run")
    assert "Would upload 1 file(s)" in res.stdout
    assert s3.keys(bucket, "up/") == [] and project.jobs() == []


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """http.server on 127.0.0.1 serving a folder (no Range support: a plain web server)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_https_style_get_from_a_web_server(project: Project, web: tuple[str, Path]) -> None:
    base, folder = web
    data = os.urandom(40 << 20)  # above the ranged-read size: streamed, the server has no ranges
    (folder / "weights.pt").write_bytes(data)
    out = project.roar("get", f"{base}/weights.pt", "--hash", b3(data), "--json").json()
    assert (project.root / "weights.pt").read_bytes() == data
    [job] = project.jobs()
    assert f"{base}/weights.pt" in {f["path"] for f in job["outputs"]}
    assert out["hash"] == b3(data)


def test_prefix_with_a_wrong_hash_lands_nothing(project: Project) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    names = ("a.txt", "sub/b.txt", "sub/c.txt")
    for name in names:
        s3.client.put_object(Bucket=bucket, Key=f"set/{name}", Body=name.encode())
    res = project.roar("get", f"s3://{bucket}/set/", "set/", "--hash", "f" * 64, check=False)
    assert res.returncode == 1 and "Hash mismatch" in res.stderr
    assert sorted(os.listdir(project.root)) == sorted([".git", ".roar", "README.md"])
    assert project.jobs() == []
    from roar.record.hashing import composite_digest

    right = composite_digest(sorted((n, b3(n.encode())) for n in names), "blake3")
    again = project.roar("get", f"s3://{bucket}/set/", "set/", "--hash", right, "--json")
    assert again.json()["hash"] == right
    assert (project.root / "set" / "sub" / "c.txt").read_text() == "sub/c.txt"


def test_missing_objects_and_buckets_are_named_and_a_folder_needs_no_slash(
    project: Project,
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    res = project.roar("get", f"s3://{bucket}/missing.bin", check=False)
    assert res.returncode == 1 and f"Not found: s3://{bucket}/missing.bin" in res.stderr
    res = project.roar("get", "s3://roar-no-such-bucket-here/x.bin", check=False)
    assert res.returncode == 1 and "Not found" in res.stderr
    (project.root / "f.txt").write_text("f\n")
    res = project.roar("put", "f.txt", "s3://roar-no-such-bucket-here/", "-m", "m", check=False)
    assert res.returncode == 1 and "Not found" in res.stderr
    assert project.jobs() == []
    s3.client.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"a")
    out = project.roar("get", f"s3://{bucket}/dir", "got/", "--json").json()
    assert out["composite"] and (project.root / "got" / "a.txt").read_bytes() == b"a"
