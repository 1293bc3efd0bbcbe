"""A multipart upload through roar's S3 client declares its parts' checksum when it is created,
as `aws s3 cp` does (the server then keeps a checksum of the object and finishes without another
pass over the parts), unless the user's configuration asks for checksums only where required;
either way the object arrives whole with its multipart ETag. On moto's server (an S3 emulator)
on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roar.transfer.s3 import PART, S3Store
from tests.transfer.conftest import S3

SIZE = 2 * PART + 12345  # three parts, the last one short


@pytest.fixture
def s3_env(s3: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The emulator, with this process's botocore pointed at it (as roar's commands are)."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _upload(s3: S3, path: Path, bucket: str, key: str) -> tuple[str | None, int]:
    sent: list[int] = []
    etag, _version, size = S3Store(s3.endpoint).put_file(str(path), f"{bucket}/{key}", sent.append)
    assert sum(sent) == size == SIZE
    return etag, size


def test_parts_checksum_is_declared_and_the_object_arrives_whole(
    s3_env: S3, big_file: Path
) -> None:
    s3 = s3_env
    bucket = s3.bucket()
    etag, _ = _upload(s3, big_file, bucket, "w.bin")
    assert etag is not None and etag.endswith("-3")
    head = s3.client.head_object(Bucket=bucket, Key="w.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == SIZE
    assert head.get("ChecksumCRC32"), "the server was told of the parts' CRC32"
    body = s3.client.get_object(Bucket=bucket, Key="w.bin")["Body"].read()
    assert body == big_file.read_bytes()


def test_when_required_configuration_declares_no_checksum(
    s3_env: S3, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = s3_env
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    bucket = s3.bucket()
    etag, _ = _upload(s3, big_file, bucket, "w.bin")
    assert etag is not None and etag.endswith("-3")
    head = s3.client.head_object(Bucket=bucket, Key="w.bin", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in head
    body = s3.client.get_object(Bucket=bucket, Key="w.bin")["Body"].read()
    assert body == big_file.read_bytes()
