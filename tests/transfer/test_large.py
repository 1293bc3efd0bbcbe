"""Large objects on moto (an S3 emulator on 127.0.0.1): a 200 MiB upload goes multipart and its
record keeps the multipart ETag *and* the BLAKE3 of the bytes; a download killed with SIGKILL
half-way leaves no partial file and no record."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import blake3

from roar.transfer.s3 import PART
from tests.conftest import ROAR
from tests.transfer.conftest import Project

SIZE = 200 << 20


def write_big(path: Path) -> str:
    """200 MiB of incompressible bytes, written in 8 MiB blocks; their BLAKE3."""
    h = blake3.blake3()
    block = os.urandom(8 << 20)
    with path.open("wb") as fh:
        for i in range(SIZE // len(block)):
            chunk = block[:-8] + i.to_bytes(8, "little")  # no two blocks alike
            fh.write(chunk)
            h.update(chunk)
    return h.hexdigest()


def test_multipart_upload_records_etag_and_blake3_then_a_killed_get_leaves_nothing(
    project: Project, tmp_path: Path
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    big = tmp_path / "big.bin"
    digest = write_big(big)
    up = project.roar("put", str(big), f"s3://{bucket}/big/", "-m", "big", "--json").json()
    [obj] = up["objects"]
    head = s3.client.head_object(Bucket=bucket, Key="big/big.bin")
    etag = head["ETag"].strip('"')
    assert etag.endswith(f"-{-(-SIZE // PART)}")  # roar's 8 MiB parts: a multipart upload
    assert (obj["hash"], obj["etag"], obj["multipart"], obj["size"]) == (digest, etag, True, SIZE)
    shown = project.roar("show", f"s3://{bucket}/big/big.bin", "--json").json()
    assert shown["artifact"]["hash"] == digest
    assert [(r["etag"], r["hash"]) for r in shown["remote_objects"]] == [(etag, digest)]
    text = project.roar("show", f"s3://{bucket}/big/big.bin").stdout
    assert etag in text and "multipart" in text
    jobs_before = len(project.jobs())

    # SIGKILL `roar get` while the object is coming in: nothing named, nothing recorded.
    dest = project.root / "dl"
    dest.mkdir()
    proc = subprocess.Popen(
        [*ROAR, "get", f"s3://{bucket}/big/big.bin", "dl/"],
        cwd=project.root,
        env={**os.environ, **s3.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for_unnamed_download(proc.pid, dest), "the download never started"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert list(dest.iterdir()) == []
    assert len(project.jobs()) == jobs_before

    # and done again, unkilled, it lands whole with the same BLAKE3
    out = project.roar("get", f"s3://{bucket}/big/big.bin", "dl/", "--hash", digest, "--json")
    assert out.json()["hash"] == digest and (dest / "big.bin").stat().st_size == SIZE


def wait_for_unnamed_download(pid: int, directory: Path, timeout: float = 120) -> bool:
    """True once process ``pid`` has written into an unnamed file (O_TMPFILE) in
    ``directory``: /proc/PID/fd shows it as ``directory/#inode (deleted)``."""
    deadline = time.monotonic() + timeout
    fd_dir = Path(f"/proc/{pid}/fd")
    while time.monotonic() < deadline:
        try:
            for fd in fd_dir.iterdir():
                target = os.readlink(fd)
                if target.startswith(f"{directory}/#") and os.stat(fd).st_blocks > 0:
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
