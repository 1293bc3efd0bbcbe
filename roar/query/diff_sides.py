"""The two things ``roar diff`` compares, loaded as lineages, and their jobs paired step for step.

A side is an artifact (its upstream lineage: the jobs that made it, walked from the target with
indexed lookups, never a whole session), a job (the job and its upstream lineage) or a session
(the latest run of each of its steps). Jobs are paired structurally first — the two targets'
producers, then the producers of the inputs those read in the same role, and so on upstream —
then by what they run (the same program or script, in the same directory), so a chain of
``step.py`` runs pairs link by link. A job both lineages hold (a shared upstream step) pairs
with itself before anything else. What is left over exists on one side only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from roar.errors import RoarError
from roar.query import diff_params
from roar.query.history import (
    looks_like_path,
    may_be_path,
    no_artifact_at,
    resolve_artifact,
    resolve_job,
    resolve_session,
)
from roar.records import record
from roar.store.views import FileView, JobView, SessionView
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader

MAX_DEPTH = 50
CANDIDATES = 64  # jobs of the same program weighed against each other when none matches


@record
class Side:
    ref: str  # as the user typed it
    kind: str  # artifact | job | session
    jobs: list[JobView]  # the lineage, in execution order
    target: FileView | None = None  # an artifact side's artifact
    anchor: JobView | None = None  # the job named, or the one that made the target
    session: SessionView | None = None
    _made: dict[str, list[JobView]] | None = None  # digest → jobs that wrote it (built once)

    def producer(self, digest: str, consumer: JobView) -> JobView | None:
        """The latest job of this lineage, of another step, that wrote ``digest`` before
        ``consumer`` started (the DAG's rule); None: a source input here."""
        if self._made is None:
            self._made = {}
            for job in self.jobs:
                for out in job.outputs:
                    self._made.setdefault(out.digest, []).append(job)
        best = None
        for job in self._made.get(digest, ()):
            other_step = (job.session_id, job.ref) != (consumer.session_id, consumer.ref)
            if other_step and job.started_at <= consumer.started_at:
                best = job
        return best


def load_side(reader: Reader, ws: Workspace, ref: str) -> Side:
    """``session:current``/``session:PREFIX``, ``@N``/``@BN``/a job uid, or an artifact (a path or
    a hash prefix of 8+ hex); a bare hex string names a job uid before an artifact hash."""
    if ref.startswith("session:"):
        session = resolve_session(reader, ref)
        return Side(ref, "session", latest_runs(reader.session_jobs(session.id)), session=session)
    job = None if looks_like_path(ref) else resolve_job(reader, ref)  # @N: one indexed read
    if job is not None:
        return Side(ref, "job", job_lineage(reader, job), anchor=job)
    hit = resolve_artifact(reader, ws, ref)
    if hit is None:
        if may_be_path(ref):
            raise no_artifact_at(ref)
        raise RoarError(
            f"Not found: {ref}",
            hint="Name an artifact (a path or a hash prefix of 8+ hex), a job (@N, @BN or a job "
            "uid) or a session (session:current, session:PREFIX).",
        )
    art = hit.artifact
    target = FileView(
        hit.path or art.first_seen_path or "", art.digest, art.size, art.is_composite, art.id,
        art.algorithm,
    )  # fmt: skip
    walk = Upstream(reader)
    anchor = walk.producer_of(art.digest, None)
    jobs = walk.lineage(anchor) if anchor is not None else []
    return Side(ref, "artifact", jobs, target=target, anchor=anchor)


def latest_runs(jobs: list[JobView]) -> list[JobView]:
    """The latest run of each step (build steps are numbered apart), in execution order."""
    latest: dict[str, JobView] = {}
    for job in sorted(jobs, key=lambda j: (j.started_at, j.id)):
        latest[job.ref] = job
    return sorted(latest.values(), key=lambda j: (j.started_at, j.id))


def job_lineage(reader: Reader, job: JobView) -> list[JobView]:
    return Upstream(reader).lineage(job)


class Upstream:
    """Walks upstream from a job by the rule ``artifact_lineage`` follows for files — the
    producer of what a job read is the newest job of another step that wrote those bytes and
    started no later — and, for notebook cells, to the cell whose execution defined a variable
    the job read. Indexed lookups only: a lineage, never a whole session."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self._writers: dict[str, list[JobView]] = {}

    def producer_of(self, digest: str, consumer: JobView | None) -> JobView | None:
        if digest not in self._writers:
            ids = [a.id for a in self.reader.artifacts_by_digest(digest)]
            self._writers[digest] = self.reader.jobs_with_artifacts(ids, "output")  # newest first
        for job in self._writers[digest]:
            if consumer is None:
                return job
            same_step = (job.session_id, job.ref) == (consumer.session_id, consumer.ref)
            if not same_step and job.started_at <= consumer.started_at:
                return job
        return None

    def definer_of(self, uid: str | None) -> JobView | None:
        jobs = self.reader.jobs_by_uid_prefix(uid) if uid else []
        return jobs[0] if len(jobs) == 1 else None

    def lineage(self, start: JobView) -> list[JobView]:
        """``start`` and every job upstream of it, in execution order."""
        found = {start.id: start}
        frontier = [start]
        for _ in range(MAX_DEPTH):
            upstream: list[JobView] = []
            for job in frontier:
                producers = [self.producer_of(f.digest, job) for f in job.inputs]
                producers += [
                    self.definer_of(v.producer_job_uid)
                    for v in job.variables_read
                    if v.producer_job_id not in found
                ]
                for producer in producers:
                    if producer is not None and producer.id not in found:
                        found[producer.id] = producer
                        upstream.append(producer)
            if not upstream:
                break
            frontier = upstream
        return sorted(found.values(), key=lambda j: (j.started_at, j.id))


# Pairing ----------------------------------------------------------------------------------------
class JobShape:
    """A job's command as a program and parameters, and how its arguments name files."""

    def __init__(self, job: JobView, root: Path):
        self.job = job
        self.shape = diff_params.shape(job.argv)
        self.cwd = os.path.join(str(root), job.cwd) if job.cwd else str(root)
        # Recorded paths are as the tracer saw them: through the real directory, too.
        self.bases = tuple(dict.fromkeys((self.cwd, _realpath(self.cwd))))
        self.paths = {f.path for f in (*job.inputs, *job.outputs)}
        self._slots: dict[str, str] | None = None

    def resolve(self, value: str) -> list[str]:
        value = os.path.expanduser(value)
        return [os.path.normpath(os.path.join(base, value)) for base in self.bases]

    def names_file(self, value: str) -> bool:
        return any(path in self.paths for path in self.resolve(value))

    def slot(self, path: str) -> str | None:
        """The parameter whose value names ``path`` (``--data X``, ``#2``), if one does."""
        if self._slots is None:
            self._slots = {}
            for name, value in self.shape.params.items():
                for resolved in self.resolve(value) if value is not None else ():
                    self._slots.setdefault(resolved, name)
        return self._slots.get(path)

    def key(self) -> tuple[str, ...]:
        job = self.job
        if job.kind == "cell":
            return (job.kind, job.notebook_path or "", job.cell_id or "")
        return (job.kind, self.shape.program, job.cwd)

    @functools.cached_property
    def words(self) -> frozenset[str]:
        """What the command names, directories left out (``v1/a.txt`` and ``v2/a.txt`` agree)."""
        values = [v for v in self.shape.params.values() if v is not None]
        names = {os.path.basename(v) for v in values} | set(self.shape.params)
        return frozenset(names | {os.path.basename(f.path) for f in self.job.outputs})


@functools.lru_cache(maxsize=64)
def _realpath(path: str) -> str:
    return os.path.realpath(path)  # a stat per component: once per directory, not per job


def pair_files(
    a: list[FileView], b: list[FileView], sa: JobShape, sb: JobShape
) -> list[tuple[FileView | None, FileView | None]]:
    """Files of two paired jobs in the same role: the same path, else the same parameter
    (``--data X``, argument 2), else the same name; one file left on each side pairs too."""
    left, right = list(a), list(b)
    pairs: list[tuple[FileView | None, FileView | None]] = []

    def take(match: Callable[[FileView, FileView], bool]) -> None:
        for fa in list(left):
            fb = next((f for f in right if match(fa, f)), None)
            if fb is not None:
                pairs.append((fa, fb))
                left.remove(fa)
                right.remove(fb)

    take(lambda fa, fb: fa.path == fb.path)
    take(lambda fa, fb: (s := sa.slot(fa.path)) is not None and s == sb.slot(fb.path))
    take(lambda fa, fb: os.path.basename(fa.path) == os.path.basename(fb.path))
    if len(left) == 1 and len(right) == 1:
        take(lambda fa, fb: True)
    pairs += [(fa, None) for fa in left] + [(None, fb) for fb in right]
    return pairs


def shapes_of(a: Side, b: Side, root: Path) -> dict[int, JobShape]:
    """``id(job)`` → its shape, for every job of both sides."""
    return {id(j): JobShape(j, root) for j in (*a.jobs, *b.jobs)}


def pair_jobs(
    a: Side, b: Side, shapes: dict[int, JobShape]
) -> tuple[list[tuple[JobView, JobView]], list[JobView], list[JobView]]:
    """(paired jobs in ``a``'s execution order, jobs only in ``a``, jobs only in ``b``)."""
    paired: dict[int, JobView] = {}  # a's job id → b's job
    used_b: set[int] = set()

    def link(ja: JobView, jb: JobView) -> bool:
        if ja.id in paired or jb.id in used_b or ja.kind != jb.kind:
            return False
        paired[ja.id] = jb
        used_b.add(jb.id)
        return True

    in_b = {j.id: j for j in b.jobs}
    for ja in a.jobs:  # a job in both lineages (a shared upstream step) is its own pair
        if ja.id in in_b:
            link(ja, in_b[ja.id])
    queue: list[tuple[JobView, JobView]] = []
    if a.anchor is not None and b.anchor is not None and link(a.anchor, b.anchor):
        queue.append((a.anchor, b.anchor))
    while queue:  # upstream through inputs read in the same role
        ja, jb = queue.pop(0)
        for fa, fb in pair_files(ja.inputs, jb.inputs, shapes[id(ja)], shapes[id(jb)]):
            if fa is None or fb is None:
                continue
            pa, pb = a.producer(fa.digest, ja), b.producer(fb.digest, jb)
            if pa is not None and pb is not None and link(pa, pb):
                queue.append((pa, pb))
    # Then by what they run: the same command (names alike) first, else the most alike of
    # the first few candidates — indexed, so two 100,000-step sessions pair in linear time.
    by_words: dict[tuple, list[JobView]] = {}
    by_key: dict[tuple, list[JobView]] = {}
    for jb in reversed(b.jobs):
        if jb.id not in used_b:
            sb = shapes[id(jb)]
            by_words.setdefault((sb.key(), sb.words), []).append(jb)
            by_key.setdefault(sb.key(), []).append(jb)
    for ja in a.jobs:  # every exact match before any guess
        if ja.id not in paired:
            sa = shapes[id(ja)]
            same = by_words.get((sa.key(), sa.words), [])
            while same and same[-1].id in used_b:
                same.pop()
            if same:
                link(ja, same.pop())
    for ja in a.jobs:
        if ja.id in paired:
            continue
        sa = shapes[id(ja)]
        group = by_key.get(sa.key(), [])
        while group and group[-1].id in used_b:
            group.pop()
        candidates = [j for j in reversed(group[-CANDIDATES:]) if j.id not in used_b]
        if candidates:
            link(ja, max(candidates, key=lambda j: _likeness(sa.words, shapes[id(j)].words)))
    pairs = [(ja, paired[ja.id]) for ja in a.jobs if ja.id in paired]
    return (
        pairs,
        [j for j in a.jobs if j.id not in paired],
        [j for j in b.jobs if j.id not in used_b],
    )


def _likeness(x: frozenset[str], y: frozenset[str]) -> float:
    return len(x & y) / len(x | y) if x | y else 1.0
