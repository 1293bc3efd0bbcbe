"""`roar register`'s core: a target's whole upstream lineage as one bundle, sent to GLaaS.

``prepare`` resolves the target (a path, an artifact hash prefix, ``@N``/``@BN``, a job uid, or
a session) in the local store, walks its lineage upstream, filters secrets again and builds the
bundle (docs/registry-api.md); ``send`` posts it; ``tag_commit`` marks the git commit the
lineage ran at. Nothing here prints: the command renders what these return.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roar.errors import RoarError
from roar.query import refs
from roar.query.serialize import job_json
from roar.query.upstream import resolve_target, walk
from roar.record import secrets
from roar.registry import client
from roar.registry.bundle import bundle_from_jobs
from roar.store import labels as label_store
from roar.store.queries import Reader
from roar.store.views import JobView
from roar.workspace import Workspace

ANONYMOUS = "anonymous"
TAG_PREFIX = "roar/"
LOG_NAME = "registrations.jsonl"  # under .roar/: what was registered where, with which visibility


@dataclass
class Prepared:
    """What would be sent, and what the command says about it."""

    kind: str  # artifact | job | session
    label: str  # the target as the user named it
    bundle: dict[str, Any]
    jobs: list[JobView]
    reproduce: list[str] = field(default_factory=list)  # artifact hashes to reproduce
    commit: str | None = None  # the newest commit the lineage ran at


def prepare(reader: Reader, ws: Workspace, ref: str, *, mask: bool = True) -> Prepared:
    """The bundle for ``ref``'s upstream lineage (a session: all its jobs)."""
    kind, jobs, reproduce, session_uid = _collect(reader, ws, ref)
    docs = [job_json(j, ws.root) for j in jobs]
    if mask:
        docs = [_masked(d) for d in docs]
    hashes = {f["hash"] for d in docs for f in [*d["inputs"], *d["outputs"]]}
    events = _label_events(reader.conn, [j.uid for j in jobs], sorted(hashes), session_uid)
    bundle = bundle_from_jobs(
        docs, registered_by=ANONYMOUS, labels=events, project_root=str(ws.root)
    )
    newest = next((j for j in reversed(jobs) if j.git_commit), None)
    return Prepared(
        kind=kind,
        label=ref,
        bundle=bundle,
        jobs=jobs,
        reproduce=reproduce,
        commit=newest.git_commit if newest else None,
    )


