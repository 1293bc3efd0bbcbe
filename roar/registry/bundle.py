"""Build a lineage bundle (``roar.lineage-bundle/1``) from roar's JSON views of a session.

The input is the session object of `roar show --json` (or of serialize's session view, the same
thing in process): jobs with their inputs and outputs. The output is plain JSON-ready data, the
body of ``POST /api/v1/register``. Environment values never leave: only their names go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SCHEMA = "roar.lineage-bundle/1"

# Metadata keys sent as their own bundle fields (packages, env names) or not at all (env values).
_LIFTED = {"env", "packages"}
# What a cell job adds to the job object (serialize.cell_json).
_CELL_KEYS = ("notebook_path", "cell_id", "execution_count", "source", "source_hash", "variables")
# Job keys a bundle leaves out on purpose: the local row id, the @N ref (step_number says it),
# the epoch twin of started_at, and inputs/outputs (sent as edges).
LOCAL_ONLY = {"job_id", "step_ref", "timestamp", "inputs", "outputs"}


def bundle_from_jobs(
    jobs: Iterable[Mapping[str, Any]],
    registered_by: str = "anonymous",
    labels: Iterable[Mapping[str, Any]] = (),
    project_root: str | None = None,
) -> dict[str, Any]:
    """Jobs as roar's JSON views have them (``serialize.job_json``) -> a bundle. With
    ``project_root``, each job's metadata says where the project was (``project_root``), so
    that a recipe's recorded paths can be mapped into another clone."""
    out_jobs: list[dict[str, Any]] = []
    artifacts: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for job in jobs:
        uid = str(job["job_uid"])
        out = _job(job)
        if project_root is not None:
            out["metadata"]["project_root"] = project_root
        out_jobs.append(out)
        for role, files in (("read", job.get("inputs") or []), ("write", job.get("outputs") or [])):
            for f in files:
                artifacts.setdefault(f["hash"], _artifact(f))
                edges.append({"job": uid, "artifact": f["hash"], "role": role, "path": f["path"]})
    return {
        "schema": SCHEMA,
        "registered_by": registered_by,
        "jobs": out_jobs,
        "artifacts": sorted(artifacts.values(), key=lambda a: a["hash"]),
        "edges": edges,
        "labels": [dict(label) for label in labels],
    }


def bundle_from_session(
    session: Mapping[str, Any], registered_by: str = "anonymous"
) -> dict[str, Any]:
    """The session object of `roar show --json` -> a bundle of all its jobs."""
    return bundle_from_jobs(session.get("jobs") or [], registered_by=registered_by)


def _artifact(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"hash": f["hash"], "size": f.get("size"), "composite": bool(f.get("composite"))}


def _job(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = dict(job.get("metadata") or {})
    git = job.get("git") or {}
    return {
        "uid": str(job["job_uid"]),
        "kind": job.get("kind") or "run",
        "step_number": job.get("step_number"),
        "step_name": job.get("step_name"),
        "command": job.get("command") or "",
        "argv": list(job.get("argv") or []),
        "cwd": job.get("cwd"),
        "exit_code": job.get("exit_code"),
        "interrupted": job.get("interrupted"),
        "started_at": job.get("started_at"),
        "ended_at": job.get("ended_at"),
        "duration_seconds": job.get("duration_seconds"),
        "tracer": job.get("tracer"),
        "git": {k: git.get(k) for k in ("remote", "commit", "branch", "dirty", "diff_hash")},
        "packages": meta.get("packages") or {},
        "env_names": sorted(meta.get("env") or {}),
        "metadata": {k: v for k, v in meta.items() if k not in _LIFTED},
        "deleted": [_deleted(d) for d in job.get("deleted") or []],
        "cell": {k: job.get(k) for k in _CELL_KEYS} if job.get("kind") == "cell" else None,
    }


def _deleted(d: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("path", "hash", "size", "composite")
    return {k: d.get(k) for k in keys} | {"composite": bool(d.get("composite"))}
