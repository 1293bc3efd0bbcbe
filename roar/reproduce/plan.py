"""The recipe for an artifact: the jobs that made it and the source inputs they need.

``make_plan`` walks the lineage upstream from a target (a path, a hash prefix, ``@N``/``@BN``
or a job uid) and keeps, for each artifact it needs, the latest successful job that produced
it; ``session_plan`` does the same for every output of a session. The plan is data only:
the CLI renders it and ``roar.reproduce.run`` replays it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from roar.errors import RoarError
from roar.query.disk import CURRENT
from roar.query.refs import resolve_session
from roar.query.upstream import (
    Upstream,
    disk_check,
    primary_algorithm,
    resolve_target,
    walk,
)
from roar.records import field, record
from roar.store import lineage_reads as reads
from roar.store.lineage_reads import Connection, JobHead
from roar.store.queries import Reader
from roar.store.views import FileView, JobView, step_ref
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader


@record(frozen=True)
class SourceInput:
    """An input no recorded job produced: it has to be found on disk to reproduce."""

    path: str  # the recorded absolute path
    digest: str
    size: int
    is_composite: bool
    algorithm: str
    present_at: str | None  # a local file holding these bytes now, or None


@record
class PlanStep:
    """One job to replay, with what its environment needs."""

    job: JobView
    env_names: list[str] = field(default_factory=list)  # environment variables it read
    packages: dict[str, str] = field(default_factory=dict)  # Python name -> version
    system_packages: dict[str, str] = field(default_factory=dict)
    note: str | None = None  # how the replay treats the step, when not as a command (get, put)


def step_note(job: JobView) -> str | None:
    """A get is replayed as a verified download; a put is not re-run."""
    if job.kind == "put":
        return "not re-run on reproduce: its outputs are remote copies"
    if job.kind == "get":
        url = next((f for f in job.outputs if "://" in f.path), None)
        if url is not None:
            return f"replayed as: roar get {url.path} --hash {url.digest[:12]}… (verified)"
    return None


@record
class ReproPlan:
    target: FileView | None  # None for a session's plan
    steps: list[PlanStep] = field(default_factory=list)  # dependency order, build steps first
    sources: list[SourceInput] = field(default_factory=list)
    commit: str | None = None
    repo_remote: str | None = None
    session_uid: str | None = None
    target_job: JobView | None = None  # the job named as the target (@N, a uid), if one was


def make_plan(reader: Reader, ws: Workspace, target_ref: str) -> ReproPlan:
    """The plan for a path, a hash prefix (8+ hex), ``@N``/``@BN`` or a job uid."""
    return plan_for(reader.conn, ws, target_ref)


def session_plan(reader: Reader, ws: Workspace, session_ref: str) -> ReproPlan:
    """The plan for a whole session: the latest successful run of each of its steps."""
    return plan_for_session(reader.conn, ws, session_ref)


def plan_for(conn: Connection, ws: Workspace, target_ref: str) -> ReproPlan:
    target = resolve_target(conn, ws, target_ref)
    if target.job is not None:
        job = target.job
        if not (job.exit_code == 0 and not job.interrupted):
            raise RoarError(
                f"{target.name} did not succeed ({_how_it_ended(job)}): there is no successful "
                "run of it to reproduce.",
                hint="Rerun it (roar run @N), then reproduce.",
            )
        walked = walk(conn, start_jobs=[job], successful_only=True)
        return _plan(conn, ws, walked, None, job)
    assert target.file is not None
    walked = walk(conn, target=target.file, successful_only=True)
    if target.file.artifact_id not in walked.produced_by:
        failed = walked.unproduced.get(target.file.artifact_id)
        if failed:
            refs = ", ".join(sorted({step_ref(h.kind, h.step_number) for h in failed}))
            raise RoarError(
                f"{target.label} was produced only by failed runs ({refs}): there is no "
                "successful run to reproduce.",
                hint="Rerun the step until it succeeds (roar run @N), then reproduce.",
            )
        raise RoarError(
            f"No recorded job produced {target.label}: it is a source input, nothing to reproduce.",
            hint="roar reproduce rebuilds what recorded jobs made; `roar show` tells where a "
            "file came from.",
        )
    return _plan(conn, ws, walked, target.file, None)


def plan_for_session(conn: Connection, ws: Workspace, session_ref: str) -> ReproPlan:
    session = resolve_session(Reader(conn), session_ref)
    latest: dict[tuple[bool, int], JobHead] = {}
    for head in sorted(reads.session_heads(conn, session.id), key=lambda h: (h.started_at, h.id)):
        if head.succeeded and not head.is_build:
            latest[(head.is_build, head.step_number)] = head
    if not latest:
        raise RoarError(
            f"Session {session.uid[:12]} has no successful pipeline step to reproduce.",
            hint="`roar session show` lists its jobs.",
        )
    views = {v.id: v for v in Reader(conn).jobs_by_id(h.id for h in latest.values())}
    walked = walk(conn, start_jobs=list(views.values()), successful_only=True)
    plan = _plan(conn, ws, walked, None, None)
    plan.session_uid = session.uid
    return plan


def _plan(
    conn: Connection,
    ws: Workspace,
    walked: Upstream,
    target: FileView | None,
    target_job: JobView | None,
) -> ReproPlan:
    jobs = walked.ordered_jobs()
    builds = _builds_before(conn, jobs, walked)
    steps = [_step(j) for j in [*builds, *(j for j in jobs if j.kind != "build")]]
    # The commit to check out: the newest one the plan's jobs ran at (the target's producer's).
    newest = next((j for j in reversed(jobs) if j.git_commit), None)
    session_uid = None
    last = target_job or (walked.produced_by.get(target.artifact_id) if target else None)
    if last is not None:
        session_uid = reads.session_uid(conn, last.session_id)
    return ReproPlan(
        target=target,
        steps=steps,
        sources=locate_sources(conn, ws, walked.sources),
        commit=newest.git_commit if newest else None,
        repo_remote=newest.git_remote if newest else None,
        session_uid=session_uid,
        target_job=target_job,
    )


def _builds_before(conn: Connection, jobs: list[JobView], walked: Upstream) -> list[JobView]:
    """The build steps (``roar build``) of the plan's sessions that ran before its last job:
    the latest successful run of each, replayed first. Builds stay off the DAG's edges, so the
    walk does not find them by content."""
    if not jobs:
        return []
    until = max(j.started_at for j in jobs)
    latest: dict[tuple[int, int], JobHead] = {}
    heads = reads.build_heads(conn, {j.session_id for j in jobs})
    for head in sorted(heads, key=lambda h: (h.started_at, h.id)):
        if head.succeeded and head.started_at <= until:
            latest[(head.session_id, head.step_number)] = head
    have = {j.id for j in jobs if j.kind == "build"}
    wanted = [h.id for h in latest.values() if h.id not in have]
    views = {v.id: v for v in Reader(conn).jobs_by_id(wanted)}
    found = [*views.values(), *(walked.jobs[i] for i in have)]
    return sorted(found, key=lambda j: (j.started_at, j.id))


def _step(job: JobView) -> PlanStep:
    meta = job.metadata or {}
    env = set(meta.get("env") or {}) | set(meta.get("env_injected") or [])
    packages = meta.get("packages") or {}
    system: dict[str, str] = {}
    for key in ("dpkg", "apt", "system"):
        system.update(packages.get(key) or {})
    return PlanStep(
        job=job,
        env_names=sorted(env),
        packages=dict(packages.get("pip") or {}),
        system_packages=system,
        note=step_note(job),
    )


def locate_sources(conn: Connection, ws: Workspace, files: list[FileView]) -> list[SourceInput]:
    """Each source input with a local file that holds its bytes now: the recorded path if it
    still does, else another path roar recorded those bytes at, else a hash-cache entry whose
    file is unchanged since it was hashed."""
    algorithm = primary_algorithm(ws)
    check = disk_check(conn, algorithm)
    states = check.states((f.path, f.digest, f.size, f.algorithm, f.is_composite) for f in files)
    found: dict[int, str] = {
        f.artifact_id: f.path for f in files if states.get((f.path, f.digest)) == CURRENT
    }
    missing = [f for f in files if f.artifact_id not in found]
    if missing:
        others = reads.recorded_paths(conn, [f.artifact_id for f in missing])
        candidates = [(f, p) for f in missing for p in others.get(f.artifact_id, []) if p != f.path]
        states = check.states(
            (p, f.digest, f.size, f.algorithm, f.is_composite) for f, p in candidates
        )
        for f, p in candidates:
            if f.artifact_id not in found and states.get((p, f.digest)) == CURRENT:
                found[f.artifact_id] = p
    missing = [f for f in missing if f.artifact_id not in found and not f.is_composite]
    if missing:
        by_algorithm: dict[str, list[FileView]] = {}
        for f in missing:
            by_algorithm.setdefault(f.algorithm or algorithm, []).append(f)
        for alg, group in by_algorithm.items():
            cached = reads.cached_files(conn, alg, [f.digest for f in group])
            for f in group:
                hit = next((c for c in cached.get(f.digest, []) if _unchanged(c)), None)
                if hit is not None:
                    found[f.artifact_id] = hit.path
    return [
        SourceInput(
            path=f.path,
            digest=f.digest,
            size=f.size,
            is_composite=f.is_composite,
            algorithm=f.algorithm or algorithm,
            present_at=found.get(f.artifact_id),
        )
        for f in files
    ]


def _unchanged(entry: reads.CachedFile) -> bool:
    try:
        st = os.stat(entry.path)
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
        entry.dev,
        entry.inode,
        entry.size,
        entry.mtime_ns,
    )


def _how_it_ended(job: JobView) -> str:
    if job.interrupted:
        return "interrupted"
    return "exit status unknown" if job.exit_code is None else f"exit {job.exit_code}"


def requirements(plan: ReproPlan) -> list[str]:
    """The union of the steps' recorded Python packages as ``name==version``, sorted; a name
    recorded at two versions is listed at both (the steps disagree: pip will say so)."""
    pins = {(name, version) for step in plan.steps for name, version in step.packages.items()}
    return [f"{n}=={v}" for n, v in sorted(pins, key=lambda p: (p[0].lower(), p[1]))]
