"""`roar run` / `roar build`: trace a command and record it as a job.

The command starts as early as possible: only the clean-tree check (one git status, which also
gives the commit and branch) comes before it; host facts and store set-up happen while it runs.
Everything after it ends (hashing, package mapping, the write) is batched: one git call for
tracked-file checks, one parallel hashing pass through the cache, one write transaction.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from roar import config as config_mod
from roar.errors import NotGitRepoError, RoarError
from roar.ray.session import prepare as ray_prepare
from roar.record import envinfo, gitinfo, hashing
from roar.record.filters import NoiseFilter
from roar.record.lineage_files import PlannedFiles, plan
from roar.records import field, record
from roar.remote_access.session import RemoteSession
from roar.remote_access.session import prepare as remote_prepare
from roar.store import inflight, spool, writer
from roar.store.connection import Connection, describe_failure, ensure_writable, opened
from roar.tracing.run import Summary, TracedRun
from roar.tracing.selection import TRACED_BY_ENV, choose
from roar.workspace import Workspace, find_git_root, require_workspace

DIRTY_LIST_LIMIT = 5


@record(frozen=True)
class RunRequest:
    argv: Sequence[str]
    kind: str = "run"  # run | build
    cwd: str | None = None
    name: str | None = None
    hash_algorithm: str | None = None
    allow_dirty: bool = False
    tracer: str | None = None
    forced_step: int | None = None


@record
class RunOutcome:
    exit_code: int | None  # None: the command's exit status was not seen (recorded as unknown)
    command: str
    duration: float
    interrupted: bool
    kind: str = "run"
    quiet: bool = False  # the project's output.quiet setting
    job_uid: str | None = None
    step_number: int | None = None
    is_rerun: bool = False
    files: list[writer.HashedFile] = field(default_factory=list)
    algorithm: str = "blake3"
    warnings: list[str] = field(default_factory=list)
    not_started: str | None = None  # why the command could not start
    spooled: spool.Spooled | None = None  # the store refused the job: where it is kept instead

    def files_in(self, role: str) -> list[writer.HashedFile]:
        return [f for f in self.files if f.role == role]


@record
class PreparedJob:
    """What is known about a job before and while it runs."""

    request: RunRequest
    ws: Workspace
    cfg: config_mod.Config
    repo: Path
    cwd: str
    algorithm: str
    dirty: list[str]
    diff_hash: str | None
    started: float = 0.0
    git_state: gitinfo.GitState | None = None
    metadata: dict = field(default_factory=dict)


def run(request: RunRequest) -> RunOutcome:
    job = prepare(request)
    notes: list[str] = []  # auto's fallback, said once with the run's warnings and recorded
    backend = choose(request.tracer, job.cfg.get("tracer.backend"), notes)
    env = {**os.environ, **job.cfg.env, TRACED_BY_ENV: backend}
    ray_session = ray_prepare(env)  # a Ray driver's workers join this job (roar/ray/)
    remote = remote_prepare(env, job.algorithm)  # S3 objects read/written (roar/remote_access/)
    # The store is opened, upgraded and checked writable before the command starts: a command
    # that ran cannot be run again to get its record back.
    with opened(job.ws.db_path) as conn:
        ensure_writable(conn, job.ws.db_path)
        job.started = time.time()
        # Before the command starts: a roar killed while it runs loses nothing (inflight.py).
        flight = _in_flight(job, backend)
        try:
            traced = TracedRun(request.argv, env, job.cwd, backend, **flight.trace_args())
        except BaseException:
            flight.done()
            raise
        try:
            _capture_context(job, env)  # while the command runs: it does not depend on the result
            flight.context(job.metadata, traced.pid)
        finally:
            summary = traced.wait()  # roar never returns before the command, whatever happened
        ended = time.time()
        if remote is not None:  # before Ray's: each puts back the PYTHONPATH it found
            remote.merge(summary, job.metadata)
        if ray_session is not None:
            ray_session.merge(summary, job.metadata)
        summary.warnings[:0] = notes
        if summary.exec_error:
            flight.done()
            return RunOutcome(summary.exit_code, shlex.join(request.argv), ended - job.started, False,
                              kind=request.kind, not_started=summary.exec_error)  # fmt: skip
        outcome = _record(job, conn, summary, ended, flight.drop_summary, remote)
        if outcome.spooled is not None and outcome.spooled.kept_at is None:
            flight.close()  # not kept: the next roar command records it from its record
        else:
            flight.done()
    traced.keep_tracing()  # ptrace, when the wait for processes left running was stopped
    return outcome


def _in_flight(job: PreparedJob, backend: str) -> inflight.InFlight:
    """The in-flight record of a job about to start (see roar/store/inflight.py)."""
    request = job.request
    argv = list(request.argv)
    masked = envinfo.mask_argv(argv) if job.cfg.get("registration.omit.enabled") else argv
    git = job.git_state or gitinfo.GitState(None, None, None)
    record = {
        "kind": request.kind,
        "argv": masked,
        "command": shlex.join(masked),
        "cwd": job.cwd,
        "repo": str(job.repo),
        "name": request.name,
        "forced_step": request.forced_step,
        "algorithm": job.algorithm,
        "backend": backend,
        "started_at": job.started,
        "step_identity": step_identity(request.kind, masked, job.cwd, job.ws.root),
        "git": {"commit": git.commit, "branch": git.branch, "remote": git.remote},
        "dirty": job.dirty,
        "diff_hash": job.diff_hash,
    }
    try:
        return inflight.begin(job.ws.db_path, record)
    except OSError as exc:
        raise describe_failure(job.ws.db_path, exc) from exc


def prepare(request: RunRequest) -> PreparedJob:
    """Everything that must hold before the command may start (or why it may not)."""
    cwd = os.path.abspath(request.cwd or os.getcwd())
    ws = require_workspace(cwd)
    cfg = config_mod.load(ws.config_path)
    repo = find_git_root(cwd)
    if repo is None:
        raise NotGitRepoError()
    algorithm = hash_algorithm(request.hash_algorithm, cfg.get("hash.primary"))
    # One git status answers the dirty check, commit and branch (the origin URL alongside).
    git_state, dirty = gitinfo.snapshot(repo, cwd=cwd)
    if dirty and not request.allow_dirty:
        raise _dirty_error(dirty)
    # The diff describes the code the job starts from, so it is taken before the job can edit it.
    diff_hash = gitinfo.diff_hash(repo) if dirty else None
    return PreparedJob(
        request, ws, cfg, repo, cwd, algorithm, dirty, diff_hash, git_state=git_state
    )


def record_observed(job: PreparedJob, summary: Summary, ended: float) -> RunOutcome:
    """Record a command that ran (from ``job.started`` to ``ended``) under a tracer this module
    did not start.

    The notebook kernel uses this for `%roar run`: the kernel already runs under a tracer in
    long-lived mode, so the command's accesses arrive as the summary of an interval.
    """
    _capture_context(job, {**os.environ, **job.cfg.env})
    with opened(job.ws.db_path) as conn:
        return _record(job, conn, summary, ended)


def _capture_context(job: PreparedJob, env: dict[str, str]) -> None:
    """The job's static metadata (environment, host); ``prepare`` took the git state."""
    job.metadata = static_metadata(env, job.cfg)


