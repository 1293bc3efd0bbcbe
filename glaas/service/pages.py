"""What the web UI's pages need beyond the API's lookups: job one-liners for lists, the kind of
record a bare hash names, and a session's DAG in the viewer's payload shape (docs/json-contract.md,
"graph-json"), built from the registry's jobs and edges."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service import Ambiguous, BadPrefix, NotFound, lookup
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer

LIST_LIMIT = 200  # jobs listed on one artifact page


def job_summaries(db: Db, hashes: list[str]) -> list[dict[str, Any]]:
    """Command, step and start time of these jobs, newest first."""
    with db.begin():
        rows = db.scalars(select(m.Job).where(m.Job.job_hash.in_(hashes[:LIST_LIMIT])))
        out = [
            {
                "job_hash": j.job_hash,
                "uid": j.uid,
                "command": j.command,
                "step_number": j.step_number,
                "started_at": j.started_at,
                "exit_code": j.exit_code,
            }
            for j in rows
        ]
    out.sort(key=lambda j: (j["started_at"] or "", j["job_hash"]), reverse=True)
    return out


def resolve_any(db: Db, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> list[tuple[str, str]]:
    """Every (kind, full hash) that ``text`` names: an artifact (hash, prefix or alias), a job
    (hash, prefix or uid) or a session. Ambiguous prefixes list each candidate."""
    found: list[tuple[str, str]] = []
    for kind, resolve in (
        ("artifact", lookup.artifact_hash),
        ("job", lookup.job_hash),
        ("session", lookup.session_hash),
    ):
        with db.begin():
            try:
                found.append((kind, resolve(db, text, viewer)))
            except Ambiguous as many:
                found += [(kind, c) for c in many.candidates]
            except (NotFound, BadPrefix):
                pass
    return found


def _job_node(j: dict[str, Any]) -> dict[str, Any]:
    step = j["step_number"]
    ref = f"@{step}" if step is not None else ""
    label = f"{ref} {j['command']}".strip()
    return {
        "id": f"job-{j['job_hash']}",
        "type": "job",
        "label": label if len(label) <= 40 else label[:39] + "…",
        "state": "active",
        "failed": bool(j["exit_code"]) or bool(j["interrupted"]),
        "job_id": None,
        "job_uid": j["uid"],
        "job_hash": j["job_hash"],
        "kind": j["kind"],
        "step_number": step,
        "step_ref": ref,
        "step_name": j["step_name"],
        "command": j["command"],
        "exit_code": j["exit_code"],
        "interrupted": bool(j["interrupted"]),
        "started_at": j["started_at"],
        "duration_seconds": j["duration_seconds"],
        "git_commit": j["git"]["commit"],
        "git_dirty": bool(j["git"]["dirty"]),
        "runs": 1,
        "labels": {},
    }


def session_graph(db: Db, session: dict[str, Any]) -> dict[str, Any]:
    """The viewer's payload for a session as ``lookup.session`` returns it. Job node ids are
    ``job-<registry job hash>`` (uids need not be unique across machines), artifact ids
    ``artifact-<hash>``, as in roar's own payload; the registry knows nothing of anyone's disk,
    so every node is active and present."""
    jobs = session["jobs"]
    nodes = [_job_node(j) for j in jobs]
    edges: list[dict[str, Any]] = []
    paths: dict[str, str] = {}
    for j in jobs:
        for f in j["inputs"]:
            paths.setdefault(f["hash"], f["path"])
            edges.append(
                {
                    "source": f"artifact-{f['hash']}",
                    "target": f"job-{j['job_hash']}",
                    "kind": "input",
                }
            )
        for f in j["outputs"]:
            paths[f["hash"]] = f["path"]  # the name it was written under wins
            edges.append(
                {
                    "source": f"job-{j['job_hash']}",
                    "target": f"artifact-{f['hash']}",
                    "kind": "output",
                }
            )
    with db.begin():
        arts = {
            a.hash: a
            for a in db.scalars(select(m.Artifact).where(m.Artifact.hash.in_(sorted(paths))))
        }
    for h, path in sorted(paths.items(), key=lambda kv: kv[1]):
        a = arts.get(h)
        nodes.append(
            {
                "id": f"artifact-{h}",
                "type": "artifact",
                "label": PurePosixPath(path).name or path,
                "state": "active",
                "missing": False,
                "path": path,
                "hash": h,
                "short_hash": h[:8],
                "size": a.size if a else None,
                "composite": bool(a and a.composite),
                "superseded_by": None,
                "disk_state": None,
                "labels": {},
            }
        )
    unique_edges = list({(e["source"], e["target"], e["kind"]): e for e in edges}.values())
    return {
        "version": 1,
        "scope": {"kind": "session", "session_hash": session["session_hash"]},
        "counts": {
            "jobs": len(jobs),
            "artifacts": len(paths),
            "stale": 0,
            "failed": sum(1 for n in nodes if n.get("failed")),
            "missing": 0,
            "modified": 0,
        },
        "nodes": nodes,
        "edges": unique_edges,
    }
