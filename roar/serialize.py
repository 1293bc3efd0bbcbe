"""The JSON contract (docs/json-contract.md): job, file and DAG objects as plain dicts.

Every front end that prints or sends JSON builds it here, so the keys stay one set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from roar.lineage import Dag, Lineage
from roar.store.views import ArtifactView, DeletedFile, FileView, JobView


def file_json(f: FileView) -> dict[str, Any]:
    data: dict[str, Any] = {"path": f.path, "hash": f.digest, "size": f.size}
    if f.is_composite:
        data["composite"] = True
    return data


def deleted_json(f: DeletedFile) -> dict[str, Any]:
    """A file object for a file a job removed: ``hash`` and ``size`` are what the path held
    before, as roar last recorded it, or null when that is unknown."""
    data: dict[str, Any] = {"path": f.path, "hash": f.digest, "size": f.size}
    if f.is_composite:
        data["composite"] = True
    return data


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def job_identity(job: JobView) -> dict[str, Any]:
    """The fields every JSON view of a job carries (``--json`` output and the DAG's nodes)."""
    return {
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
    present: bool,
    produced_by: list[JobView],
    consumed_by: list[JobView],
    members: list[tuple[str, ArtifactView]],
    root: Path | None = None,
    deleted_by: Sequence[JobView] = (),
    disk_state: str | None = None,
) -> dict[str, Any]:
    return {
        "artifact": {
            "hash": art.digest,
            "algorithm": art.algorithm,
            "size": art.size,
            "path": path,
            "present": present,
            "disk_state": disk_state,
            "composite": art.is_composite,
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


def dag_json(dag: Dag) -> dict[str, Any]:
    return {
        "session_id": dag.session_id,
        "total_steps": dag.counts.steps,
        "stale_count": len(dag.counts.stale_steps),
        "stale_artifact_count": dag.counts.stale_artifacts,
        "superseded_artifact_count": dag.counts.superseded_artifacts,
        "modified_artifact_count": dag.counts.modified_artifacts,
        "is_expanded": dag.expanded,
        "nodes": [
            {
                "step_number": n.job.step_number,
                "step_ref": n.job.ref,
                "job_uid": n.job.uid,
                "kind": n.job.kind,
                "command": n.job.command,
                "step_name": n.job.step_name,
                "state": n.state,
                "is_build": n.job.kind == "build",
                "exit_code": n.job.exit_code,
                "timestamp": n.job.started_at,
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
                **(_dag_cell_fields(n.job) if n.job.kind == "cell" else {}),
                "inputs": [file_json(f) for f in n.job.inputs],
                "outputs": [file_json(f) for f in n.job.outputs],
                "deleted": [deleted_json(f) for f in n.job.deleted],
            }
            for n in dag.nodes
        ],
        "artifacts": [
            {
                "path": a.path,
                "hash": a.digest,
                "size": a.size,
                "artifact_id": a.artifact_id,
                "producer_step": a.producer_step,
                "state": a.state,
                "consumer_steps": a.consumer_steps,
                "is_terminal": a.is_terminal,
                "superseded_by": a.superseded_by,
                "deleted_by_step": a.deleted_by_step,
                "disk_state": a.disk_state,
                "not_yet_read_by": a.not_yet_read_by,
            }
            for a in dag.artifacts
        ],
    }


def _dag_cell_fields(job: JobView) -> dict[str, Any]:
    return {
        "notebook_path": job.notebook_path,
        "cell_id": job.cell_id,
        "execution_count": job.execution_count,
    }


def lineage_json(lineage: Lineage) -> dict[str, Any]:
    return {
        "artifact": file_json(lineage.target),
        "jobs": [
            {
                "job_uid": j.uid,
                "kind": j.kind,
                "step_number": j.step_number,
                "command": j.command,
                "timestamp": j.started_at,
                "duration_seconds": round(j.duration, 6),
                "exit_code": j.exit_code,
                "inputs": [file_json(f) for f in j.inputs],
                "outputs": [file_json(f) for f in j.outputs],
            }
            for j in lineage.jobs
        ],
        "artifacts": [file_json(f) for f in lineage.artifacts],
    }
