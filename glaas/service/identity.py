"""Content identities for jobs and sessions.

A job's hash and a session's hash are SHA-256 over a canonical JSON (keys sorted, no spaces,
UTF-8): the same recorded lineage, registered from any machine, gets the same hashes. What goes
in is what makes the record what it is; what a client may mask or trim differently (metadata,
env values) stays out, so a re-registration with stricter secret filtering is still one record.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from glaas.schemas import Bundle, JobIn


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def job_hashes(bundle: Bundle) -> dict[str, str]:
    """client uid -> job hash for every job of the bundle (its edges grouped once: a 2,000-job
    bundle with 8,000 edges took 2.5 s when each job scanned every edge)."""
    edges: dict[str, list[tuple[str, str, str]]] = {j.uid: [] for j in bundle.jobs}
    for e in bundle.edges:
        edges.setdefault(e.job, []).append((e.role, e.artifact, e.path))
    return {j.uid: job_hash(j, edges[j.uid]) for j in bundle.jobs}


def job_hash(job: JobIn, edges: list[tuple[str, str, str]]) -> str:
    """The job's uid, what it ran, where and when, and which bytes it read and wrote
    (``edges``: its (role, artifact hash, path) triples)."""
    return canonical_hash(
        {
            "uid": job.uid,
            "kind": job.kind,
            "command": job.command,
            "argv": job.argv,
            "cwd": job.cwd,
            "started_at": job.started_at,
            "git_commit": job.git.commit,
            "edges": sorted(edges),
        }
    )


def session_hash(job_hashes: dict[str, str], bundle: Bundle) -> str:
    """The sorted job hashes plus the sorted (job hash, role, artifact hash, path) edges."""
    edges = sorted((job_hashes[e.job], e.role, e.artifact, e.path) for e in bundle.edges)
    return canonical_hash({"jobs": sorted(job_hashes.values()), "edges": edges})
