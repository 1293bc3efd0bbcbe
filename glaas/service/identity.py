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


def job_hash(job: JobIn, bundle: Bundle) -> str:
    """The job's uid, what it ran, where and when, and which bytes it read and wrote."""
    edges = sorted((e.role, e.artifact, e.path) for e in bundle.edges if e.job == job.uid)
    return canonical_hash(
        {
            "uid": job.uid,
            "kind": job.kind,
            "command": job.command,
            "argv": job.argv,
            "cwd": job.cwd,
            "started_at": job.started_at,
            "git_commit": job.git.commit,
            "edges": edges,
        }
    )


def session_hash(job_hashes: dict[str, str], bundle: Bundle) -> str:
    """The sorted job hashes plus the sorted (job hash, role, artifact hash, path) edges."""
    edges = sorted((job_hashes[e.job], e.role, e.artifact, e.path) for e in bundle.edges)
    return canonical_hash({"jobs": sorted(job_hashes.values()), "edges": edges})
