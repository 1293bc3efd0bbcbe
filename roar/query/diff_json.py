"""``roar diff --json``: the shape documented in docs/json-contract.md (``roar diff``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roar.query.diff import FileChange, LineageDiff, NamedChange
from roar.query.diff_metrics import MetricsDiff
from roar.query.diff_sides import Side
from roar.query.serialize import file_json
from roar.store.views import JobView


def diff_json(d: LineageDiff, root: Path) -> dict[str, Any]:
    first = d.first_divergence
    return {
        "a": side_json(d.a),
        "b": side_json(d.b),
        "identical": d.identical,
        "most_likely_cause": _cause(d.causes[0]) if d.causes else None,
        "causes": [_cause(c) for c in d.causes],
        "inputs": [file_change_json(f) for f in d.inputs],
        "parameters": [
            {
                "name": p.param.name,
                "a": p.param.a,
                "b": p.param.b,
                "change": p.param.change,
                "step_a": p.step_a,
                "step_b": p.step_b,
            }
            for p in d.parameters
        ],
        "code": [
            {
                "commit_a": c.commit_a,
                "commit_b": c.commit_b,
                "dirty_a": c.dirty_a,
                "dirty_b": c.dirty_b,
                "diff_hash_a": c.diff_hash_a,
                "diff_hash_b": c.diff_hash_b,
                "files": c.files,
                "named_files": c.named_files,
                "cells": _steps(c.cells),
                "steps": _steps(c.steps),
            }
            for c in d.code
        ],
        "environment": [
            {"name": e.name, "change": e.change, "steps": _steps(e.steps)} for e in d.environment
        ],
        "packages": [_named(p) for p in d.packages],
        "host": [_named(h) for h in d.host],
        "tracer": [_named(t) for t in d.tracer],
        "structure": {
            "only_in_a": [_job(j) for j in d.only_a],
            "only_in_b": [_job(j) for j in d.only_b],
        },
        "target": file_change_json(d.target) if d.target else None,
        "outputs": [file_change_json(f) for f in d.outputs],
        "first_divergence": {
            "step_a": first.a.ref,
            "step_b": first.b.ref,
            "job_uid_a": first.a.uid,
            "job_uid_b": first.b.uid,
        }
        if first
        else None,
        "nondeterministic": [
            {"step_a": p.a.ref, "step_b": p.b.ref, "job_uid_a": p.a.uid, "job_uid_b": p.b.uid}
            for p in d.nondeterministic
        ],
        "metrics": [metrics_json(m) for m in d.metrics],
        "pairs": [
            {"step_a": p.a.ref, "step_b": p.b.ref, "job_uid_a": p.a.uid, "job_uid_b": p.b.uid}
            for p in d.pairs
        ],
    }


def side_json(s: Side) -> dict[str, Any]:
    return {
        "ref": s.ref,
        "kind": s.kind,
        "target": file_json(s.target) if s.target else None,
        "job_uid": s.anchor.uid if s.anchor else None,
        "step_ref": s.anchor.ref if s.anchor else None,
        "session_uid": s.session.uid if s.session else None,
        "jobs": len(s.jobs),
    }


def file_change_json(f: FileChange) -> dict[str, Any]:
    return {
        "change": f.change,
        "path_a": f.a.path if f.a else None,
        "path_b": f.b.path if f.b else None,
        "hash_a": f.a.digest if f.a else None,
        "hash_b": f.b.digest if f.b else None,
        "size_a": f.a.size if f.a else None,
        "size_b": f.b.size if f.b else None,
        "step_a": f.step_a,
        "step_b": f.step_b,
        "members": [{"relpath": rel, "change": change} for rel, change in f.members],
    }


def metrics_json(m: MetricsDiff) -> dict[str, Any]:
    return {
        "path_a": m.path_a,
        "path_b": m.path_b,
        "unavailable": m.unavailable,
        "changes": [{"key": c.key, "a": c.a, "b": c.b, "delta": c.delta} for c in m.changes],
    }


def _cause(c: Any) -> dict[str, str]:
    return {"category": c.category, "summary": c.summary}


def _named(n: NamedChange) -> dict[str, Any]:
    return {"name": n.name, "change": n.change, "a": n.a, "b": n.b, "steps": _steps(n.steps)}


def _steps(steps: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"step_a": a, "step_b": b} for a, b in steps]


def _job(j: JobView) -> dict[str, Any]:
    return {"step_ref": j.ref, "job_uid": j.uid, "kind": j.kind, "command": j.command}
