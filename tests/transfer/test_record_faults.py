"""A transfer's record is one transaction (the job, its files and its remote objects), and when
the store refuses it after the bytes moved, the record is kept in `.roar/spool/` as `roar run`
keeps its jobs, and the next roar command records it whole. The fault is real: a 1 MiB tmpfs
over `.roar/` (tests/faults) that the download itself fills."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator

import blake3
import pytest

from tests.faults.conftest import SmallDisk, small_disk_over
from tests.transfer.conftest import Project


@pytest.fixture
def small_disk(project: Project, tmp_path) -> Iterator[SmallDisk]:
    with small_disk_over(project.root / ".roar", tmp_path) as disk:
        yield disk


def remote_rows(project: Project) -> list[tuple]:
    with sqlite3.connect(project.root / ".roar" / "roar.db") as conn:
        return conn.execute("SELECT url, etag, job_id FROM remote_objects ORDER BY id").fetchall()


def test_get_whose_record_the_store_refuses_is_spooled_then_recorded_whole(
    project: Project, small_disk: SmallDisk
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    # The download lands on the store's disk and leaves ~12 KB there once roar has opened the
    # store (its 32 KB -shm): the store's write (WAL frames) no longer fits, the spooled record
    # (a few KB) still does.
    size = shutil.disk_usage(small_disk.path).free - 12288 - 32768
    data = os.urandom(size)
    etag = s3.client.put_object(Bucket=bucket, Key="big.bin", Body=data)["ETag"].strip('"')
    dest = small_disk.path / "big.bin"
    done = project.roar("get", f"s3://{bucket}/big.bin", str(dest), "--json", check=False)
    assert done.returncode == 0, done.stderr
    assert "roar could not record this transfer" in done.stderr
    assert "disk holding the roar store is full" in done.stderr
    assert dest.read_bytes() == data  # the bytes are there
    out = done.json()
    assert out["job_uid"] is None and out["spooled"]["kept_at"]
    (kept,) = (small_disk.path / "spool").glob("*.json")
    assert str(kept) == out["spooled"]["kept_at"]
    assert remote_rows(project) == []  # nothing half-written: neither job nor remote objects

    dest.unlink()
    small_disk.free_up()
    log = project.roar("log", "--json")
    assert "recorded 1 job(s) that were kept" in log.stderr
    (job,) = log.json()["jobs"]
    assert job["kind"] == "get"
    digest = blake3.blake3(data).hexdigest()
    assert {f["path"]: f["hash"] for f in job["outputs"]} == {
        f"s3://{bucket}/big.bin": digest,
        str(dest): digest,
    }
    shown = project.roar("show", f"s3://{bucket}/big.bin", "--json").json()
    assert [(r["url"], r["etag"]) for r in shown["remote_objects"]] == [
        (f"s3://{bucket}/big.bin", etag)
    ]
    assert not (small_disk.path / "spool").exists()


def test_put_to_a_read_only_store_stops_before_the_upload(
    project: Project, small_disk: SmallDisk
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    (project.root / "model.bin").write_bytes(b"weights" * 100)
    small_disk.remount("ro")
    done = project.roar("put", "model.bin", f"s3://{bucket}/models/", "-m", "m", "-y",
                        check=False)  # fmt: skip
    assert done.returncode == 1
    assert "cannot be written" in done.stderr and "read-only" in done.stderr
    assert s3.keys(bucket) == []  # nothing uploaded that could not be recorded


def test_get_into_a_read_only_store_stops_before_the_download(
    project: Project, small_disk: SmallDisk
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    s3.client.put_object(Bucket=bucket, Key="data/a.bin", Body=b"a" * 5000)
    s3.client.put_object(Bucket=bucket, Key="one.bin", Body=b"one")
    small_disk.remount("ro")
    for url in (f"s3://{bucket}/data/", f"s3://{bucket}/one.bin"):
        done = project.roar("get", url, "dl/", check=False)
        assert done.returncode == 1, done.stderr
        assert "cannot be written" in done.stderr and "read-only" in done.stderr
        assert "Nothing was downloaded" in done.stderr
        assert not (project.root / "dl").exists()  # nothing fetched that could not be recorded
    # A dry run only reads the store: it still plans.
    plan = project.roar("get", f"s3://{bucket}/data/", "dl/", "--dry-run")
    assert "Would download 1 object(s)" in plan.stdout
