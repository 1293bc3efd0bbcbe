"""Synthetic lineage for the registry tests: chains of jobs with hashes unique to one test."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any


def h(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def chain(n: int, salt: str | None = None) -> dict[str, Any]:
    """Jobs j0..j(n-1); job i reads artifact a_i and writes a_(i+1). All the parts, no bundle."""
    salt = salt or secrets.token_hex(8)
    arts = [{"hash": h(salt, "a", str(i)), "size": i} for i in range(n + 1)]
    jobs = [
        {
            "uid": h(salt, "j", str(i))[:12],
            "command": f"step {i}",
            "argv": ["step", str(i)],
            "step_number": i + 1,
            "started_at": f"2026-12-02T00:00:{i:02d}+00:00",
        }
        for i in range(n)
    ]
    edges = []
    for i, job in enumerate(jobs):
        edges.append(
            {"job": job["uid"], "artifact": arts[i]["hash"], "role": "read", "path": f"a{i}"}
        )
        edges.append(
            {
                "job": job["uid"],
                "artifact": arts[i + 1]["hash"],
                "role": "write",
                "path": f"a{i + 1}",
            }
        )
    return {"salt": salt, "jobs": jobs, "artifacts": arts, "edges": edges}


def window(parts: dict[str, Any], start: int, stop: int, who: str = "tests") -> dict[str, Any]:
    """The bundle of jobs start..stop-1 of a chain, with exactly the artifacts they touch."""
    jobs = parts["jobs"][start:stop]
    uids = {j["uid"] for j in jobs}
    edges = [e for e in parts["edges"] if e["job"] in uids]
    used = {e["artifact"] for e in edges}
    arts = [a for a in parts["artifacts"] if a["hash"] in used]
    return {
        "schema": "roar.lineage-bundle/1",
        "registered_by": who,
        "jobs": jobs,
        "artifacts": arts,
        "edges": edges,
    }