def _record(
    job: PreparedJob,
    conn: Connection,
    summary: Summary,
    ended: float,
    make_room: Callable[[], None] | None = None,
    remote: RemoteSession | None = None,
) -> RunOutcome:
    request, cfg = job.request, job.cfg
    noise = NoiseFilter.from_config(str(job.ws.root), cfg.values)
    planned = plan(
        summary.files,
        noise,
        tracked=lambda paths: gitinfo.tracked_among(job.repo, paths),
        track_repo_files=cfg.get("output.track_repo_files"),
        composites_before=lambda dirs: writer.recorded_composites(conn, dirs),
    )
    files, digests, warnings = hash_planned(conn, planned, job.algorithm)
    metadata = job.metadata
    objects = remote.objects(conn, files, job.algorithm, metadata, warnings) if remote else []
    metadata["hashing"] = {
        "algorithm": job.algorithm,
        "cache_hits": digests.cache_hits,
        "hashed": len(digests.fresh),
    }
    if unknown := unhashed(planned, digests, files):
        metadata["hashing"]["unhashed"] = unknown
    metadata["packages"] = packages_of(planned.package_reads, job.ws)
    metadata["processes"] = len(summary.processes)
    metadata["warnings"] = summary.warnings + warnings
    argv = list(request.argv)
    masked_argv = envinfo.mask_argv(argv) if cfg.get("registration.omit.enabled") else argv
    git = job.git_state or gitinfo.GitState(None, None, None)
    new_job = writer.NewJob(
        kind=request.kind,
        command=shlex.join(masked_argv),
        argv=masked_argv,
        cwd=relative_cwd(job.cwd, job.ws.root),
        started_at=job.started,
        ended_at=ended,
        exit_code=summary.exit_code,
        interrupted=summary.interrupted,
        tracer=summary.backend or "ptrace",
        # The masked argv: a step is not renamed by a rotated token, and no hash of a secret
        # (brute-forceable when short) is stored.
        step_identity=step_identity(request.kind, masked_argv, job.cwd, job.ws.root),
        algorithm=job.algorithm,
        files=files,
        step_name=request.name,
        forced_step=request.forced_step,
        git_commit=git.commit,
        git_branch=git.branch,
        git_remote=git.remote,
        git_dirty=bool(job.dirty),
        git_diff_hash=job.diff_hash,
        metadata=metadata,
        remote_objects=objects,
    )
    recorded = spool.record_or_spool(conn, job.ws.db_path, new_job, digests.fresh, make_room)
    outcome = RunOutcome(
        exit_code=summary.exit_code,
        command=new_job.command,
        duration=ended - job.started,
        interrupted=summary.interrupted,
        kind=request.kind,
        quiet=cfg.get("output.quiet"),
        files=files,
        algorithm=job.algorithm,
        warnings=metadata["warnings"],
    )
    if isinstance(recorded, spool.Spooled):
        outcome.spooled = recorded
    else:
        outcome.job_uid = recorded.uid
        outcome.step_number = recorded.step_number
        outcome.is_rerun = recorded.is_rerun
    return outcome


