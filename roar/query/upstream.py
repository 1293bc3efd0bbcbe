"""Walking upstream from one target through the store: what ``roar inputs`` and
``roar reproduce`` stand on.

A target is a path (hashed now, through the hash cache), a hash prefix (8+ hex), a step
(``@N``/``@BN`` of the active session) or a job uid. The walk follows the DAG's rule (as
``roar lineage`` does): the producer of bytes a job read is the newest job of another step that
wrote them and started no later; for a reproduction only successful runs count (exit 0, not
interrupted). A file read out of a directory that a job wrote as a whole is made by that job.
A notebook cell also depends on the cells that defined the variables it read.

Each level of the walk is a few batched, indexed statements (``roar.store.lineage_reads``):
the cost follows the lineage, never the store.
"""

from __future__ import annotations

import os

from roar.errors import RoarError
from roar.query import refs
from roar.query.disk import DiskCheck
from roar.records import field, record
from roar.store import lineage_reads as reads
from roar.store.lineage_reads import Connection, JobHead
from roar.store.queries import Reader
from roar.store.views import ArtifactView, FileView, JobView
from roar.workspace import Workspace

HEX = "0123456789abcdefABCDEF"
MIN_HASH_PREFIX = 8


@record
class Target:
    """What the user named: an artifact (with the path it was named by), or a job."""

    label: str  # as the user wrote it, for messages
    file: FileView | None = None
    job: JobView | None = None

    @property
    def name(self) -> str:
        if self.job is not None:
            return self.job.ref if self.label.startswith("@") else f"job {self.job.uid}"
        return self.label


@record
class Upstream:
    """The jobs and artifacts upstream of a target, with how the walk reached each."""

    jobs: dict[int, JobView] = field(default_factory=dict)  # chosen producers (and start jobs)
    artifacts: dict[int, FileView] = field(default_factory=dict)  # every input met, by artifact id
    readers: dict[int, list[JobView]] = field(default_factory=dict)  # artifact id → who read it
    produced_by: dict[int, JobView] = field(default_factory=dict)  # artifact id → its producer
    unproduced: dict[int, list[JobHead]] = field(default_factory=dict)  # id → failed producers
    led_to: dict[int, int] = field(default_factory=dict)  # job id → artifact id it was found for
    first_reader: dict[int, int] = field(default_factory=dict)  # artifact id → job id

    @property
    def sources(self) -> list[FileView]:
        """Inputs no chosen job produced, in the order the walk met them."""
        return [f for aid, f in self.artifacts.items() if aid not in self.produced_by]

    def ordered_jobs(self) -> list[JobView]:
        """Dependency order: every producer started no later than the jobs that read its bytes."""
        return sorted(self.jobs.values(), key=lambda j: (j.started_at, j.id))


def disk_check(conn: Connection, algorithm: str = "blake3") -> DiskCheck:
    """The disk compared with the records through this connection's hash cache, read only."""
    from roar.store.writer import lookup_cache

    return DiskCheck(lambda alg, keys: lookup_cache(conn, alg, keys), default_algorithm=algorithm)


def primary_algorithm(ws: Workspace) -> str:
    from roar import config as config_mod

    return str(config_mod.load(ws.config_path).get("hash.primary") or "blake3")


# resolving ----------------------------------------------------------------------------------
def _is_hex(ref: str) -> bool:
    return bool(ref) and all(c in HEX for c in ref)


def may_be_path(ref: str) -> bool:
    """A path, or a name that cannot be a hash prefix or a job uid (as ``history.may_be_path``)."""
    return "/" in ref or ref.startswith((".", "~")) or os.path.exists(ref) or not _is_hex(ref)


def resolve_target(conn: Connection, ws: Workspace, ref: str) -> Target:
    """A path, a hash prefix (8+ hex), ``@N``/``@BN`` or a job uid → the target; the seeds'
    messages when nothing matches."""
    if ref.startswith("@"):
        return Target(ref, job=refs.resolve_step(Reader(conn), ref))
    if not may_be_path(ref):
        job = refs.resolve_job(Reader(conn), ref)  # a uid prefix (4+ hex), if one matches
        if job is not None:
            return Target(ref, job=job)
        art = resolve_hash(conn, ref)
        path = art.first_seen_path or ""
        return Target(
            ref, file=FileView(path, art.digest, art.size, art.is_composite, art.id, art.algorithm)
        )
    path = refs.remote_ref(ref) or os.path.abspath(os.path.expanduser(ref))
    found = artifact_at(conn, ws, path)
    if found is None:
        from roar.query.history import no_artifact_at

        raise no_artifact_at(ref)
    return Target(
        ref,
        file=FileView(
            path, found.digest, found.size, found.is_composite, found.id, found.algorithm
        ),
    )


def resolve_hash(conn: Connection, ref: str) -> ArtifactView:
    if len(ref) < MIN_HASH_PREFIX:
        raise RoarError(
            f"Hash prefix must be at least {MIN_HASH_PREFIX} characters for uniqueness."
        )
    hits = Reader(conn).artifacts_by_digest_prefix(ref)
    if len(hits) > 1:
        raise RoarError(
            f"Hash prefix '{ref}' is ambiguous ({len(hits)} artifacts match).",
            hint="Give more characters.",
        )
    if not hits:
        raise RoarError(
            f"Artifact not found in database: {ref}",
            hint="The file may not have been tracked by roar yet.",
        )
    return hits[0]


