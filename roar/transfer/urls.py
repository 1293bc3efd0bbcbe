"""Where a transfer reads or writes: a remote URL (s3://, gs://, http(s)://) or a local path."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from roar.records import record

REMOTE_SCHEMES = ("s3", "gs", "gcs", "http", "https")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# Query parameters whose values are secrets (presigned URLs, SAS tokens): masked when recorded.
_SECRET_PARAM = re.compile(r"(sig|signature|token|credential|secret|password|key|auth)", re.I)
MASK = "***"


@record(frozen=True)
class Location:
    """A parsed location. ``path`` is what the fsspec filesystem calls it (``bucket/key`` for
    object stores, the whole URL for http(s), an absolute path for local files)."""

    scheme: str  # s3 | gs | http | https | file
    url: str  # as recorded: no user info, secret query values masked
    path: str
    is_prefix: bool  # ends with "/": a directory or a key prefix

    @property
    def is_remote(self) -> bool:
        return self.scheme != "file"


def is_url(text: str) -> bool:
    """Does ``text`` name a remote object (s3://, gs://, http(s)://) rather than a path?"""
    m = _URL.match(text)
    return m is not None and m.group(1).lower() in REMOTE_SCHEMES


def parse(text: str) -> Location:
    """``text`` as a location; local paths are made absolute."""
    import os

    if not is_url(text):
        if text.startswith("file://"):
            text = text[len("file://") :]
        absolute = os.path.abspath(os.path.expanduser(text))
        prefix = text.endswith("/") or os.path.isdir(absolute)
        return Location("file", absolute, absolute, prefix)
    scheme = text.split("://", 1)[0].lower()
    scheme = "gs" if scheme == "gcs" else scheme
    url = recordable(text)
    if scheme in ("http", "https"):
        return Location(scheme, url, text, text.endswith("/"))
    rest = text.split("://", 1)[1]
    return Location(scheme, url, rest, rest.endswith("/") or "/" not in rest.rstrip("/"))


def recordable(url: str) -> str:
    """``url`` as roar records and shows it: without user info (``user:password@``), and with
    the values of query parameters that carry credentials (presigned URLs) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs])
    scheme = "gs" if parts.scheme.lower() == "gcs" else parts.scheme.lower()
    return urlunsplit((scheme, netloc, parts.path, query, parts.fragment))


def join(base: str, relpath: str) -> str:
    """``base`` (a prefix URL or directory) joined with a relative key."""
    return base.rstrip("/") + "/" + relpath.lstrip("/")


def basename(url_or_path: str) -> str:
    """The last component of an object's key or a URL's path (query left out)."""
    path = urlsplit(url_or_path).path if is_url(url_or_path) else url_or_path
    return path.rstrip("/").rsplit("/", 1)[-1]
