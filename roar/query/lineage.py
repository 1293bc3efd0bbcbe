"""The lineage DAG of a session and the upstream lineage of an artifact.

Pure functions over job views, so the CLI, the kernel, the widget and the language server
all get the same answers. Edges connect by content: a step depends on the step whose job
wrote the exact bytes it read. Notebook cells also depend on the cell whose execution defined
a variable they read. A step is stale when something it consumed has since been replaced by a
newer output (or a redefinition) of its producer; everything downstream of a stale step is stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from roar.records import replace
from roar.store.views import FileView, JobView

# (path, digest, size, algorithm, composite) records → {(path, digest): state}: what the disk
# holds now (``roar.query.disk``: current | modified on disk | missing). None: the disk is not looked at.
DiskStates = Callable[[Iterable[tuple[str, str, int, str, bool]]], dict[tuple[str, str], str]]
MODIFIED = "modified on disk"  # roar.query.disk.MODIFIED (not imported: this module stays pure)


@dataclass
class DagNode:
    job: JobView
    state: str  # active | stale | superseded
    dependencies: list[int] = field(default_factory=list)  # step numbers
    variable_dependencies: dict[int, list[str]] = field(default_factory=dict)  # step → names
    consumed: int = 0
    directly_stale: bool = False
    modified_inputs: list[str] = field(default_factory=list)  # paths changed on disk since read
    latest: bool = True  # the step's latest run (the one a non-expanded view shows)
    stale: bool = False  # the step needs a rerun (set on its latest run, whatever ``state`` says)


@dataclass
class DagArtifact:
    path: str
    digest: str
    size: int
    producer_step: int
    state: str  # active | stale | superseded | orphaned
    consumer_steps: list[int]
    is_terminal: bool
    superseded_by: str | None = None
    deleted_by_step: int | None = None  # a later job removed the file and nothing wrote it since
    artifact_id: int | None = None  # the store's id of the content (scripts key on it)
    composite: bool = False
    algorithm: str = ""
    disk_state: str | None = None  # current | modified on disk | missing (None: not looked at)
    # ``orphaned`` because these steps read an older version at the path: they have not read it
    not_yet_read_by: list[int] = field(default_factory=list)


@dataclass
class DagCounts:
    """What a DAG holds, counted once: the header, ``--json`` and ``roar status`` say the same
    whatever a view then filters out (``--stale-only``, terminal artifacts only)."""

    steps: int
    stale_steps: list[int]
    stale_artifacts: int
    superseded_artifacts: int
    modified_artifacts: int  # modified on disk (a superseded version's path is expected to differ)


def count(nodes: Sequence[DagNode], artifacts: Sequence[DagArtifact]) -> DagCounts:
    return DagCounts(
        steps=len({n.job.ref for n in nodes}),  # @B1 and @1 are two steps
        stale_steps=sorted({n.job.step_number for n in nodes if n.stale}),
        stale_artifacts=sum(a.state == "stale" for a in artifacts),
        superseded_artifacts=sum(a.state == "superseded" for a in artifacts),
        modified_artifacts=sum(
            a.disk_state == MODIFIED and a.state != "superseded" for a in artifacts
        ),
    )


@dataclass
class Dag:
    session_id: int | None  # None: no session yet (a project with no job)
    nodes: list[DagNode]
    artifacts: list[DagArtifact]
    expanded: bool
    counts: DagCounts = field(init=False)

    def __post_init__(self) -> None:
        self.recount()

    def recount(self) -> None:
        """Count what the DAG holds now. Done once built (views that only hide nodes or
        artifacts keep those counts) and again when its scope changes (one notebook's cells)."""
        self.counts = count(self.nodes, self.artifacts)

    @property
    def total_steps(self) -> int:
        return self.counts.steps

    @property
    def stale_steps(self) -> list[int]:
        return self.counts.stale_steps

    def dag_hash(self) -> str:
        """A digest of the session's current pipeline: steps, commands and the bytes they moved."""
        h = hashlib.sha256()
        for node in sorted(self.nodes, key=lambda n: (n.job.kind != "build", n.job.step_number)):
            job = node.job
            h.update(f"{job.ref}\0{job.command}\0".encode("utf-8", "surrogateescape"))
            for f in (*job.inputs, *job.outputs):
                h.update(f"{f.digest}\0".encode())
        return h.hexdigest()


def latest_per_step(jobs: Sequence[JobView]) -> dict[int, JobView]:
    latest: dict[int, JobView] = {}
    for job in sorted(jobs, key=lambda j: (j.started_at, j.id)):
        latest[job.step_number] = job
    return latest


def build_dag(
    session_id: int,
    jobs: Sequence[JobView],
    *,
    expanded: bool = False,
    disk: DiskStates | None = None,
) -> Dag:
    """The session's DAG. With ``disk``, files are compared with what is on disk now: a step
    that read a file since changed outside roar is stale, and artifacts carry ``disk_state``."""
    ordered = sorted(jobs, key=lambda j: (j.started_at, j.id))
    builds = _build_nodes([j for j in ordered if j.kind == "build"], expanded)
    ordered = [j for j in ordered if j.kind != "build"]
    latest = latest_per_step(ordered)
    index = _Index(
        producers=_producer_index(ordered),
        writes=_write_index(ordered),
        by_id={j.id: j for j in ordered},
        definitions=_definition_index(ordered),
    )
    shown = ordered if expanded else sorted(latest.values(), key=lambda j: j.step_number)
    nodes = [_node_for(job, latest, index) for job in shown]
    _break_cycles(nodes, latest)
    if disk is not None:
        _modified_inputs(nodes, latest, index, disk)
    _propagate_staleness(nodes, latest, expanded)
    artifacts = _artifacts(nodes, latest, ordered)
    if expanded:
        _supersede_outdated_runs(nodes, index)
    if disk is not None:
        states = disk((a.path, a.digest, a.size, a.algorithm, a.composite) for a in artifacts)
        for a in artifacts:
            a.disk_state = states.get((a.path, a.digest))
    return Dag(session_id, builds + nodes, artifacts, expanded)


def _build_nodes(builds: Sequence[JobView], expanded: bool) -> list[DagNode]:
    """Build steps (``roar build``: setup such as ``pip install -e .`` or compiling, replayed
    before the pipeline) are numbered on their own and stay off the pipeline's edges: their
    files are recorded (``roar show @BN``, ``roar pop``) but connect no step and make no
    artifact of the DAG. Shown first, in their own order."""
    latest = latest_per_step(builds)
    shown = builds if expanded else sorted(latest.values(), key=lambda j: j.step_number)
    nodes = []
    for job in shown:
        is_latest = latest.get(job.step_number) is job
        off_edges = replace(job, inputs=[], outputs=[], deleted=[])
        nodes.append(DagNode(off_edges, "active" if is_latest else "superseded", latest=is_latest))
    return nodes


def _modified_inputs(
    nodes: list[DagNode], latest: dict[int, JobView], index: _Index, disk: DiskStates
) -> None:
    """A latest run read a file that no longer holds those bytes, though no recorded job wrote
    it since (an edit made outside roar): the step is stale. A file the job also wrote (changed
    in place) and one that is gone (the step was made from bytes that did exist) do not count."""
    checks: list[tuple[DagNode, FileView]] = []
    for n in nodes:
        if latest.get(n.job.step_number) is not n.job:
            continue
        written = {o.path for o in n.job.outputs}
        for f in n.job.inputs:
            if f.path not in written and not _replaced_since(f, n.job, index.writes):
                checks.append((n, f))
    states = disk((f.path, f.digest, f.size, f.algorithm, f.is_composite) for _, f in checks)
    for n, f in checks:
        if states.get((f.path, f.digest)) == MODIFIED and f.path not in n.modified_inputs:
            n.modified_inputs.append(f.path)
            n.directly_stale = True


@dataclass
class _Index:
    producers: dict[str, list[JobView]]  # digest → jobs that wrote it, oldest first
    writes: dict[str, list[tuple[JobView, str]]]  # path → (job, digest), oldest first
    by_id: dict[int, JobView]
    definitions: dict[str, list[JobView]]  # variable name → cell jobs that defined it


def _definition_index(jobs: Sequence[JobView]) -> dict[str, list[JobView]]:
    index: dict[str, list[JobView]] = {}
    for job in jobs:
        for name in job.variables_defined:
            index.setdefault(name, []).append(job)
    return index


def _producer_index(jobs: Sequence[JobView]) -> dict[str, list[JobView]]:
    """digest → jobs that wrote it, oldest first."""
    index: dict[str, list[JobView]] = {}
    for job in jobs:
        for out in job.outputs:
            index.setdefault(out.digest, []).append(job)
    return index


def _write_index(jobs: Sequence[JobView]) -> dict[str, list[tuple[JobView, str]]]:
    """path → (job, digest) for every recorded write to it, oldest first."""
    index: dict[str, list[tuple[JobView, str]]] = {}
    for job in jobs:
        for out in job.outputs:
            index.setdefault(out.path, []).append((job, out.digest))
    return index


def _producer_of(
    f: FileView, consumer: JobView, producers: dict[str, list[JobView]]
) -> JobView | None:
    """The latest other-step job that wrote these bytes before ``consumer`` started."""
    best = None
    for job in producers.get(f.digest, ()):
        if job.step_number != consumer.step_number and job.started_at <= consumer.started_at:
            best = job
    return best


def _replaced_since(
    f: FileView, consumer: JobView, writes: dict[str, list[tuple[JobView, str]]]
) -> bool:
    """Was the path this job read overwritten with other bytes by a later job of another step?"""
    for writer, digest in reversed(writes.get(f.path, ())):
        if writer.step_number == consumer.step_number:
            continue
        return writer.started_at > consumer.started_at and digest != f.digest
    return False


def _redefined_since(name: str, consumer: JobView, index: _Index) -> bool:
    """Did a later job of another step define ``name`` again after ``consumer`` read it?"""
    return any(
        d.step_number != consumer.step_number and d.started_at > consumer.started_at
        for d in index.definitions.get(name, ())
    )


def _node_for(job: JobView, latest: dict[int, JobView], index: _Index) -> DagNode:
    is_latest = latest.get(job.step_number) is job
    node = DagNode(job=job, state="active" if is_latest else "superseded", latest=is_latest)
    deps: set[int] = set()
    for f in job.inputs:
        producer = _producer_of(f, job, index.producers)
        if producer is not None:
            node.consumed += 1
            deps.add(producer.step_number)
        if _replaced_since(f, job, index.writes):
            node.directly_stale = True
    for v in job.variables_read:
        producer = index.by_id.get(v.producer_job_id) if v.producer_job_id else None
        if producer is None or producer.step_number == job.step_number:
            continue
        deps.add(producer.step_number)
        node.variable_dependencies.setdefault(producer.step_number, []).append(v.name)
        if _redefined_since(v.name, job, index):
            node.directly_stale = True
    node.dependencies = sorted(deps)
    return node


def _break_cycles(nodes: list[DagNode], latest: dict[int, JobView]) -> None:
    """Keep the steps' DAG acyclic. A step stands for its latest run, and every edge a run has
    goes to an earlier run; but the run it used may be superseded by one that came after the
    consumer (that edge is what makes the consumer stale). When such an edge closes a cycle —
    the producer's latest run itself depends on the consumer, as with cells run out of order
    that read each other's names — it is left out; the consumer stays stale all the same."""
    current = {n.job.step_number: n for n in nodes if latest.get(n.job.step_number) is n.job}
    deps = {s: [d for d in n.dependencies if d in current] for s, n in current.items()}
    component = _strongly_connected(deps)
    when = {s: (n.job.started_at, n.job.id) for s, n in current.items()}
    for step, node in current.items():
        later = {d for d in deps[step] if component[d] == component[step] and when[d] > when[step]}
        if later:
            node.dependencies = [d for d in node.dependencies if d not in later]
            for d in later:
                node.variable_dependencies.pop(d, None)


def _strongly_connected(graph: dict[int, list[int]]) -> dict[int, int]:
    """node → its strongly connected component (Tarjan's algorithm, without recursion)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    component: dict[int, int] = {}
    stack: list[int] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt not in component:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    while True:
                        member = stack.pop()
                        component[member] = node
                        if member == node:
                            break
    return component


def _propagate_staleness(nodes: list[DagNode], latest: dict[int, JobView], expanded: bool) -> None:
    current = [n for n in nodes if latest.get(n.job.step_number) is n.job]
    stale = {n.job.step_number for n in current if n.directly_stale}
    changed = True
    while changed:
        changed = False
        for n in current:
            if n.job.step_number not in stale and stale.intersection(n.dependencies):
                stale.add(n.job.step_number)
                changed = True
    for n in current:
        if n.job.step_number in stale:
            n.state = "stale"
            n.stale = True


def _supersede_outdated_runs(nodes: list[DagNode], index: _Index) -> None:
    """In an expanded view, a run that consumed a superseded input — bytes a later job of
    another step replaced at that path, a variable defined again since, or an output of such a
    run — is superseded too, like the earlier runs of its own step (what the roar CLI scripts
    were written for reports after ``@1`` is rerun). By content: a run that read bytes a rerun
    wrote again unchanged stays active. Its step stays stale (``DagNode.stale``), and its
    outputs keep their state (the newest version made from old inputs is ``stale``)."""
    outdated: set[int] = set()
    for n in sorted(nodes, key=lambda n: (n.job.started_at, n.job.id)):
        job = n.job
        if any(_replaced_since(f, job, index.writes) for f in job.inputs) or any(
            _redefined_since(v.name, job, index) for v in job.variables_read
        ):
            outdated.add(job.id)
            continue
        producers = [_producer_of(f, job, index.producers) for f in job.inputs]
        producers += [index.by_id.get(v.producer_job_id or -1) for v in job.variables_read]
        if any(p is not None and p.id in outdated for p in producers):
            outdated.add(job.id)
    for n in nodes:
        if n.job.id in outdated:
            n.state = "superseded"


def _artifacts(
    nodes: list[DagNode], latest: dict[int, JobView], ordered: Sequence[JobView]
) -> list[DagArtifact]:
    current = {n.job.step_number: n for n in nodes if latest.get(n.job.step_number) is n.job}
    dependents: dict[int, set[int]] = {}
    for n in current.values():
        for dep in n.dependencies:
            dependents.setdefault(dep, set()).add(n.job.step_number)
    last_at_path: dict[str, tuple[JobView, str]] = {}
    removed: dict[str, JobView] = {}  # path → the job that last removed it, if none wrote it since
    for job in ordered:
        for out in job.outputs:
            last_at_path[out.path] = (job, out.digest)
            removed.pop(out.path, None)
        for gone in job.deleted:
            removed[gone.path] = job
    # digest → current steps that read it (an index: a 2,000-job session has ~6,000 outputs)
    readers: dict[str, set[int]] = {}
    path_readers: dict[str, set[tuple[int, str]]] = {}  # path → (current step, digest it read)
    for c in current.values():
        for i in c.job.inputs:
            readers.setdefault(i.digest, set()).add(c.job.step_number)
            path_readers.setdefault(i.path, set()).add((c.job.step_number, i.digest))
    artifacts: list[DagArtifact] = []
    for n in nodes:
        step = n.job.step_number
        for out in n.job.outputs:
            consumers = sorted(s for s in readers.get(out.digest, ()) if s != step)
            newest_job, newest_digest = last_at_path.get(out.path, (n.job, out.digest))
            replaced = newest_digest != out.digest and newest_job is not n.job
            is_terminal = not dependents.get(step)
            # By content: an earlier run's output whose bytes are still the newest at its path
            # is not an older version, even when its run was superseded (a rerun that wrote
            # the same bytes); it is stale when its step needs a rerun.
            if replaced:
                state = "superseded"
            elif n.state == "stale" or (n.state == "superseded" and n.stale):
                state = "stale"
            elif n.state == "superseded":
                state = "active"
            elif not consumers and not is_terminal:
                state = "orphaned"
            else:
                state = "active"
            remover = removed.get(out.path)
            deleted = (
                remover is not None and not replaced and remover.started_at >= n.job.started_at
            )
            older_readers = (
                sorted(
                    {s for s, d in path_readers.get(out.path, ()) if d != out.digest and s != step}
                )
                if state == "orphaned"
                else []
            )
            artifacts.append(
                DagArtifact(
                    out.path,
                    out.digest,
                    out.size,
                    step,
                    state,
                    consumers,
                    is_terminal,
                    newest_digest if replaced else None,
                    remover.step_number if deleted and remover else None,
                    out.artifact_id,
                    out.is_composite,
                    algorithm=out.algorithm,
                    not_yet_read_by=older_readers,
                )  # fmt: skip
            )
    return artifacts


@dataclass
class Lineage:
    target: FileView
    jobs: list[JobView]
    artifacts: list[FileView]
    disk: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, digest) → disk state


def upstream(
    target: FileView,
    producer_of: Callable[[str, JobView | None], JobView | None],
    *,
    depth: int = 50,
) -> Lineage:
    """The jobs and artifacts that led to ``target``: its producer, their inputs' producers, …

    ``producer_of(digest, consumer)`` returns the newest job that wrote ``digest``, started no
    later than ``consumer`` and belongs to another step than ``consumer`` (None: the target —
    any job at any time). That is the DAG's rule (``_producer_of``): a job that copies a file
    unchanged reads and writes the same digest, and its own output is never its producer.
    """
    jobs: dict[int, JobView] = {}
    artifacts: dict[str, FileView] = {}
    frontier: list[tuple[str, JobView | None]] = [(target.digest, None)]
    for _ in range(depth):
        next_frontier: list[tuple[str, JobView | None]] = []
        for digest, consumer in frontier:
            job = producer_of(digest, consumer)
            if job is None or job.id in jobs:
                continue
            jobs[job.id] = job
            for f in job.inputs:
                artifacts.setdefault(f.digest, f)
                next_frontier.append((f.digest, job))
        if not next_frontier:
            break
        frontier = next_frontier
    artifacts.setdefault(target.digest, target)
    return Lineage(
        target, sorted(jobs.values(), key=lambda j: (j.started_at, j.id)), list(artifacts.values())
    )
