"""`roar run`'s side: give the command's Python processes roar's S3 hooks, then add the objects
they read and wrote to the job.

``prepare`` (before the command starts) puts ``_boot/`` first on ``PYTHONPATH`` (its
``sitecustomize`` installs the botocore handlers of ``_boot/_roar_s3.py`` when a program imports
botocore, then runs any sitecustomize it shadows) and names a private directory for their
records (``ROAR_S3_OUT``); a Ray driver's collection adds its workers' records there too
(``roar/ray/driver.py``). ``merge`` (after the command exits) reads them and puts back the
environment the job recorded; ``objects`` (with the job's files hashed) turns them into the
job's remote inputs and outputs: URL ``s3://bucket/key`` with the digest of the bytes, and
what S3 said about each object (schema 8's ``remote_objects``: ETag, version, size), written in
the job's transaction.

A read is an input (unless the job wrote that object first); a write is an output. The digest
is the one the hooks computed as the bytes passed through the process; else the local file the
bytes went to or came from (``download_file``, ``upload_file``), hashed here when it has not
changed since; else the digest roar recorded before for the same URL, ETag and version. A
server-side copy (``copy_of``) holds its source's bytes: it gets the digest (and size) of the
source version it copied when the job read or wrote that version whole, or roar recorded it
before (a version id or a required ETag names it; a copy that names neither gets none). An
object with none of these is listed in the job's metadata without a hash, and said once.

Every `roar run` imports this module: nothing heavy at module level.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from roar.record.handoff import private_dir, remove_dir, restore_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from roar.store.connection import Connection
    from roar.store.writer import HashedFile
    from roar.tracing.run import Summary

OUT_ENV = "ROAR_S3_OUT"
ALGORITHM_ENV = "ROAR_S3_ALGORITHM"
OFF_ENV = "ROAR_S3"  # "0": leave the command's Python processes alone
BOOT_DIR = str(Path(__file__).parent / "_boot")
LISTED = 100  # objects listed in the job's metadata (all with a hash are its files)
PROCESSES_LISTED = 10
NAMED = 3  # unhashed objects the warning names
COPIES = ("copy_object", "upload_part_copy")  # a copy's read of its source


class RemoteSession:
    def __init__(self, out: str, before: dict[str, str | None]):
        self.out = out
        self.before = before  # the variables prepare() set, as they were
        self.records: list[dict[str, Any]] = []
        self.loaded: set[str] = set()

    def merge(self, summary: Summary, metadata: dict[str, Any]) -> None:
        """Read the processes' records; the job's environment and files without roar's own."""
        restore_env(metadata, self.before)
        try:
            self._read()
        finally:
            remove_dir(self.out)
        ours = BOOT_DIR + os.sep
        summary.files[:] = [
            f
            for f in summary.files
            if f.write
            or f.create
            or f.delete
            or not (f.path.startswith(ours) or f.path in self.loaded)
        ]

    def _read(self) -> None:
        try:
            names = sorted(os.listdir(self.out))
        except OSError:
            return
        for name in names:
            if not name.endswith(".jsonl"):
                continue
            try:
                with open(os.path.join(self.out, name), "rb") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short (the process was killed while writing)
                if not isinstance(record, dict):
                    continue
                if record.get("op") == "loaded":
                    self.loaded.update(p for p in record.get("paths", []) if isinstance(p, str))
                elif record.get("op") in ("read", "write") and isinstance(record.get("url"), str):
                    self.records.append(record)

    def objects(
        self,
        conn: Connection,
        files: list[HashedFile],
        algorithm: str,
        metadata: dict[str, Any],
        warnings: list[str],
    ) -> list[tuple[str, str | None, str | None, int, str]]:
        """Add the objects to ``files`` (URL paths); their remote-object rows for the job."""
        if not self.records:
            return []
        from roar.store.writer import HashedFile

        groups = _grouped(self.records, algorithm)
        _resolve(conn, groups, files, algorithm)
        groups = _copies(conn, groups, algorithm)
        written: dict[str, float] = {}
        for g in groups:
            if g.op == "write":
                written[g.url] = min(written.get(g.url, g.first), g.first)
        outputs: dict[str, _Group] = {}
        inputs: dict[str, _Group] = {}
        own_reads: set[int] = set()
        for g in sorted(groups, key=lambda g: g.first):
            if g.op == "write":
                if g.digest is not None:
                    outputs[g.url] = g  # the last write of a URL is the output
            elif g.url in written and written[g.url] <= g.first:
                own_reads.add(id(g))  # the job's own output, read back
            elif g.digest is not None and g.url not in inputs:
                inputs[g.url] = g  # the first read of a URL is the input
        for role, chosen in (("input", inputs), ("output", outputs)):
            files += [HashedFile(g.url, role, g.digest, max(g.size, 0)) for g in chosen.values()]
        kept = {id(g) for g in (*inputs.values(), *outputs.values())}
        shown = [g for g in groups if id(g) not in own_reads]
        metadata["s3"] = [g.as_json(id(g) in kept) for g in shown[:LISTED]]
        unhashed = [g for g in shown if g.digest is None]
        if unhashed:
            named = ", ".join(dict.fromkeys(g.url for g in unhashed[:NAMED]))
            warnings.append(
                f"{len(unhashed)} S3 object(s) the job read or wrote have no content hash (their "
                "bytes did not pass whole through the program: a ranged or unfinished read, a "
                "streamed body, a server-side copy of an object version roar has no hash for), "
                f"so they are not among its inputs and outputs, e.g. {named}; they are listed "
                "in the job's metadata (s3)"
            )
        digests = {g.digest for g in (*inputs.values(), *outputs.values())}
        rows = {
            (g.url, g.etag, g.version_id, max(g.size, 0), g.digest): None
            for g in groups
            if g.digest is not None and g.digest in digests
        }
        return list(rows)


