"""The lineage graph as nodes and edges: what the DAG viewer and the Graphviz export draw.

``roar dag --format graph-json`` prints it, the notebook widget syncs it to the browser, the
VS Code webview renders it and ``graphviz_export`` turns it into DOT. The structure (steps,
dependencies, staleness) comes from ``lineage``; this module only lays it out as a graph:
jobs and artifacts are nodes, edges run input → job → output (and cell → cell for variables;
a file a job removed → that job, kind ``deleted``).
Artifacts are identified by content, so a node is one digest, named after the path it was
seen at. The contract is in docs/json-contract.md (``graph-json``).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roar.errors import RoarError
from roar.query import labels as labels_mod
from roar.query.disk import MODIFIED, REMOTE_PREFIXES
from roar.query.history import (
    artifact_lineage,
    disk_check,
    require_active_session,
    resolve_artifact,
    session_dag_of,
)
from roar.query.lineage import Dag, DagArtifact, DagNode, Lineage, build_dag
from roar.query.serialize import cell_location, job_identity
from roar.store.views import DeletedFile, FileView, JobView
from roar.workspace import Workspace, require_workspace

if TYPE_CHECKING:
    from roar.query.disk import DiskCheck
    from roar.store.queries import Reader

GRAPH_VERSION = 1
LABEL_WIDTH = 40
SHORT_HASH = 8


def job_id(job: JobView) -> str:
    return f"job-{job.uid}"


def artifact_id(digest: str) -> str:
    return f"artifact-{digest}"


# Loading one of the three scopes ---------------------------------------------------------------
def load_graph(
    start: str | os.PathLike[str] | None = None,
    *,
    artifact: str | None = None,
    notebook: str | None = None,
    expanded: bool = False,
) -> dict[str, Any]:
    """Open the project around ``start`` (default: the current directory) and build a graph."""
    from roar.store.queries import reader

    ws = require_workspace(start)
    with reader(ws.db_path) as r:
        return graph_for(r, ws, artifact=artifact, notebook=notebook, expanded=expanded)


def graph_for(
    reader: Reader,
    ws: Workspace,
    *,
    artifact: str | None = None,
    notebook: str | None = None,
    expanded: bool = False,
) -> dict[str, Any]:
    """One artifact's lineage, one notebook's cells, or (default) the active session."""
    if artifact:
        return lineage_graph(reader, ws, artifact)
    if notebook:
        return notebook_graph(reader, notebook, expanded=expanded)
    return session_graph(reader, expanded=expanded)


def session_graph(reader: Reader, *, expanded: bool = False) -> dict[str, Any]:
    """The active session's DAG (empty before the first job)."""
    session = reader.active_session()
    if session is None:
        empty: dict[str, Any] = {"kind": "session", "session_id": None, "session_uid": None}
        return graph_from_dag(Dag(None, [], [], expanded), [], empty)
    jobs = reader.session_jobs(session.id)
    check = disk_check(reader)
    dag = build_dag(session.id, jobs, expanded=expanded, disk=check.states)
    scope = {"kind": "session", "session_id": session.id, "session_uid": session.uid}
    disk = _disk_of(check, (n.job for n in dag.nodes))
    return graph_from_dag(dag, jobs, scope, disk, _labels(reader, dag.nodes))


def notebook_graph(reader: Reader, notebook: str, *, expanded: bool = False) -> dict[str, Any]:
    """The cells of one notebook (in the active session), with the files they read and wrote."""
    session = require_active_session(reader)
    jobs = reader.session_jobs(session.id)
    check = disk_check(reader)
    dag = build_dag(session.id, jobs, expanded=expanded, disk=check.states)
    wanted = notebook_matcher(notebook)
    dag.nodes = [n for n in dag.nodes if wanted(n.job.notebook_path)]
    scope = {"kind": "notebook", "session_id": session.id, "notebook_path": notebook}
    disk = _disk_of(check, (n.job for n in dag.nodes))
    return graph_from_dag(dag, jobs, scope, disk, _labels(reader, dag.nodes))


def lineage_graph(reader: Reader, ws: Workspace, ref: str, *, depth: int = 50) -> dict[str, Any]:
    """Everything upstream of one artifact (a path or a hash prefix), across sessions."""
    hit = resolve_artifact(reader, ws, ref)
    if hit is None:
        raise RoarError(
            f"Artifact not found in database: {ref}",
            hint="The file may not have been tracked by roar yet.",
        )
    lineage = artifact_lineage(reader, hit, depth=depth)
    session = reader.active_session()
    dag = session_dag_of(reader, session) if session else None
    disk = _disk_of(disk_check(reader), lineage.jobs, [lineage.target])
    return graph_from_lineage(lineage, dag, disk, labels_mod.for_lineage(reader, lineage))