def artifact_at(conn: Connection, ws: Workspace, path: str) -> ArtifactView | None:
    """The artifact a file holds now (hashed through the cache) if roar knows those bytes,
    else the one last recorded at the path (a file since changed, gone, or a directory)."""
    if os.path.isfile(path):
        try:
            digest = disk_check(conn, primary_algorithm(ws)).digest_now(path)
        except OSError as exc:
            raise RoarError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        hits = Reader(conn).artifacts_by_digest(digest)
        if hits:
            return hits[0]
    real = os.path.realpath(path)
    return reads.latest_artifact_at(conn, real) or (
        reads.latest_artifact_at(conn, path) if real != path else None
    )


# walking ------------------------------------------------------------------------------------
def _same_step(head: JobHead, job: JobView) -> bool:
    return (head.session_id, head.kind == "build", head.step_number) == (
        job.session_id,
        job.kind == "build",
        job.step_number,
    )


def _choose(
    heads: list[JobHead], consumer: JobView | None, successful_only: bool
) -> tuple[JobHead | None, list[JobHead]]:
    """The producer the DAG's rule picks among ``heads`` (and, when only successful runs
    count, the failed runs that would otherwise have been picked)."""
    eligible = [
        h
        for h in heads
        if consumer is None or (not _same_step(h, consumer) and h.started_at <= consumer.started_at)
    ]
    eligible.sort(key=lambda h: (h.started_at, h.id))
    if not successful_only:
        return (eligible[-1] if eligible else None), []
    good = [h for h in eligible if h.succeeded]
    return (good[-1] if good else None), [h for h in eligible if not h.succeeded]


def walk(
    conn: Connection,
    *,
    target: FileView | None = None,
    start_jobs: list[JobView] | tuple[JobView, ...] = (),
    successful_only: bool = False,
) -> Upstream:
    """Everything upstream of ``target`` (an artifact) and/or ``start_jobs`` (taken as given)."""
    up = Upstream()
    frontier: list[tuple[FileView, JobView | None]] = []
    if target is not None:
        frontier.append((target, None))
    pending: set[int] = set()  # job ids found through variables, loaded with the next level
    for job in start_jobs:
        _take(up, job, None, frontier, pending)
    while frontier or pending:
        chosen: dict[int, list[tuple[int | None, JobView | None]]] = {}
        unresolved: list[tuple[FileView, JobView | None]] = []
        wanted = {f.artifact_id for f, _ in frontier}
        heads = reads.producers(conn, wanted) if wanted else {}
        for f, consumer in frontier:
            head, failed = _choose(heads.get(f.artifact_id, []), consumer, successful_only)
            if head is None:
                unresolved.append((f, consumer))
                if failed:
                    up.unproduced.setdefault(f.artifact_id, failed)
            else:
                chosen.setdefault(head.id, []).append((f.artifact_id, consumer))
        _through_composites(conn, unresolved, chosen, successful_only)
        for job_id in pending:
            chosen.setdefault(job_id, [])
        new_ids = [i for i in chosen if i not in up.jobs]
        views = {v.id: v for v in Reader(conn).jobs_by_id(new_ids)}
        frontier, pending = [], set()
        for job_id, found_for in chosen.items():
            known = up.jobs.get(job_id) or views.get(job_id)
            if known is None:
                continue
            job = known
            for aid, _consumer in found_for:
                if aid is not None:
                    up.produced_by.setdefault(aid, job)
                    up.unproduced.pop(aid, None)
            if job_id in up.jobs:
                continue
            aid = next((a for a, _ in found_for if a is not None), None)
            _take(up, job, aid, frontier, pending)
    return up


def _take(
    up: Upstream,
    job: JobView,
    found_for: int | None,
    frontier: list[tuple[FileView, JobView | None]],
    pending: set[int],
) -> None:
    """Add ``job`` to the walk and queue what it read."""
    up.jobs[job.id] = job
    if found_for is not None:
        up.led_to[job.id] = found_for
    for f in job.inputs:
        if f.artifact_id not in up.artifacts:
            up.artifacts[f.artifact_id] = f
            up.first_reader[f.artifact_id] = job.id
            frontier.append((f, job))
        elif f.artifact_id not in up.produced_by:
            frontier.append((f, job))  # another reader, later: maybe another producer qualifies
        up.readers.setdefault(f.artifact_id, []).append(job)
    for v in job.variables_read:
        if v.producer_job_id is not None and v.producer_job_id not in up.jobs:
            pending.add(v.producer_job_id)


def _through_composites(
    conn: Connection,
    unresolved: list[tuple[FileView, JobView | None]],
    chosen: dict[int, list[tuple[int | None, JobView | None]]],
    successful_only: bool,
) -> None:
    """A file no job wrote by itself may be a member of a directory a job wrote as a whole."""
    files = [(f, c) for f, c in unresolved if not f.is_composite]
    if not files:
        return
    containing = Reader(conn).composites_containing(f.artifact_id for f, _ in files)
    if not containing:
        return
    heads = reads.producers(conn, [c for ids in containing.values() for c in ids])
    for f, consumer in files:
        candidates = [h for cid in containing.get(f.artifact_id, []) for h in heads.get(cid, [])]
        head, _failed = _choose(candidates, consumer, successful_only)
        if head is not None:
            chosen.setdefault(head.id, []).append((f.artifact_id, consumer))


def chain_to(up: Upstream, artifact_id: int) -> list[tuple[FileView, JobView]]:
    """From an artifact of the walk down to the target: (file read, the job that read it) for
    each hop, the last job being the target's producer (or the job named as the target)."""
    hops: list[tuple[FileView, JobView]] = []
    seen: set[int] = set()
    aid: int | None = artifact_id
    while aid is not None and aid in up.first_reader and aid not in seen:
        seen.add(aid)
        job = up.jobs[up.first_reader[aid]]
        hops.append((up.artifacts[aid], job))
        aid = up.led_to.get(job.id)
        if aid is not None and aid not in up.artifacts:
            break  # the target itself
    return hops
