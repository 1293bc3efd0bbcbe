"""Labels: user key/value documents on a DAG (session), a job or an artifact, versioned.

``roar label set job @2 phase=train lr=0.001 model.name=resnet50`` patches the job's document:
dotted keys nest (``{"model": {"name": "resnet50"}}``) and values keep their type (numbers stay
numbers, ``true``/``false`` are booleans, anything else is a string). Every change is a new
version (``roar/store/labels.py``); ``history`` lists them all.

The commands call these and only render what comes back; the JSON objects and the text views
read a job's labels from ``JobView.labels`` (``attach``) and an artifact's by digest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roar.errors import RoarError
from roar.query.history import (
    may_be_path,
    no_artifact_at,
    resolve_artifact,
    resolve_job,
    resolve_session,
)
from roar.query.lineage import Dag, Lineage
from roar.store import labels as store
from roar.store.connection import Connection
from roar.store.labels import Entity, LabelVersion
from roar.store.views import JobView
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader

KINDS = ("dag", "job", "artifact")
# Numbers as JSON writes them (a leading zero keeps "007" a string: an id, not a number).
_INT = re.compile(r"^-?(0|[1-9]\d*)$")
_FLOAT = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$")
_KEY_PART = re.compile(r"^[^\s=.]+$")


@dataclass(frozen=True)
class Target:
    """A labelled entity as the user named it, with what identifies it for people and scripts."""

    entity: Entity
    title: str  # "job @2 (3f2a9c1b)", "artifact outputs/model.pt (5e1c…)", "dag 8d7a1f2c…"
    ids: dict[
        str, Any
    ]  # the JSON ``entity`` object: kind plus session_uid | job_uid, step_ref | hash, path


# Parsing -----------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """``42`` → 42, ``0.001`` → 0.001, ``1e-3`` → 0.001, ``true`` → True; else the string
    (``007``, ``1.``, ``nan`` and ``v2`` stay strings)."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        value = float(text)
        return value if math.isfinite(value) else text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_key(key: str) -> list[str]:
    parts = key.split(".")
    if not key or not all(_KEY_PART.match(p) for p in parts):
        raise RoarError(
            f"Invalid label key '{key}'.",
            hint="Keys are words joined by dots, e.g. model.name or metrics.val_loss.",
        )
    return parts


def parse_assignments(items: Iterable[str]) -> list[tuple[list[str], Any]]:
    """``["model.name=resnet50", "lr=0.001"]`` → ``[(["model", "name"], "resnet50"), (["lr"], 0.001)]``."""
    parsed = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise RoarError(
                f"Expected KEY=VALUE, got '{item}'.",
                hint="e.g. roar label set job @2 phase=train lr=0.001",
            )
        parsed.append((parse_key(key.strip()), parse_value(value)))
    return parsed