def _labels(reader: Reader, nodes: Sequence[DagNode]) -> dict[str, dict]:
    """Attach the shown jobs' labels to them; the labels of the files they read, wrote or
    removed, by digest (the details panel shows a node's labels)."""
    labels_mod.for_jobs(reader, (n.job for n in nodes))
    digests = {f.digest for n in nodes for f in (*n.job.inputs, *n.job.outputs)}
    digests.update(g.digest for n in nodes for g in n.job.deleted if g.digest is not None)
    return labels_mod.for_artifacts(reader, digests)


def _disk_of(
    check: DiskCheck, jobs: Iterable[JobView], extra: Iterable[FileView] = ()
) -> dict[tuple[str, str], str]:
    """What the disk holds now for every file the jobs read or wrote (roar.query.disk states)."""
    files = [f for j in jobs for f in (*j.inputs, *j.outputs)] + list(extra)
    return check.states((f.path, f.digest, f.size, f.algorithm, f.is_composite) for f in files)


def notebook_matcher(notebook: str):
    """Match a notebook by absolute path, or by a bare/relative name against the path's tail."""
    absolute = os.path.abspath(notebook)
    tail = os.sep + os.path.normpath(notebook).lstrip(os.sep)

    def matches(path: str | None) -> bool:
        return bool(path) and (path == absolute or (path or "").endswith(tail))

    return matches


# Building ----------------------------------------------------------------------------------------
@dataclass
class _Builder:
    """Collects nodes and edges once each, in first-seen order (stable output for diffs)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    disk: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, hash) → disk state
    labels: dict[str, dict] = field(default_factory=dict)  # artifact digest → its labels

    def job(self, job: JobView, state: str, runs: int = 1) -> str:
        node_id = job_id(job)
        self.nodes.setdefault(node_id, job_node(job, state, runs))
        return node_id

    def artifact(self, f: FileView, state: str, superseded_by: str | None = None) -> str:
        node_id = artifact_id(f.digest)
        if node_id not in self.nodes:
            disk_state = self.disk.get((f.path, f.digest))
            node = artifact_node(f, state, superseded_by, disk_state)
            node["labels"] = self.labels.get(f.digest, {})
            self.nodes[node_id] = node
        remote = self.nodes[node_id].get("remote")
        if remote is not None and f.path.startswith(REMOTE_PREFIXES) and f.path not in remote:
            remote.append(f.path)  # the same bytes in an object store (roar get / put)
        return node_id

    def removed(self, f: DeletedFile, state: str, superseded_by: str | None = None) -> str:
        """The node of what a deleted path held: its artifact, or (content unknown) a node
        of its own for the path."""
        if f.digest is not None:
            return self.artifact(
                FileView(f.path, f.digest, f.size or 0, f.is_composite), state, superseded_by
            )
        node = unknown_content_node(f.path)
        self.nodes.setdefault(node["id"], node)
        return str(node["id"])

    def edge(self, source: str, target: str, kind: str, **extra: Any) -> None:
        key = (source, target, kind)
        if source != target and key not in self.edges:
            self.edges[key] = {"source": source, "target": target, "kind": kind, **extra}

    def payload(self, scope: dict[str, Any]) -> dict[str, Any]:
        nodes = list(self.nodes.values())
        return {
            "version": GRAPH_VERSION,
            "scope": scope,
            "counts": _counts(nodes),
            "nodes": nodes,
            "edges": list(self.edges.values()),
        }


def graph_from_dag(
    dag: Dag,
    jobs: Sequence[JobView],
    scope: dict[str, Any],
    disk: dict[tuple[str, str], str] | None = None,
    labels: dict[str, dict] | None = None,
) -> dict[str, Any]:
    """Nodes and edges for ``dag``; ``jobs`` are all of its session's jobs (for run counts and
    for outputs of earlier runs that the DAG's latest runs still consume); ``disk``: what the
    disk holds for each (path, hash) now (``roar.query.disk``), when known; ``labels``: the
    artifacts' labels by digest (a job's are ``job.labels``)."""
    b = _Builder(disk=disk or {}, labels=labels or {})
    runs = Counter(j.ref for j in jobs)  # @B1 and @1 are two steps
    states = _artifact_states(dag.artifacts)
    writes = _writers(jobs)
    # A view of latest runs says how many runs each step had; an expanded view shows them.
    shown = {
        n.job.id: b.job(n.job, n.state, 1 if dag.expanded else runs[n.job.ref]) for n in dag.nodes
    }
    by_step = _shown_by_step(dag.nodes)
    for n in dag.nodes:
        me = shown[n.job.id]
        for f in n.job.inputs:
            state, newer = states.get(f.digest) or _unlisted_state(f, writes, n.job)
            b.edge(b.artifact(f, state, newer), me, "input")
            _link_earlier_run(b, n, f, writes, by_step)
        for f in n.job.outputs:
            state, newer = states.get(f.digest, ("active", None))
            b.edge(me, b.artifact(f, state, newer), "output")
        for gone in n.job.deleted:
            state, newer = (
                (states.get(gone.digest) or _unlisted_state(gone, writes, n.job))
                if gone.digest is not None
                else ("active", None)
            )
            b.edge(b.removed(gone, state, newer), me, "deleted")
        for step, names in sorted(n.variable_dependencies.items()):
            producer = _shown_before(by_step.get(step, []), n.job)
            if producer is not None:
                b.edge(job_id(producer), me, "variable", names=names)
    return b.payload(scope)


def graph_from_lineage(
    lineage: Lineage,
    dag: Dag | None,
    disk: dict[tuple[str, str], str] | None = None,
    labels: dict[str, dict] | None = None,
) -> dict[str, Any]:
    """The upstream jobs of one artifact and the files that connect them; states from the
    active session's DAG where a job belongs to it."""
    b = _Builder(disk=disk or {}, labels=labels or {})
    job_states = {n.job.id: n.state for n in dag.nodes} if dag else {}
    states = _artifact_states(dag.artifacts) if dag else {}
    on_path = {f.digest for f in lineage.artifacts} | {lineage.target.digest}
    for job in lineage.jobs:
        me = b.job(job, job_states.get(job.id, "active"))
        for f in job.inputs:
            state, newer = states.get(f.digest, ("active", None))
            b.edge(b.artifact(f, state, newer), me, "input")
        for f in job.outputs:
            if f.digest in on_path:  # other outputs do not lead to the target
                state, newer = states.get(f.digest, ("active", None))
                b.edge(me, b.artifact(f, state, newer), "output")
    state, newer = states.get(lineage.target.digest, ("active", None))
    b.artifact(lineage.target, state, newer)
    scope = {"kind": "lineage", "target": {"path": lineage.target.path,
                                           "hash": lineage.target.digest}}  # fmt: skip
    return b.payload(scope)