class _Group:
    """The records of one object version (op, URL, ETag, version) from every process."""

    def __init__(self, op: str, url: str, etag: str | None, version_id: str | None):
        self.op, self.url, self.etag, self.version_id = op, url, etag, version_id
        self.size = -1
        self.digest: str | None = None
        self.links: list[tuple[str, list[int] | None]] = []
        self.first = float("inf")
        self.via: list[str] = []
        self.processes: list[dict[str, Any]] = []
        self.copy_of: tuple[str, str | None, str | None] | None = None  # source url, version, etag
        self.copies = 0  # its records that name a source (all must name the same one)

    def add(self, r: dict[str, Any], algorithm: str) -> None:
        source = _source(r.get("copy_of"))
        if source is not None:
            self.copies += 1
            if self.copies == 1:
                self.copy_of = source
            elif source != self.copy_of:
                self.copy_of = None
        if isinstance(r.get("size"), int) and r["size"] >= 0:
            self.size = max(self.size, r["size"])
        if r.get("digest") and r.get("algorithm", "blake3") == algorithm:
            self.digest = self.digest or str(r["digest"])
        if isinstance(r.get("path"), str):
            stat = r.get("stat")
            self.links.append((r["path"], stat if isinstance(stat, list) else None))
        if isinstance(r.get("t"), (int, float)):
            self.first = min(self.first, float(r["t"]))
        if r.get("via"):
            self._via(str(r["via"]))
        who = {"pid": r.get("pid")}
        if r.get("node_id"):
            who["node_id"] = r["node_id"]
        tags = r.get("tags")
        if isinstance(tags, dict) and tags.get("task"):
            who["task"] = tags["task"]
        self._seen_by(who)

    def _via(self, via: str) -> None:
        if via not in self.via:
            self.via.append(via)

    def _seen_by(self, who: dict[str, Any]) -> None:
        if who not in self.processes and len(self.processes) < PROCESSES_LISTED:
            self.processes.append(who)

    def absorb(self, other: _Group) -> None:
        """Another group that turned out to be this object version (a copy's source read)."""
        self.size = max(self.size, other.size)
        self.digest = self.digest or other.digest
        self.links += other.links
        self.first = min(self.first, other.first)
        for via in other.via:
            self._via(via)
        for who in other.processes:
            self._seen_by(who)

    def as_json(self, recorded: bool) -> dict[str, Any]:
        listed: dict[str, Any] = {
            "role": "input" if self.op == "read" else "output",
            "url": self.url,
            "etag": self.etag,
            "version_id": self.version_id,
            "size": self.size if self.size >= 0 else None,
            "hash": self.digest,
            "multipart": bool(self.etag and "-" in self.etag),
            "recorded": recorded,  # one of the job's inputs or outputs
            "via": self.via,
            "processes": self.processes,
        }
        if self.copy_of is not None:
            url, version, etag = self.copy_of
            listed["copy_of"] = {"url": url, "version_id": version, "etag": etag}
        return listed


def _source(given: Any) -> tuple[str, str | None, str | None] | None:
    """A record's ``copy_of``: [url, version, etag] (version and etag possibly null)."""
    if not isinstance(given, list) or len(given) < 2 or not isinstance(given[0], str):
        return None
    version = given[1] if isinstance(given[1], str) and given[1] else None
    etag = given[2] if len(given) > 2 and isinstance(given[2], str) and given[2] else None
    return given[0], version, etag