def step_identity(kind: str, argv: Sequence[str], cwd: str, root: Path) -> str:
    """The same command in the same directory is the same step; different commands never are."""
    payload = json.dumps(
        {"kind": kind, "cwd": relative_cwd(cwd, root), "argv": list(argv)}, sort_keys=True
    )
    return hashing.hash_bytes(payload.encode("utf-8", "surrogateescape"), "sha256")


def relative_cwd(cwd: str, root: Path) -> str:
    rel = os.path.relpath(os.path.abspath(cwd), root)
    return "" if rel == "." else rel


def hash_planned(
    conn: Connection,
    planned: PlannedFiles,
    algorithm: str,
    expected: Mapping[str, hashing.Identity] | None = None,
) -> tuple[list[writer.HashedFile], hashing.Digests, list[str]]:
    member_paths = [
        m
        for ms in (*planned.composite_inputs.values(), *planned.composite_outputs.values())
        for m in ms
    ]
    digests = hashing.hash_paths(
        conn, [*planned.inputs, *planned.outputs, *member_paths], algorithm, expected
    )
    files: list[writer.HashedFile] = []
    warnings: list[str] = []
    before = pre_images(conn, planned, algorithm)
    for role, paths in (("input", planned.inputs), ("output", planned.outputs)):
        for path in paths:
            if role == "input" and path in planned.in_place:
                if path in before:  # what the job read, not what it left behind
                    files.append(writer.HashedFile(path, role, *before[path]))
                continue
            if path in digests.found:
                digest, size = digests.found[path]
                files.append(writer.HashedFile(path, role, digest, size))
    for role, composites in (
        ("input", planned.composite_inputs),
        ("output", planned.composite_outputs),
    ):
        for directory, members in composites.items():
            if any(digests.failed.get(m) == hashing.CHANGING for m in members):
                continue  # no digest of a directory whose member had none (see unhashed)
            prefix = len(directory.rstrip("/")) + 1  # members lie below it: no relpath needed
            hashed = [(m[prefix:], *digests.found[m]) for m in members if m in digests.found]
            digest = hashing.composite_digest([(rel, d) for rel, d, _ in hashed], algorithm)
            size = sum(s for _, _, s in hashed)
            files.append(writer.HashedFile(directory, role, digest, size, True, hashed))
    files += deleted_files(conn, planned, algorithm, digests)
    unknown_before = [p for p in planned.in_place if p in planned.inputs and p not in before]
    if unknown_before:
        warnings.append(
            f"{len(unknown_before)} file(s) the job read and then modified in place had no "
            f"content on record from before the job, so they are inputs without a hash, "
            f"e.g. {unknown_before[0]}"
        )
    changed = [p for p, why in digests.failed.items() if why == hashing.CHANGED]
    if changed:
        warnings.append(
            f"{len(changed)} file(s) changed before roar could hash them (something that ran "
            f"later wrote them), so they are left out of this job, e.g. {changed[0]}"
        )
    changing = [p for p, why in digests.failed.items() if why == hashing.CHANGING]
    if changing:
        warnings.append(
            f"{len(changing)} file(s) kept changing while roar hashed them (another process was "
            f"writing them), so they are recorded without a hash, e.g. {changing[0]}"
        )
    unreadable = [
        p
        for p, why in digests.failed.items()
        if why not in ("missing", "not a regular file", hashing.CHANGED, hashing.CHANGING)
    ]
    if unreadable:
        warnings.append(
            f"{len(unreadable)} file(s) could not be read for hashing, e.g. {unreadable[0]}"
        )
    return files, digests, warnings


UNKNOWN_PRE_IMAGE = "modified in place; its content before the job is unknown"


