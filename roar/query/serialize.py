"""The JSON contract (docs/json-contract.md): file, artifact, job and DAG objects as plain dicts.

Every front end that prints or sends JSON builds it here, so the keys stay one set: a job is the
same object in ``roar dag``, ``status``, ``lineage``, ``show`` and ``log`` (the DAG adds its own
keys to it), and an artifact is the same object in ``dag``, ``status``, ``lineage`` and ``show``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from roar.query.lineage import Dag, DagArtifact, DagNode, Lineage
from roar.store.views import ArtifactView, DeletedFile, FileView, JobView

# The keys every job object and every artifact object has, wherever it appears.
JOB_KEYS = (
    "job_id", "job_uid", "kind", "step_number", "step_ref", "step_name", "command",
    "exit_code", "interrupted", "started_at", "argv", "cwd", "timestamp", "ended_at",
    "duration_seconds", "tracer", "git", "inputs", "outputs", "deleted", "metadata", "labels",
)  # fmt: skip
ARTIFACT_KEYS = (
    "path", "hash", "size", "artifact_id", "composite", "present", "disk_state", "labels",
)  # fmt: skip

# An artifact's current `roar label` document by digest (``roar.query.labels.of_artifacts``);
# the artifacts it does not name have none.
ArtifactLabels = Mapping[str, dict]


def file_json(f: FileView) -> dict[str, Any]:
    """A file record: the bytes a job read or wrote at a path."""
    return {
        "path": f.path,
        "hash": f.digest,
        "size": f.size,
        "artifact_id": f.artifact_id or None,
        "composite": f.is_composite,
    }


def deleted_json(f: DeletedFile) -> dict[str, Any]:
    """A file record for a file a job removed: ``hash``, ``size`` and ``artifact_id`` are what
    the path held before, as roar last recorded it, or null when that is unknown."""
    return {
        "path": f.path,
        "hash": f.digest,
        "size": f.size,
        "artifact_id": f.artifact_id,
        "composite": f.is_composite,
    }


def artifact_object(
    path: str | None,
    digest: str,
    size: int,
    artifact_id: int | None,
    composite: bool,
    disk_state: str | None,
    labels: ArtifactLabels | None = None,
) -> dict[str, Any]:
    """An artifact (content at a path) with what the path holds now: ``present`` (something is
    there) and ``disk_state`` (``current`` | ``modified on disk`` | ``missing``; null when
    not looked at); ``labels``: its current labels, {} when none (or not looked up)."""
    if disk_state is not None:
        present = disk_state != "missing"
    else:
        present = bool(path) and os.path.lexists(path or "")
    return {
        "path": path,
        "hash": digest,
        "size": size,
        "artifact_id": artifact_id or None,
        "composite": composite,
        "present": present,
        "disk_state": disk_state,
        "labels": dict((labels or {}).get(digest, {})),
    }


def file_artifact(
    f: FileView, disk: Mapping[tuple[str, str], str], labels: ArtifactLabels | None = None
) -> dict[str, Any]:
    """The artifact object of a file a job recorded, given the disk states (``roar.query.disk``)."""
    return artifact_object(
        f.path,
        f.digest,
        f.size,
        f.artifact_id,
        f.is_composite,
        disk.get((f.path, f.digest)),
        labels,
    )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def job_identity(job: JobView) -> dict[str, Any]:
    """The fields that name a job (the job object starts with them; the viewer's graph nodes
    carry them too)."""
    return {
        "job_id": job.id,
        "job_uid": job.uid,
        "kind": job.kind,
        "step_number": job.step_number,
        "step_ref": job.ref,
        "step_name": job.step_name,
        "command": job.command,
        "exit_code": job.exit_code,
        "interrupted": job.interrupted,
        "started_at": iso(job.started_at),
    }


def job_json(job: JobView, root: Path | None = None) -> dict[str, Any]:
    """The job object: the same in every command's JSON (``JOB_KEYS``, plus a cell's keys)."""
    data: dict[str, Any] = {
        **job_identity(job),
        "argv": job.argv,
        "cwd": _absolute_cwd(job, root),
        "timestamp": job.started_at,
        "ended_at": iso(job.ended_at),
        "duration_seconds": round(job.duration, 6),
        "tracer": job.tracer,
        "git": {
            "commit": job.git_commit,
            "branch": job.git_branch,
            "remote": job.git_remote,
            "dirty": job.git_dirty,
            "diff_hash": job.git_diff_hash,
        },
        "inputs": [file_json(f) for f in job.inputs],
        "outputs": [file_json(f) for f in job.outputs],
        "deleted": [deleted_json(f) for f in job.deleted],
        "metadata": job.metadata,
        "labels": job.labels,
    }
    if job.kind == "cell":
        data.update(cell_json(job))
    return data


def cell_location(job: JobView) -> dict[str, Any]:
    """Which cell of which notebook a cell job ran, and its source."""
    return {
        "notebook_path": job.notebook_path,
        "cell_id": job.cell_id,
        "execution_count": job.execution_count,
        "source": job.source,
    }


def cell_json(job: JobView) -> dict[str, Any]:
    """What a cell job adds to the job object: where the cell is, its source, its variables."""
    return {
        **cell_location(job),
        "source_hash": job.source_hash,
        "variables": {
            "read": [
                {"name": v.name, "producer_job_uid": v.producer_job_uid} for v in job.variables_read
            ],
            "defined": job.variables_defined,
        },
    }


def _absolute_cwd(job: JobView, root: Path | None) -> str:
    if root is None:
        return job.cwd
    return os.path.join(str(root), job.cwd) if job.cwd else str(root)


def artifact_json(
    art: ArtifactView,
    path: str | None,
    produced_by: list[JobView],
    consumed_by: list[JobView],
    members: list[tuple[str, ArtifactView]],
    root: Path | None = None,
    deleted_by: Sequence[JobView] = (),
    disk_state: str | None = None,
    labels: ArtifactLabels | None = None,
) -> dict[str, Any]:
    """``roar show PATH|HASH --json``: the artifact object (plus where roar first saw it), the
    jobs that made, read and removed it, and a directory's members."""
    return {
        "artifact": {
            **artifact_object(
                path, art.digest, art.size, art.id, art.is_composite, disk_state, labels
            ),
            "algorithm": art.algorithm,
            "first_seen_path": art.first_seen_path,
            "first_seen_at": art.first_seen_at,
        },
        "produced_by": [job_json(j, root) for j in produced_by],
        "consumed_by": [job_json(j, root) for j in consumed_by],
        "deleted_by": [job_json(j, root) for j in deleted_by],
        "members": [{"relpath": rel, "hash": m.digest, "size": m.size} for rel, m in members],
    }


