"""Questions about what was recorded: resolve references, load DAGs and lineages.

The commands call these and only render what comes back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roar import config as config_mod
from roar.errors import RoarError
from roar.query import refs
from roar.query.lineage import Dag, Lineage, build_dag, upstream
from roar.query.refs import HEX as HEX
from roar.query.refs import MIN_HASH_PREFIX as MIN_HASH_PREFIX
from roar.query.refs import STEP_REF as STEP_REF
from roar.query.refs import require_active_session as require_active_session
from roar.query.refs import resolve_job as resolve_job
from roar.query.refs import resolve_session as resolve_session
from roar.query.refs import resolve_step as resolve_step
from roar.store.views import ArtifactView, DeletedFile, FileView, JobView, SessionView
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.query.disk import DiskCheck
    from roar.store.queries import Reader


def disk_check(reader: Reader) -> DiskCheck:
    """Compares recorded files with the disk through the store's hash cache, read only."""
    from roar.query.disk import DiskCheck

    return DiskCheck(reader.cached_digests)


def session_dag_of(reader: Reader, session: SessionView, *, expanded: bool = False) -> Dag:
    """A session's DAG, compared with the disk: edits made outside roar count."""
    jobs = reader.session_jobs(session.id)
    return build_dag(session.id, jobs, expanded=expanded, disk=disk_check(reader).states)


def active_dag(reader: Reader, *, expanded: bool = False) -> Dag:
    """The active session's DAG; an empty one before the first job (not an error)."""
    session = reader.active_session()
    if session is None:
        return Dag(None, [], [], expanded)
    return session_dag_of(reader, session, expanded=expanded)


def session_dag(reader: Reader, *, expanded: bool = False) -> tuple[SessionView, Dag]:
    session = require_active_session(reader)
    return session, session_dag_of(reader, session, expanded=expanded)


@dataclass
class ArtifactHit:
    artifact: ArtifactView
    path: str | None  # the path the user named, absolute
    on_disk: bool
    disk_state: str = "current"  # roar.query.disk: current | modified on disk | missing


def looks_like_path(ref: str) -> bool:
    return "/" in ref or ref.startswith((".", "~")) or os.path.exists(ref)


def may_be_path(ref: str) -> bool:
    """A path, or a name that cannot be a hash prefix (a file that is gone: ``roar show p1``)."""
    return looks_like_path(ref) or not HEX.match(ref)


def no_artifact_at(ref: str) -> RoarError:
    """The seeds' message for a path that names no recorded artifact, with what to try."""
    return RoarError(
        f"No artifact found for path: {ref}",
        hint="Only files a traced command read or wrote are tracked (temp files and packages "
        "are filtered as noise), and a relative path is resolved against the current directory. "
        "`roar dag --show-artifacts` lists the session's artifacts.",
    )


def resolve_artifact(reader: Reader, ws: Workspace, ref: str) -> ArtifactHit | None:
    """A path (hashed now, through the cache) or a hash prefix (≥ 8 hex) → the artifact."""
    check = disk_check(reader)
    if may_be_path(ref):
        path = refs.remote_ref(ref) or os.path.abspath(os.path.expanduser(ref))
        if os.path.isfile(path):
            digest = _digest_of(ws, check, path)
            hits = reader.artifacts_by_digest(digest)
            if hits:
                return ArtifactHit(hits[0], path, True)
        # Missing on disk, a directory, or changed: fall back to the last record at that path.
        for job in reader.jobs_with_path(os.path.realpath(path)) or reader.jobs_with_path(path):
            records: list[FileView | DeletedFile] = [*job.outputs, *job.inputs, *job.deleted]
            for f in records:
                if f.path in (path, os.path.realpath(path)) and f.artifact_id is not None:
                    art = reader.artifact(f.artifact_id)
                    if art:
                        state = check.state(
                            path, art.digest, art.size, art.algorithm, art.is_composite
                        )
                        return ArtifactHit(art, path, os.path.exists(path), state)
        return None
    if HEX.match(ref):
        if len(ref) < MIN_HASH_PREFIX:
            raise RoarError(
                f"Hash prefix must be at least {MIN_HASH_PREFIX} characters for uniqueness."
            )
        hits = reader.artifacts_by_digest_prefix(ref)
        if len(hits) > 1:
            raise RoarError(
                f"Hash prefix '{ref}' is ambiguous ({len(hits)} artifacts match).",
                hint="Give more characters.",
            )
        if hits:
            art, seen = hits[0], hits[0].first_seen_path
            state = (
                check.state(seen, art.digest, art.size, art.algorithm, art.is_composite)
                if seen
                else "missing"
            )
            return ArtifactHit(art, seen, bool(seen and os.path.exists(seen)), state)
    return None


def disk_states(reader: Reader, files: Iterable[FileView]) -> dict[tuple[str, str], str]:
    """(path, digest) → current | modified on disk | missing, for files a job recorded."""
    return disk_check(reader).states(
        (f.path, f.digest, f.size, f.algorithm, f.is_composite) for f in files
    )


def deletions_at(reader: Reader, path: str) -> list[JobView]:
    """Jobs that removed the file at ``path`` (as named, or its real path), newest first."""
    wanted = {os.path.abspath(os.path.expanduser(path))}
    wanted.add(os.path.realpath(next(iter(wanted))))
    jobs = {j.id: j for p in wanted for j in reader.jobs_with_path(p)}
    found = [j for j in jobs.values() if any(f.path in wanted for f in j.deleted)]
    return sorted(found, key=lambda j: (j.started_at, j.id), reverse=True)


def artifact_lineage(reader: Reader, hit: ArtifactHit, depth: int = 50) -> Lineage:
    art = hit.artifact
    target = FileView(
        hit.path or art.first_seen_path or "",
        art.digest,
        art.size,
        art.is_composite,
        art.id,
        art.algorithm,
    )

    def producer_of(digest: str, consumer: JobView | None) -> JobView | None:
        ids = [a.id for a in reader.artifacts_by_digest(digest)]
        for job in reader.jobs_with_artifacts(ids, "output"):  # newest first
            if consumer is None:
                return job
            same_step = (job.session_id, job.ref) == (consumer.session_id, consumer.ref)
            if not same_step and job.started_at <= consumer.started_at:
                return job
        return None

    lineage = upstream(target, producer_of, depth=depth)
    lineage.disk = disk_states(reader, [lineage.target, *lineage.artifacts])
    return lineage


def _digest_of(ws: Workspace, check: DiskCheck, path: str) -> str:
    """The file's digest now: from the hash cache when its stat key matches, else hashed here.
    Nothing is written: the cache belongs to ``roar run`` (readers never write the store)."""
    algorithm = config_mod.load(ws.config_path).get("hash.primary")
    try:
        return check.digest_now(path, algorithm)
    except OSError as exc:
        raise RoarError(f"Cannot read {path}: {exc.strerror or exc}.") from None
