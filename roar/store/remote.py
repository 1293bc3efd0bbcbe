"""Remote objects (schema 8): what an object store said about the objects `roar get` and
`roar put` moved — ETag, version, size — beside the artifact (BLAKE3 of the bytes) they hold.

Plain ``sqlite3`` like ``writer.py`` and ``queries.py``; table and columns as ``schema.py``'s
``RemoteObject``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from roar.records import record


@record(frozen=True)
class RemoteRow:
    url: str
    etag: str | None
    version_id: str | None
    size: int
    digest: str  # the artifact's digest (algorithm: the job's)
    algorithm: str = "blake3"
    job_id: int | None = None
    first_seen_at: float = 0.0

    def as_json(self) -> dict:
        """The remote object in the JSON contract (docs/json-contract.md)."""
        return {
            "url": self.url,
            "etag": self.etag,
            "version_id": self.version_id,
            "size": self.size,
            "hash": self.digest,
            "multipart": bool(self.etag and "-" in self.etag),
        }


_SELECT = (
    "SELECT r.url, r.etag, r.version_id, r.size, a.digest, a.algorithm, r.job_id, "
    "r.first_seen_at FROM remote_objects r JOIN artifacts a ON a.id = r.artifact_id "
)


def _row(t: Sequence) -> RemoteRow:
    return RemoteRow(t[0], t[1], t[2], int(t[3]), t[4], t[5], t[6], float(t[7]))


def at_url(conn: sqlite3.Connection, url: str) -> list[RemoteRow]:
    """What roar saw at ``url``, newest first."""
    rows = conn.execute(_SELECT + "WHERE r.url = ? ORDER BY r.id DESC", (url,))
    return [_row(t) for t in rows]


def known(
    conn: sqlite3.Connection, url: str, etag: str | None, version_id: str | None
) -> list[str]:
    """Digests recorded for the object at ``url`` with this ETag (and version, when given)."""
    sql = _SELECT + "WHERE r.url = ? AND r.etag IS ?"
    args: list = [url, etag]
    if version_id is not None:
        sql += " AND r.version_id = ?"
        args.append(version_id)
    return [_row(t).digest for t in conn.execute(sql, args)]


def known_many(
    conn: sqlite3.Connection, urls: Sequence[str]
) -> dict[tuple[str, str | None], set[str]]:
    """(url, etag) → recorded digests, for many urls (one indexed lookup per batch)."""
    found: dict[tuple[str, str | None], set[str]] = {}
    for start in range(0, len(urls), 500):
        chunk = list(urls[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for t in conn.execute(_SELECT + f"WHERE r.url IN ({marks})", chunk):
            r = _row(t)
            found.setdefault((r.url, r.etag), set()).add(r.digest)
    return found


def of_artifacts(
    conn: sqlite3.Connection, artifact_ids: Iterable[int]
) -> dict[int, list[RemoteRow]]:
    """artifact id → the remote objects holding it, oldest first."""
    ids = sorted(set(artifact_ids))
    out: dict[int, list[RemoteRow]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT r.artifact_id, r.url, r.etag, r.version_id, r.size, a.digest, a.algorithm, "
            "r.job_id, r.first_seen_at FROM remote_objects r JOIN artifacts a "
            f"ON a.id = r.artifact_id WHERE r.artifact_id IN ({marks}) ORDER BY r.id",
            chunk,
        )
        for t in rows:
            out.setdefault(int(t[0]), []).append(_row(t[1:]))
    return out