def _grouped(records: list[dict[str, Any]], algorithm: str) -> list[_Group]:
    groups: dict[tuple[str, str, str | None, str | None], _Group] = {}
    for r in records:
        key = (str(r["op"]), str(r["url"]), r.get("etag"), r.get("version_id"))
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(*key)
        g.add(r, algorithm)
    return list(groups.values())


def _resolve(conn: Connection, groups: list[_Group], files: list[HashedFile], algo: str) -> None:
    """Digests for the objects whose bytes did not pass through: from the local file that holds
    them (still as it was), else from what roar recorded before for that object version."""
    local = {f.path: f for f in files if f.digest and not f.is_composite}
    to_hash: dict[str, list[_Group]] = {}
    for g in groups:
        if g.digest is not None:
            continue
        for path, stat in g.links:
            if stat is None or _stat(path) != stat:
                continue  # changed (or gone) since: its bytes now are not the object's
            f = local.get(path)
            if f is not None:
                g.digest, g.size = f.digest, f.size
                break
            to_hash.setdefault(path, []).append(g)
            break
    if to_hash:
        from roar.record import hashing

        found = hashing.hash_paths(conn, list(to_hash), algo).found
        for path, waiting in to_hash.items():
            if path in found:
                for g in waiting:
                    g.digest, g.size = found[path][0], found[path][1]
    unknown = [g for g in groups if g.digest is None and g.etag]
    if unknown:
        from roar.store import remote

        for g in unknown:
            known = set(remote.known(conn, g.url, g.etag, g.version_id))
            if len(known) == 1:
                g.digest = known.pop()


def _copies(conn: Connection, groups: list[_Group], algorithm: str) -> list[_Group]:
    """A copy's bytes are its source's: a copy (and a copy's read of its source) without a
    digest gets the source version's, in the order the job made them (a copy of a copy)."""
    if not any(g.digest is None and (g.copy_of or set(g.via) & set(COPIES)) for g in groups):
        return groups
    for g in sorted(groups, key=lambda g: g.first):
        if g.digest is not None:
            continue
        if g.op == "write" and g.copy_of is not None:
            url, version, etag = g.copy_of
        elif g.op == "read" and set(g.via) & set(COPIES):
            url, version, etag = g.url, g.version_id, g.etag
        else:
            continue
        found = _version_of(conn, groups, url, version, etag, algorithm)
        if found is None:
            continue
        digest, size, source_etag = found
        if g.op == "write" and g.size >= 0 and size >= 0 and g.size != size:
            continue  # the parts copied a part of the source
        g.digest = digest
        g.size = size if size >= 0 else g.size
        if g.op == "read" and g.etag is None and source_etag is not None:
            g.etag = source_etag  # the version's: the same object version as a read of it
    merged: dict[tuple[str, str, str | None, str | None], _Group] = {}
    for g in groups:
        key = (g.op, g.url, g.etag, g.version_id)
        if key in merged:
            merged[key].absorb(g)
        else:
            merged[key] = g
    return list(merged.values())


def _version_of(
    conn: Connection,
    groups: list[_Group],
    url: str,
    version: str | None,
    etag: str | None,
    algorithm: str,
) -> tuple[str, int, str | None] | None:
    """(digest, size, ETag) of the object version at ``url`` that ``version`` (not S3's
    "null") and/or ``etag`` name: from the job's own reads and writes of it, else from what
    roar recorded before; None when nothing names it or the digests disagree."""
    if version == "null":
        version = None
    if version is None and etag is None:
        return None

    def named(v: str | None, e: str | None) -> bool:
        return (version is None or v == version) and (etag is None or e == etag)

    seen = [
        (g.digest, g.size, g.etag)
        for g in groups
        if g.url == url and g.digest is not None and named(g.version_id, g.etag)
    ]
    if not seen:
        from roar.store import remote

        seen = [
            (r.digest, r.size, r.etag)
            for r in remote.at_url(conn, url)
            if r.algorithm == algorithm and named(r.version_id, r.etag)
        ]
    if len({d for d, _, _ in seen}) != 1:
        return None
    etags = {e for _, _, e in seen if e}
    return seen[0][0], max(s for _, s, _ in seen), etags.pop() if len(etags) == 1 else None


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def prepare(env: dict[str, str], algorithm: str) -> RemoteSession | None:
    """Give the command's Python processes roar's S3 hooks (``env`` is its environment)."""
    if env.get(OFF_ENV) == "0":
        return None
    out = private_dir("roar-s3-")
    if out is None:
        return None
    before = {k: env.get(k) for k in (OUT_ENV, ALGORITHM_ENV, "PYTHONPATH")}
    env[OUT_ENV] = out
    env[ALGORITHM_ENV] = algorithm
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + path if path else "")
    return RemoteSession(out, before)