def _artifact_states(artifacts: Iterable[DagArtifact]) -> dict[str, tuple[str, str | None]]:
    """digest → (state, newer digest at its path); a current run's verdict wins over an old one's.
    An output no step reads (``orphaned`` in ``roar dag --json``) is drawn as what it is, the
    newest version: ``active``."""
    states: dict[str, tuple[str, str | None]] = {}
    for a in artifacts:
        if a.digest not in states or states[a.digest][0] == "superseded":
            state = "active" if a.state == "orphaned" else a.state
            states[a.digest] = (state, a.superseded_by)
    return states


@dataclass
class _Writes:
    """Who wrote what in the session, oldest first."""

    by_path: dict[str, list[tuple[JobView, str]]]  # path → (job, digest written)
    by_digest: dict[str, list[JobView]]


def _writers(jobs: Sequence[JobView]) -> _Writes:
    writes = _Writes({}, {})
    for job in sorted(jobs, key=lambda j: (j.started_at, j.id)):
        if job.kind == "build":  # off the pipeline's edges (lineage._build_nodes)
            continue
        for out in job.outputs:
            writes.by_path.setdefault(out.path, []).append((job, out.digest))
            writes.by_digest.setdefault(out.digest, []).append(job)
    return writes


def _unlisted_state(
    f: FileView | DeletedFile, writes: _Writes, reader: JobView
) -> tuple[str, str | None]:
    """State of an input no shown job wrote: a source file, or an earlier run's output that a
    job replaced at that path, since or in place (superseded). Bytes put there by hand after the last
    recorded write, and read since, are what the path holds: active."""
    history = writes.by_path.get(f.path)
    if not history:
        return "active", None
    newest_job, newest = history[-1]
    replaced = (newest_job.started_at, newest_job.id) >= (reader.started_at, reader.id)
    return ("superseded", newest) if replaced and newest != f.digest else ("active", None)