def pre_images(
    conn: Connection | None, planned: PlannedFiles, algorithm: str
) -> dict[str, tuple[str, int]]:
    """path → (digest, size) of what an input modified in place held before the job.

    The file now holds the job's output, so its bytes from before are known only from the hash
    cache: an entry for the same file (device, inode) with the mtime the tracer saw before the
    job's first write. Without one (never hashed, or edited since roar last hashed it) the
    content the job read is unknown, and the input is recorded without a hash (see
    ``unknown_pre_images``) — never with the hash of other bytes."""
    if conn is None or not planned.in_place:
        return {}
    keys: dict[str, tuple[int, int]] = {}
    for path, mtime_before in planned.in_place.items():
        if mtime_before is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        keys[path] = (st.st_dev, st.st_ino)
    cached = writer.lookup_cache(conn, algorithm, list(keys.values()))
    found: dict[str, tuple[str, int]] = {}
    for path, key in keys.items():
        entry = cached.get(key)
        if entry is not None and entry[1] == planned.in_place[path]:
            size, _mtime, digest = entry
            found[path] = (digest, size)
    return found


def deleted_files(
    conn: Connection, planned: PlannedFiles, algorithm: str, digests: hashing.Digests
) -> list[writer.HashedFile]:
    """The files the job removed, each with what it held before as roar last recorded it (the
    file is gone: nothing is hashed; the digest is None when that is unknown). A file the job
    read and then removed is an input too, with those bytes, when they are known."""
    if not planned.deleted:
        return []
    known = writer.last_known(conn, algorithm, planned.deleted)
    read = set(planned.inputs)
    files: list[writer.HashedFile] = []
    for path in planned.deleted:
        k = known.get(path)
        if k is None:
            files.append(writer.HashedFile(path, "deleted", None, 0))
            continue
        files.append(writer.HashedFile(path, "deleted", k.digest, k.size, k.is_composite))
        if path in read and path not in digests.found:
            files.append(writer.HashedFile(path, "input", k.digest, k.size, k.is_composite))
    return files


def unhashed(
    planned: PlannedFiles, digests: hashing.Digests, files: list[writer.HashedFile]
) -> list[dict[str, str]]:
    """The job's files that got no digest, recorded (in the job's metadata) with their role and
    no hash rather than left out or given a digest of bytes they never held: files that kept
    changing while hashed (a directory whose member did is one of them), and inputs modified in
    place whose content from before the job is unknown."""
    hashed_inputs = {f.path for f in files if f.role == "input"}
    out: list[dict[str, str]] = [
        {"path": p, "role": "input", "reason": UNKNOWN_PRE_IMAGE}
        for p in planned.in_place
        if p in planned.inputs and p not in hashed_inputs
    ]
    for role, paths, composites in (
        ("input", planned.inputs, planned.composite_inputs),
        ("output", planned.outputs, planned.composite_outputs),
    ):
        changing = [p for p in paths if digests.failed.get(p) == hashing.CHANGING]
        changing += [
            d
            for d, members in composites.items()
            if any(digests.failed.get(m) == hashing.CHANGING for m in members)
        ]
        out += [{"path": p, "role": role, "reason": hashing.CHANGING} for p in changing]
    return out


def packages_of(package_reads: list[str], ws: Workspace) -> dict:
    if not package_reads:
        return {}
    from roar.record.packages import packages_used

    used = packages_used(package_reads, ws.roar_dir / "cache")
    return {"pip": used} if used else {}


def static_metadata(env: dict[str, str], cfg: config_mod.Config) -> dict:
    return {
        "env": envinfo.recorded_environment(env, mask=cfg.get("registration.omit.enabled")),
        "env_injected": sorted(cfg.env),
        "host": envinfo.host_facts(),
    }


def hash_algorithm(requested: str | None, configured: str) -> str:
    algorithm = (requested or configured or "blake3").lower()
    if algorithm not in hashing.ALGORITHMS:
        raise RoarError(
            f"Unknown hash algorithm: {algorithm}.",
            hint=f"Choose one of: {', '.join(hashing.ALGORITHMS)}.",
        )
    return algorithm


def _dirty_error(dirty: list[str]) -> RoarError:
    shown = "\n".join(f"  {line}" for line in dirty[:DIRTY_LIST_LIMIT])
    more = (
        f"\n  ... and {len(dirty) - DIRTY_LIST_LIMIT} more" if len(dirty) > DIRTY_LIST_LIMIT else ""
    )
    return RoarError(
        f"Git repository has uncommitted changes:\n{shown}{more}",
        hint="Commit your changes before running this command, or pass --allow-dirty to record the "
        "job with the dirty state and a hash of the diff.",
    )