def send(
    url: str, bundle: dict[str, Any], scope: str = ANONYMOUS, login: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``POST /register?scope=…`` as ``login`` (None: anonymously): the server's answer
    (session hash, created, counts, scope, registered_by)."""
    from urllib.parse import quote

    auth: str | dict[str, Any] = login if login is not None else client.ANONYMOUS
    return client.post(url, f"/register?scope={quote(scope, safe='/')}", bundle, auth=auth)


def record_locally(ws: Workspace, entry: dict[str, Any]) -> Path:
    """Append what was registered (where, which session, which scope) to
    ``.roar/registrations.jsonl``: a local record of what left this repo, and where to."""
    path = ws.roar_dir / LOG_NAME
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**entry, "at": time.time()}, sort_keys=True) + "\n")
    return path


def tag_commit(root: Path, commit: str | None, session_hash: str) -> tuple[str | None, str]:
    """A lightweight tag ``roar/<session hash prefix>`` on ``commit``: (tag or None, a note)."""
    if not commit:
        return None, "no git commit recorded: nothing tagged"
    tag = TAG_PREFIX + session_hash[:12]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )

    if git("rev-parse", "--git-dir").returncode != 0:
        return None, "not a git repository: nothing tagged"
    have = git("rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}")
    if have.returncode == 0:
        if have.stdout.strip() == commit:
            return tag, f"commit {commit[:12]} already tagged {tag}"
        return None, f"tag {tag} already names another commit: not moved"
    done = git("tag", tag, commit)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git tag failed"
        return None, f"could not tag commit {commit[:12]} ({why})"
    return tag, f"tagged commit {commit[:12]} as {tag}"


# the target --------------------------------------------------------------------------------


def _collect(
    reader: Reader, ws: Workspace, ref: str
) -> tuple[str, list[JobView], list[str], str | None]:
    """(kind, jobs in dependency order, artifact hashes to reproduce, session uid if one)."""
    if ref.startswith("session:"):
        return _session(reader, ref)
    try:
        target = resolve_target(reader.conn, ws, ref)
    except RoarError:
        if refs.HEX.match(ref) and len(ref) >= 8:
            # Seeds: a bare hex target is a job uid, then an artifact hash, then a session.
            try:
                return _session(reader, ref)
            except RoarError:
                pass
        raise
    if target.job is not None:
        walked = walk(reader.conn, start_jobs=[target.job], successful_only=True)
        outputs = [f.digest for f in target.job.outputs]
        return "job", walked.ordered_jobs(), list(dict.fromkeys(outputs)), None
    assert target.file is not None
    walked = walk(reader.conn, target=target.file, successful_only=True)
    if target.file.artifact_id not in walked.produced_by or not walked.jobs:
        raise RoarError(
            f"No successful recorded job produced {target.label}: there is no lineage to register.",
            hint="roar register sends how an artifact was made; `roar show` tells where a "
            "file came from.",
        )
    return "artifact", walked.ordered_jobs(), [target.file.digest], None


def _session(reader: Reader, ref: str) -> tuple[str, list[JobView], list[str], str | None]:
    session = refs.resolve_session(reader, ref)
    jobs = reader.session_jobs(session.id)
    if not jobs:
        raise RoarError(
            f"Session {session.uid[:12]} has no jobs: nothing to register.",
            hint="Record a job first: roar run <command>.",
        )
    read = {f.digest for j in jobs for f in j.inputs}
    finals = [f.digest for j in reversed(jobs) for f in j.outputs if f.digest not in read]
    return "session", jobs, list(dict.fromkeys(finals)), session.uid


# secrets, again ----------------------------------------------------------------------------


def _masked(doc: dict[str, Any]) -> dict[str, Any]:
    """The job object with its secrets masked again (the recorder masked them already unless
    registration.omit.enabled was off then, or a rule was added since)."""
    out = dict(doc)
    out["argv"] = secrets.mask_argv(doc.get("argv") or [])
    out["command"] = secrets.mask_text(doc.get("command") or "")
    if doc.get("source"):
        out["source"] = secrets.mask_cell_source(doc["source"])
    meta = dict(doc.get("metadata") or {})
    env = meta.pop("env", None)  # names only leave (bundle.py); values are not masked, dropped
    out["metadata"] = {k: _mask_value(v) for k, v in meta.items()}
    if env is not None:
        out["metadata"]["env"] = {name: "" for name in env}
    return out


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return secrets.mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    return value


# labels, with their history ----------------------------------------------------------------


def _label_events(
    conn: Any, job_uids: list[str], digests: list[str], session_uid: str | None
) -> list[dict[str, Any]]:
    """Every change of the lineage's labels as the bundle's events: a key set to a value (its
    text) or removed (None), at the time of the version that made the change."""
    targets: list[tuple[str, str, str | None]] = [("job", u, u) for u in job_uids]
    targets += [("artifact", d, d) for d in digests]
    if session_uid is not None:
        targets.append(("dag", session_uid, None))
    events: list[dict[str, Any]] = []
    for kind, key, target in targets:
        before: dict[str, str] = {}
        for version in label_store.history(conn, label_store.Entity(kind, key)):
            now = dict(flat_labels(version.document))
            when = float(version.created_at)
            bundle_kind = "session" if kind == "dag" else kind
            for name, value in now.items():
                if before.get(name) != value:
                    events.append(_event(bundle_kind, target, name, value, when))
            for name in before.keys() - now.keys():
                events.append(_event(bundle_kind, target, name, None, when))
            before = now
    return events


def _event(
    kind: str, target: str | None, key: str, value: str | None, when: float
) -> dict[str, Any]:
    return {"target_kind": kind, "target": target, "key": key, "value": value, "set_at": when}


def flat_labels(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A label document as the registry holds it: dotted keys, text values (JSON for others)."""
    out: list[tuple[str, str]] = []
    for k, v in doc.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out += flat_labels(v, name + ".")
        else:
            out.append((name, v if isinstance(v, str) else json.dumps(v)))
    return out
