"""``roar inputs``: every source input upstream of a target, and "was X in its lineage?".

A source input is bytes no recorded job produced (raw data, configs, code read as data): what a
target was made from. The walk (``roar.query.upstream``) follows the DAG's edges, so
``roar inputs X`` names exactly the inputs of the steps ``roar lineage X`` lists. A file inside
a directory that a job read as a whole is in the lineage through that directory.
"""

from __future__ import annotations

import os

from roar.errors import RoarError
from roar.query import upstream as up_mod
from roar.query.upstream import Target, Upstream
from roar.records import field, record
from roar.store import lineage_reads as reads
from roar.store.lineage_reads import Connection
from roar.store.queries import Reader
from roar.store.views import ArtifactView, FileView, JobView
from roar.workspace import Workspace


@record
class InputEntry:
    file: FileView  # as the first job that read it recorded it
    source: bool  # no recorded job produced it
    readers: list[JobView]
    producer: JobView | None = None


@record
class InputsAnswer:
    target: Target
    jobs: list[JobView]  # the upstream jobs, in dependency order
    entries: list[InputEntry]
    disk: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, digest) → state

    @property
    def sources(self) -> list[InputEntry]:
        return [e for e in self.entries if e.source]


@record
class Containment:
    target: Target
    needle: str  # as the user named it
    artifact: ArtifactView | None  # what it names (None: bytes roar never recorded)
    found: bool
    via: FileView | None = None  # the lineage's artifact that is it, or the directory holding it
    chain: list[tuple[FileView, JobView]] = field(default_factory=list)  # (read, reader) hops


def walk_target(conn: Connection, target: Target) -> Upstream:
    if target.job is not None:
        return up_mod.walk(conn, start_jobs=[target.job])
    return up_mod.walk(conn, target=target.file)


def inputs_of(
    conn: Connection, ws: Workspace, ref: str, *, intermediates: bool = False
) -> InputsAnswer:
    """The source inputs of ``ref`` (and with ``intermediates``, the produced ones too), each
    with the jobs that read it, compared with the disk."""
    target = up_mod.resolve_target(conn, ws, ref)
    walked = walk_target(conn, target)
    entries = []
    for aid, f in walked.artifacts.items():
        producer = walked.produced_by.get(aid)
        if producer is not None and not intermediates:
            continue
        readers = sorted(walked.readers.get(aid, []), key=lambda j: (j.started_at, j.id))
        entries.append(InputEntry(f, producer is None, readers, producer))
    entries.sort(key=lambda e: (not e.source, e.file.path))
    check = up_mod.disk_check(conn, up_mod.primary_algorithm(ws))
    files = [e.file for e in entries] + ([target.file] if target.file else [])
    disk = check.states((f.path, f.digest, f.size, f.algorithm, f.is_composite) for f in files)
    return InputsAnswer(target, walked.ordered_jobs(), entries, disk)


def contains(conn: Connection, ws: Workspace, ref: str, needle: str) -> Containment:
    """Is ``needle`` (a path, hashed now, or a hash prefix) in the lineage of ``ref``? Through
    a directory read as a whole too. With the chain of jobs from it to the target."""
    target = up_mod.resolve_target(conn, ws, ref)
    found = _needle(conn, ws, needle)
    if found is None:
        return Containment(target, needle, None, False)
    artifact, ids = found
    if target.file is not None and target.file.artifact_id in ids:
        return Containment(target, needle, artifact, True, target.file)
    walked = walk_target(conn, target)
    direct = [aid for aid in ids if aid in walked.artifacts]
    if not direct:
        containing = Reader(conn).composites_containing(ids)
        direct = [c for cs in containing.values() for c in cs if c in walked.artifacts]
    if not direct:
        return Containment(target, needle, artifact, False)
    # The shortest chain among the lineage's artifacts that are it or hold it.
    chains = [(up_mod.chain_to(walked, aid), aid) for aid in direct]
    chain, aid = min(chains, key=lambda c: len(c[0]))
    return Containment(target, needle, artifact, True, walked.artifacts[aid], chain)


def _needle(conn: Connection, ws: Workspace, needle: str) -> tuple[ArtifactView, set[int]] | None:
    """What ``needle`` names: the artifact and the ids of every artifact with its digest
    (None: bytes roar has no record of)."""
    if up_mod.may_be_path(needle):
        path = os.path.abspath(os.path.expanduser(needle))
        if not os.path.exists(path):
            art = reads.latest_artifact_at(conn, os.path.realpath(path))
            if art is None:
                raise RoarError(
                    f"No such file, and no artifact recorded at: {needle}",
                    hint="Name a file that exists now, or a hash prefix (8+ hex).",
                )
        else:
            art = up_mod.artifact_at(conn, ws, path)
        if art is None:
            return None
    else:
        try:
            art = up_mod.resolve_hash(conn, needle)
        except RoarError as exc:
            if exc.message.startswith("Artifact not found"):
                return None
            raise
    return art, {a.id for a in Reader(conn).artifacts_by_digest(art.digest)} | {art.id}