def flatten(doc: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """A nested document as (dotted key, value) pairs, in the document's order."""
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value


def value_text(value: Any) -> str:
    """How a value reads in text views: as it was typed (``true``, ``0.001``, ``resnet50``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def one_line(doc: dict) -> str:
    """``phase=train lr=0.001 model.name=resnet50``."""
    return " ".join(f"{key}={value_text(value)}" for key, value in flatten(doc))


# Resolving ---------------------------------------------------------------------------------------
def resolve_target(reader: Reader, ws: Workspace, kind: str, ref: str) -> Target:
    """``dag current|SESSION``, ``job @N|@BN|UID`` or ``artifact PATH|HASH`` → the entity."""
    ids: dict[str, Any]
    if kind == "dag":
        session = resolve_session(reader, ref)
        ids = {"kind": "dag", "session_uid": session.uid}
        return Target(Entity("dag", session.uid), f"dag {session.uid[:12]}", ids)
    if kind == "job":
        job = resolve_job(reader, ref)
        if job is None:
            raise RoarError(
                f"No job found for: {ref}",
                hint="Use @N, @BN or a job uid (4+ hex); `roar log` lists the jobs.",
            )
        ids = {"kind": "job", "job_uid": job.uid, "step_ref": job.ref}
        return Target(Entity("job", job.uid), f"job {job.ref} ({job.uid})", ids)
    if kind == "artifact":
        hit = resolve_artifact(reader, ws, ref)
        if hit is None:
            if may_be_path(ref):
                raise no_artifact_at(ref)
            raise RoarError(
                f"Artifact not found in database: {ref}",
                hint="The file may not have been tracked by roar yet.",
            )
        art = hit.artifact
        path = hit.path or art.first_seen_path
        ids = {"kind": "artifact", "hash": art.digest, "path": path}
        name = ref if may_be_path(ref) else (path or art.digest[:12])
        return Target(Entity("artifact", art.digest), f"artifact {name} ({art.digest[:12]})", ids)
    raise RoarError(
        f"Unknown label target '{kind}'.", hint="Label a dag, a job or an artifact."
    )  # argparse's choices keep this unreachable from the CLI


# Changing ----------------------------------------------------------------------------------------
def set_labels(conn: Connection, target: Target, items: list[str]) -> LabelVersion | None:
    """Patch the target's labels with ``KEY=VALUE`` items (None: nothing changed)."""
    assignments = parse_assignments(items)

    def apply(doc: dict) -> dict:
        for parts, value in assignments:
            _put(doc, parts, value)
        return doc

    change = {".".join(parts): value for parts, value in assignments}
    return store.update(conn, target.entity, "set", {"set": change}, apply)


def unset_labels(conn: Connection, target: Target, keys: list[str]) -> LabelVersion:
    """Remove keys (a dotted key removes one leaf, a group key the whole group)."""
    paths = [parse_key(k) for k in keys]

    def apply(doc: dict) -> dict:
        missing = [".".join(p) for p in paths if not _remove(doc, p)]
        if missing:
            raise RoarError(
                f"No label {', '.join(repr(m) for m in missing)} on {target.title}.",
                hint=f"`roar label show {_cli_ref(target)}` lists its labels.",
            )
        return doc

    made = store.update(conn, target.entity, "unset", {"unset": keys}, apply)
    assert made is not None  # apply removed at least one key, or raised
    return made


def copy_labels(conn: Connection, source: Target, dest: Target) -> LabelVersion | None:
    """Merge the source's current labels into the destination's (the source's values win)."""
    now = store.current(conn, source.entity)
    if now is None or not now.document:
        raise RoarError(f"{source.title} has no labels to copy.")
    copied = now.document

    def apply(doc: dict) -> dict:
        for key, value in flatten(copied):
            _put(doc, key.split("."), value)
        return doc

    change = {"cp": {"from": source.ids, "version": now.version}}
    return store.update(conn, dest.entity, "cp", change, apply)


def current(conn: Connection, target: Target) -> LabelVersion | None:
    return store.current(conn, target.entity)


def history(conn: Connection, target: Target) -> list[LabelVersion]:
    return store.history(conn, target.entity)


def _put(doc: dict, parts: list[str], value: Any) -> None:
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if part in node:
                raise RoarError(
                    f"Label '{'.'.join(parts[: i + 1])}' holds a value, not a group of keys.",
                    hint=f"Unset it first to use '{'.'.join(parts)}'.",
                )
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _remove(doc: dict, parts: list[str]) -> bool:
    """Remove the key; groups left empty go too. False when it was not there."""
    node, trail = doc, []
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return False
        trail.append((node, part))
        node = child
    if parts[-1] not in node:
        return False
    del node[parts[-1]]
    for parent, key in reversed(trail):
        if parent[key]:
            break
        del parent[key]
    return True


def _cli_ref(target: Target) -> str:
    ids = target.ids
    if ids["kind"] == "dag":
        return f"dag {ids['session_uid'][:12]}"
    if ids["kind"] == "job":
        return f"job {ids['job_uid']}"
    return f"artifact {ids['hash'][:16]}"


# Labels of what other views show -----------------------------------------------------------------
def attach(conn: Connection, jobs: Iterable[JobView]) -> None:
    """Fill ``job.labels`` with each job's current labels (one read for them all)."""
    jobs = list(jobs)
    docs = store.documents(conn, "job", (j.uid for j in jobs))
    for job in jobs:
        job.labels = docs.get(job.uid, {})


def of_artifacts(conn: Connection, digests: Iterable[str]) -> dict[str, dict]:
    """digest → current labels, for the artifacts that have any."""
    return store.documents(conn, "artifact", digests)


def of_session(conn: Connection, session_uid: str) -> dict:
    now = store.current(conn, Entity("dag", session_uid))
    return now.document if now else {}


def version_json(v: LabelVersion) -> dict[str, Any]:
    from roar.query.serialize import iso

    return {
        "version": v.version,
        "labels": v.document,
        "operation": v.operation,
        "change": v.change,
        "created_at": iso(v.created_at),
    }


# The labels the views show, read through a command's reader ------------------------------------
def for_jobs(reader: Reader, jobs: Iterable[JobView]) -> None:
    """``attach`` over the reader's own connection."""
    attach(reader.conn, jobs)


def for_artifacts(reader: Reader, digests: Iterable[str]) -> dict[str, dict]:
    return of_artifacts(reader.conn, digests)


def for_dag(reader: Reader, dag: Dag) -> dict[str, dict]:
    """Attach its jobs' labels to a DAG's nodes; its artifacts' labels, by digest."""
    for_jobs(reader, (n.job for n in dag.nodes))
    return for_artifacts(reader, (a.digest for a in dag.artifacts))


def for_lineage(reader: Reader, lineage: Lineage) -> dict[str, dict]:
    """Attach its jobs' labels to a lineage's jobs; its artifacts' labels, by digest."""
    for_jobs(reader, lineage.jobs)
    digests = [lineage.target.digest, *(f.digest for f in lineage.artifacts)]
    return for_artifacts(reader, digests)


def for_session(reader: Reader, session_uid: str) -> dict:
    return of_session(reader.conn, session_uid)
