"""s3:// through botocore, the library `aws s3 cp` itself runs on: one client shared by a pool
of threads, as awscli's s3transfer does.

Why not s3fs here (it is fsspec's S3 filesystem, and fsspec serves gs://, http(s):// and paths):
measured against `aws s3 cp` on the same loopback server (benchmarks/bench_transfer.py), 1,000
small objects took s3fs's single asyncio thread 1.3-2x the time of ten botocore threads for the
same requests and the same client CPU, and importing s3fs's stack (aiobotocore, aiohttp, and
httpx with rich and pygments, which aiobotocore imports when they are installed) cost every
`roar get`/`put` 0.8-2 s where botocore alone costs 0.5 s. So s3:// has this one path, for small
and large objects alike.

``S3Store`` answers the part of fsspec's filesystem interface that ``get``/``fetch`` use
(``info``, ``find``, ``cat_file``, ``cat``, ``invalidate_cache``) and uploads with
``put_objects`` (many small objects, each ``PutObject`` response giving its ETag and version) and
``put_file`` (one large object as a multipart upload whose ``CompleteMultipartUpload`` response
gives them). Credentials and region come from botocore's standard chain (environment, profiles,
instance roles); an S3-compatible server from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

CONCURRENCY = 10  # requests in flight for many small objects (awscli's max_concurrent_requests)
PART = 8 << 20  # multipart upload part size (awscli's multipart_chunksize)
PARALLEL_PARTS = 10  # parts in flight (awscli's max_concurrent_requests)
MULTIPART_OVER = 8 << 20  # larger files go up as multipart uploads (awscli's threshold)
MULTIPART_CHECKSUM = "CRC32"  # the parts' checksum (botocore's and awscli's default)
CHECKSUM_FIELD = "Checksum" + MULTIPART_CHECKSUM  # a part's checksum in answers


class S3Store:
    """One botocore S3 client (thread-safe) and the calls roar makes with it."""

    def __init__(self, endpoint: str | None = None) -> None:
        import botocore.config
        import botocore.session

        config = botocore.config.Config(
            max_pool_connections=CONCURRENCY + PARALLEL_PARTS,
            retries={"mode": "standard", "max_attempts": 5},
        )
        session = botocore.session.get_session()
        self.client = session.create_client("s3", endpoint_url=endpoint, config=config)

    def _part_checksum(self) -> dict[str, str]:
        """The parts' CRC32 declared when the upload is created, as `aws s3 cp` (s3transfer)
        declares it, unless the user's configuration asks for checksums only where required
        (AWS_REQUEST_CHECKSUM_CALCULATION=when_required: an older S3-compatible server).
        botocore sends each part's CRC32 either way; a server told of them at the start
        finishes the upload without another pass over the parts (moto: 1.6-1.8 s against
        2.2-2.5 s for 256 MiB, measured side by side)."""
        if self.client.meta.config.request_checksum_calculation != "when_supported":
            return {}
        return {"ChecksumAlgorithm": MULTIPART_CHECKSUM}

    # naming ------------------------------------------------------------------------------

    @staticmethod
    def split_path(path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    # reading -----------------------------------------------------------------------------

    def info(self, path: str) -> dict[str, Any]:
        """An object's size, ETag and version (HeadObject); a key prefix is a directory."""
        bucket, key = self.split_path(path.rstrip("/"))
        if key:
            try:
                with _translated(path):
                    head = self.client.head_object(Bucket=bucket, Key=key)
                return {
                    "type": "file",
                    "size": head["ContentLength"],
                    "ETag": head.get("ETag"),
                    "VersionId": head.get("VersionId"),
                }
            except FileNotFoundError:
                pass
        with _translated(path):
            listed = self.client.list_objects_v2(Bucket=bucket, Prefix=_dir(key), MaxKeys=1)
        if listed.get("KeyCount", 0) or not key:
            return {"type": "directory", "size": 0}
        raise FileNotFoundError(path)

    def find(self, path: str, detail: bool = True) -> dict[str, dict[str, Any]]:
        """Every object under the prefix ``path`` (ListObjectsV2, 1,000 a page)."""
        bucket, key = self.split_path(path.rstrip("/"))
        found: dict[str, dict[str, Any]] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=_dir(key)
        )
        with _translated(path):
            for page in pages:
                for obj in page.get("Contents", ()):
                    name = obj["Key"]
                    found[f"{bucket}/{name}"] = {
                        "type": "directory" if name.endswith("/") else "file",
                        "size": obj["Size"],
                        "ETag": obj.get("ETag"),
                    }
        return found

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes, or those in [start, end) (a ranged GetObject)."""
        bucket, key = self.split_path(path)
        extra = {"Range": f"bytes={start or 0}-{end - 1}"} if end is not None else {}
        with _translated(path):
            answer = self.client.get_object(Bucket=bucket, Key=key, **extra)
            body = answer["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def cat(self, paths: Sequence[str], on_error: str = "raise") -> dict[str, bytes]:
        """Many objects' bytes, ``CONCURRENCY`` requests at a time."""
        del on_error  # always raises, as fsspec's "raise"
        with ThreadPoolExecutor(min(CONCURRENCY, max(len(paths), 1))) as pool:
            return dict(zip(paths, pool.map(self.cat_file, paths), strict=True))

    def invalidate_cache(self, path: str | None = None) -> None:
        """Nothing is cached (fsspec's interface)."""

    # writing -----------------------------------------------------------------------------

    def put_objects(
        self, pairs: Sequence[tuple[str, str]], advance: Callable[[int], None]
    ) -> dict[str, tuple[str | None, str | None, int]]:
        """``PutObject`` for each (local file, remote path), ``CONCURRENCY`` at a time; each
        remote path → (ETag, version, bytes sent) from the responses."""

        def one(pair: tuple[str, str]) -> tuple[str | None, str | None, int]:
            local, rpath = pair
            with open(local, "rb") as fh:
                data = fh.read()
            answer = self._put(rpath, data, local)
            advance(len(data))
            return _etag(answer), answer.get("VersionId"), len(data)

        with ThreadPoolExecutor(min(CONCURRENCY, max(len(pairs), 1))) as pool:
            done = list(pool.map(one, pairs))
        return {rp: answer for (_, rp), answer in zip(pairs, done, strict=True)}

    def _put(self, rpath: str, data: bytes, local: str) -> dict[str, Any]:
        bucket, key = self.split_path(rpath)
        extra = {}
        kind, _ = mimetypes.guess_type(local)
        if kind is not None:
            extra["ContentType"] = kind
        with _translated(rpath):
            return dict(self.client.put_object(Bucket=bucket, Key=key, Body=data, **extra))

    def put_file(
        self, local: str, rpath: str, advance: Callable[[int], None]
    ) -> tuple[str | None, str | None, int]:
        """One file: a ``PutObject`` up to ``MULTIPART_OVER`` bytes, else a multipart upload of
        ``PART``-byte parts, ``PARALLEL_PARTS`` at a time (aborted on any failure); (ETag,
        version, bytes sent)."""
        size = os.path.getsize(local)
        if size <= MULTIPART_OVER:
            with open(local, "rb") as fh:
                data = fh.read()
            answer = self._put(rpath, data, local)
            advance(len(data))
            return _etag(answer), answer.get("VersionId"), len(data)
        bucket, key = self.split_path(rpath)
        extra = {}
        kind, _ = mimetypes.guess_type(local)
        if kind is not None:
            extra["ContentType"] = kind
        checksum = self._part_checksum()
        with _translated(rpath):
            upload_id = self.client.create_multipart_upload(
                Bucket=bucket, Key=key, **checksum, **extra
            )["UploadId"]
        fd = os.open(local, os.O_RDONLY)
        sent = [0] * ((size + PART - 1) // PART)

        def part(index: int) -> dict[str, Any]:
            data = os.pread(fd, PART, index * PART)
            with _translated(rpath):
                answer = self.client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=index + 1,
                    Body=data,
                    **checksum,
                )
            sent[index] = len(data)
            advance(len(data))
            done = {"PartNumber": index + 1, "ETag": answer["ETag"]}
            if answer.get(CHECKSUM_FIELD):  # a server that keeps checksums wants them back
                done[CHECKSUM_FIELD] = answer[CHECKSUM_FIELD]
            return done

        try:
            with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
                parts = list(pool.map(part, range(len(sent))))
            with _translated(rpath):
                answer = self.client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:  # the upload's own failure is the one to report
                pass
            raise
        finally:
            os.close(fd)
        return _etag(answer), answer.get("VersionId"), sum(sent)


def _dir(key: str) -> str:
    return key.rstrip("/") + "/" if key else ""


def _etag(answer: dict[str, Any]) -> str | None:
    etag = answer.get("ETag")
    return str(etag).strip('"') if etag else None


_NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled"}


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """botocore's ClientError as the OSError that ``stores.describe_failure`` words."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND or status == "404":
            raise FileNotFoundError(path) from exc
        if code in _DENIED or status == "403":
            raise PermissionError(path) from exc
        raise
