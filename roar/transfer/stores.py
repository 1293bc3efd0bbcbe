"""Stores for locations: botocore for s3:// (``s3.S3Store``), and fsspec filesystems for the
others: gcsfs for gs://, fsspec's HTTP filesystem for http(s)://, the local filesystem for
paths.

Credentials come from the standard places only, read by the filesystems themselves: the
environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, …), ~/.aws
profiles, gcloud's application default credentials. roar never stores them. An S3-compatible
server (MinIO, moto, a loopback test server) is named by AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import os
from typing import Any

from roar.errors import RoarError
from roar.records import record
from roar.transfer.urls import Location

CLOUD_EXTRA = "pip install 'roar[cloud]'"
_MODULES = {"gs": "gcsfs", "http": "aiohttp", "https": "aiohttp"}


@record(frozen=True)
class ObjectInfo:
    """One object as its store describes it."""

    path: str  # the filesystem's path for it
    size: int
    etag: str | None = None
    version_id: str | None = None  # S3 VersionId, GCS generation


def filesystem(loc: Location) -> Any:
    """The fsspec filesystem for ``loc`` (one per process and scheme: fsspec caches them)."""
    if loc.scheme == "s3":
        return _s3()
    try:
        import fsspec
    except ImportError:
        raise _missing("fsspec") from None
    if loc.scheme == "file":
        return fsspec.filesystem("file")
    try:
        __import__(_MODULES[loc.scheme])
    except ImportError:
        raise _missing(_MODULES[loc.scheme]) from None
    if loc.scheme == "gs":
        return fsspec.filesystem("gs")
    return fsspec.filesystem(loc.scheme)


_S3: list[Any] = []


def _s3() -> Any:
    """The process's S3 store (botocore: roar/transfer/s3.py says why not s3fs)."""
    if not _S3:
        try:
            import botocore  # noqa: F401
        except ImportError:
            raise _missing("boto3") from None
        from roar.transfer.s3 import S3Store

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        _S3.append(S3Store(endpoint or None))
    return _S3[0]


def _missing(module: str) -> RoarError:
    return RoarError(
        f"{module} is not installed: roar needs it for this transfer.",
        hint=f"Install roar's cloud extra: {CLOUD_EXTRA}",
    )


def info_of(path: str, details: dict[str, Any]) -> ObjectInfo:
    """An fsspec ``info``/``find(detail=True)`` entry as an ``ObjectInfo``."""
    etag = details.get("ETag") or details.get("etag")
    version = details.get("VersionId") or details.get("generation")
    size = details.get("size")
    return ObjectInfo(
        path=path,
        size=int(size) if size is not None else -1,
        etag=str(etag).strip('"') if etag else None,
        version_id=str(version) if version not in (None, "null") else None,
    )


def describe_failure(exc: BaseException, what: str) -> RoarError:
    """A transfer error in words, with what to check next."""
    if isinstance(exc, RoarError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return RoarError(f"Not found: {what}.", hint="Check the URL or path (and the bucket name).")
    if isinstance(exc, PermissionError):
        return RoarError(
            f"Access denied: {what}.",
            hint="Check your credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, "
            "GOOGLE_APPLICATION_CREDENTIALS) and the bucket's permissions.",
        )
    name = type(exc).__name__
    if "Credentials" in name:
        return RoarError(
            f"No credentials for {what}.",
            hint="Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run "
            "`aws configure`); for gs://, `gcloud auth application-default login`.",
        )
    return RoarError(f"Transfer failed: {what}: {name}: {exc}", hint="Check the URL and retry.")