def deleted_path_json(path: str, deleted_by: list[JobView], root: Path | None = None) -> dict:
    """`roar show PATH --json` for a path whose only records are deletions of content roar
    never recorded: no artifact, only who removed it."""
    return {
        "artifact": None,
        "path": path,
        "present": os.path.lexists(path),
        "produced_by": [],
        "consumed_by": [],
        "deleted_by": [job_json(j, root) for j in deleted_by],
        "members": [],
    }


def dag_json(
    dag: Dag, root: Path | None = None, labels: ArtifactLabels | None = None
) -> dict[str, Any]:
    """``roar dag --json``: counts over the whole DAG (whatever the view hides), the nodes shown
    (job objects with the DAG's keys) and the artifacts shown (``labels``: the artifacts')."""
    return {
        "session_id": dag.session_id,
        "total_steps": dag.counts.steps,
        "stale_count": len(dag.counts.stale_steps),
        "stale_artifact_count": dag.counts.stale_artifacts,
        "superseded_artifact_count": dag.counts.superseded_artifacts,
        "modified_artifact_count": dag.counts.modified_artifacts,
        "is_expanded": dag.expanded,
        "nodes": [dag_node_json(n, root) for n in dag.nodes],
        "artifacts": [dag_artifact_json(a, labels) for a in dag.artifacts],
    }


def dag_node_json(n: DagNode, root: Path | None = None) -> dict[str, Any]:
    """A job object with what the DAG knows of its step."""
    return {
        **job_json(n.job, root),
        "state": n.state,
        "stale": n.stale,
        "is_build": n.job.kind == "build",
        "metrics": {
            "inputs": len(n.job.inputs),
            "outputs": len(n.job.outputs),
            "consumed": n.consumed,
        },
        "dependencies": n.dependencies,
        "modified_inputs": n.modified_inputs,
        "variable_dependencies": [
            {"step_number": step, "names": names}
            for step, names in sorted(n.variable_dependencies.items())
        ],
    }


def dag_artifact_json(a: DagArtifact, labels: ArtifactLabels | None = None) -> dict[str, Any]:
    """An artifact object with its place in the DAG."""
    return {
        **artifact_object(
            a.path, a.digest, a.size, a.artifact_id, a.composite, a.disk_state, labels
        ),
        "producer_step": a.producer_step,
        "state": a.state,
        "is_stale": a.state == "stale",
        "consumer_steps": a.consumer_steps,
        "is_terminal": a.is_terminal,
        "superseded_by": a.superseded_by,
        "deleted_by_step": a.deleted_by_step,
        "not_yet_read_by": a.not_yet_read_by,
    }


def lineage_json(
    lineage: Lineage, root: Path | None = None, labels: ArtifactLabels | None = None
) -> dict[str, Any]:
    """``roar lineage X``: the target and every artifact on its path (artifact objects), and the
    jobs that made them (job objects), oldest first."""
    return {
        "artifact": file_artifact(lineage.target, lineage.disk, labels),
        "jobs": [job_json(j, root) for j in lineage.jobs],
        "artifacts": [file_artifact(f, lineage.disk, labels) for f in lineage.artifacts],
    }