def _link_earlier_run(
    b: _Builder,
    node: DagNode,
    f: FileView,
    writes: _Writes,
    by_step: dict[int, list[JobView]],
) -> None:
    """When a step consumed what an earlier, no longer shown run of one of its dependencies
    wrote, draw that edge from the step's shown run, marked, so the lineage stays connected."""
    for writer in writes.by_digest.get(f.digest, ()):
        shown = by_step.get(writer.step_number, [])
        if writer.step_number in node.dependencies and shown and writer not in shown:
            b.edge(job_id(shown[-1]), artifact_id(f.digest), "output", previous_run=True)


def _shown_by_step(nodes: Sequence[DagNode]) -> dict[int, list[JobView]]:
    by_step: dict[int, list[JobView]] = {}
    for n in sorted(nodes, key=lambda n: (n.job.started_at, n.job.id)):
        if n.job.kind != "build":  # numbered apart, and off the pipeline's edges
            by_step.setdefault(n.job.step_number, []).append(n.job)
    return by_step


def _shown_before(runs: list[JobView], consumer: JobView) -> JobView | None:
    """The latest shown run that started before ``consumer`` (else the latest at all)."""
    earlier = [j for j in runs if j.started_at <= consumer.started_at] or runs
    return earlier[-1] if earlier else None


# Node objects -----------------------------------------------------------------------------------
def job_node(job: JobView, state: str, runs: int = 1) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": job_id(job),
        "type": "job",
        "label": job_label(job, runs),
        "state": state,
        "failed": job.exit_code != 0 or job.interrupted,
        **job_identity(job),
        "duration_seconds": round(job.duration, 3),
        "git_commit": job.git_commit,
        "git_dirty": job.git_dirty,
        "runs": runs,
        "labels": job.labels,
    }
    if job.kind == "cell":
        node.update(cell_location(job))
    return node


def artifact_node(
    f: FileView, state: str, superseded_by: str | None = None, disk_state: str | None = None
) -> dict[str, Any]:
    return {
        "id": artifact_id(f.digest),
        "type": "artifact",
        "label": os.path.basename(f.path.rstrip("/")) or f.path,
        "state": state,
        "missing": not f.path.startswith(REMOTE_PREFIXES) and not os.path.exists(f.path),
        "path": f.path,
        "hash": f.digest,
        "short_hash": f.digest[:SHORT_HASH],
        "size": f.size,
        "composite": f.is_composite,
        "superseded_by": superseded_by,
        "disk_state": disk_state,
        "labels": {},
        "remote": [f.path] if f.path.startswith(REMOTE_PREFIXES) else [],  # object-store URLs
    }


def unknown_content_node(path: str) -> dict[str, Any]:
    """A deleted file whose content roar never recorded: a node for the path (``hash`` null),
    its id derived from the path's bytes."""
    key = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return {
        "id": f"artifact-path-{key}",
        "type": "artifact",
        "label": os.path.basename(path.rstrip("/")) or path,
        "state": "active",
        "missing": not os.path.lexists(path),
        "path": path,
        "hash": None,
        "short_hash": None,
        "size": None,
        "composite": False,
        "superseded_by": None,
        "disk_state": "missing" if not os.path.lexists(path) else None,
        "labels": {},
    }


def job_label(job: JobView, runs: int = 1) -> str:
    """``@3 python train.py --ep…`` — short enough to read inside a node."""
    text = job.step_name or job.command
    if job.kind == "cell" and job.source is not None:
        first = next((ln.strip() for ln in job.source.splitlines() if ln.strip()), "")
        count = f"[{job.execution_count}] " if job.execution_count is not None else ""
        text = f"cell {count}{first}"
    if len(text) > LABEL_WIDTH:
        text = text[: LABEL_WIDTH - 1] + "…"
    return f"{job.ref} {text}" + (f" ({runs} runs)" if runs > 1 else "")


def _counts(nodes: Sequence[dict[str, Any]]) -> dict[str, int]:
    jobs = [n for n in nodes if n["type"] == "job"]
    artifacts = [n for n in nodes if n["type"] == "artifact"]
    return {
        "jobs": len(jobs),
        "artifacts": len(artifacts),
        "stale": sum(n["state"] == "stale" for n in nodes),
        "failed": sum(n["failed"] for n in jobs),
        "missing": sum(n["missing"] for n in artifacts),
        "modified": sum(
            n["disk_state"] == MODIFIED and n["state"] != "superseded" for n in artifacts
        ),
    }
