"""`roar label sync`'s core: make the registry's labels of registered records match the local
ones, sending only what differs.

For each target the registry is asked for its current labels (``GET /api/v1/labels/...``) and
compared with the local document, flattened as ``roar register`` flattens it (dotted keys; text
values as they are, other values as JSON). What differs is set; a key the local history once
had and no longer has is removed on the registry too (keys the registry got from elsewhere are
left alone). So a second sync finds nothing to send. Nothing here writes the local store.

Scope and credentials as ``roar register`` chooses them (roar.registry.account.publication):
the registry's labels in that scope are compared, and the changes are written there.

Targets: a dag (the registry's session with the same jobs and edges: its hash is asked of
``POST /api/v1/identify`` with the bundle ``roar register session:UID`` would send), a job (by
its uid) or an artifact (by its hash). Without a target: the active session's dag, and the
jobs of that session and the artifacts they read or wrote that carry labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roar.errors import RoarError
from roar.query.labels import Target, resolve_target
from roar.registry import client
from roar.registry.register import flat_labels
from roar.store import labels as store
from roar.store.queries import Reader
from roar.workspace import Workspace

SERVER_KIND = {"dag": "session", "job": "job", "artifact": "artifact"}


@dataclass
class Item:
    """One target: what the registry has, what would be sent."""

    target: Target
    ref: str | None  # what the registry knows it by (None: could not be named)
    registered: bool = False
    remote: dict[str, str] = field(default_factory=dict)
    set: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    register_hint: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "entity": self.target.ids,
            "registered": self.registered,
            "set": self.set,
            "unset": self.unset,
        }


def targets(reader: Reader, ws: Workspace, words: list[str]) -> list[Target]:
    """``[]`` → the active session's labelled dag, jobs and artifacts; ``[KIND, REF]`` → it."""
    if words:
        if len(words) != 2:
            raise RoarError(
                f"Expected a target as ENTITY REF, got: {' '.join(words)}",
                hint="roar label sync [dag current | job @N | artifact PATH|HASH] [--dry-run]",
            )
        kind, ref = words
        if kind not in SERVER_KIND:
            raise RoarError(
                f"Unknown label target '{kind}'.", hint="Sync a dag, a job or an artifact."
            )
        return [resolve_target(reader, ws, kind, ref)]
    found = [resolve_target(reader, ws, "dag", "current")]
    session = reader.active_session()
    jobs = reader.session_jobs(session.id) if session is not None else []
    job_docs = store.documents(reader.conn, "job", (j.uid for j in jobs))
    for job in jobs:
        if job.uid in job_docs:
            found.append(resolve_target(reader, ws, "job", job.uid))
    digests = [f.digest for j in jobs for f in [*j.inputs, *j.outputs]]
    for digest in store.documents(reader.conn, "artifact", digests):
        found.append(resolve_target(reader, ws, "artifact", digest))
    return found


@dataclass
class Remote:
    """Where the labels go: the registry, the scope, and the login (None: anonymously)."""

    url: str
    scope: str = "anonymous"
    login: dict[str, Any] | None = None

    @property
    def auth(self) -> str | dict[str, Any]:
        return self.login if self.login is not None else client.ANONYMOUS

    def query(self) -> str:
        from urllib.parse import quote

        return f"?scope={quote(self.scope, safe='/')}"


def plan(
    reader: Reader, ws: Workspace, remote: Remote, chosen: list[Target], mask: bool
) -> list[Item]:
    """What each target's sync would send (asks the registry; sends nothing)."""
    items = []
    for target in chosen:
        versions = store.history(reader.conn, target.entity)
        if not versions:
            items.append(Item(target, None, registered=True))  # nothing local: nothing to send
            continue
        local = dict(flat_labels(versions[-1].document))
        ever = {k for v in versions for k, _ in flat_labels(v.document)}
        item = Item(target, _registry_ref(reader, ws, remote, target, mask))
        item.register_hint = _register_hint(target)
        if item.ref is not None:
            kind = SERVER_KIND[target.entity.kind]
            try:
                answer = client.get(
                    remote.url, f"/labels/{kind}/{item.ref}{remote.query()}", auth=remote.auth
                )
                item.registered, item.remote = True, dict(answer.get("labels") or {})
            except client.RegistryHTTPError as err:
                if err.status != 404:
                    raise
        if item.registered:
            item.set = {k: v for k, v in local.items() if item.remote.get(k) != v}
            item.unset = sorted(k for k in ever - local.keys() if k in item.remote)
        items.append(item)
    return items


def push(remote: Remote, items: list[Item]) -> int:
    """Send every registered item's changes in one request; the number of changes."""
    changes = [
        {"target_kind": SERVER_KIND[i.target.entity.kind], "target": i.ref, "key": k, "value": v}
        for i in items
        if i.registered and i.ref is not None
        for k, v in [*i.set.items(), *((k, None) for k in i.unset)]
    ]
    if changes:
        client.post(remote.url, f"/labels{remote.query()}", {"changes": changes}, auth=remote.auth)
    return len(changes)


def _registry_ref(
    reader: Reader, ws: Workspace, remote: Remote, target: Target, mask: bool
) -> str | None:
    if target.entity.kind != "dag":
        return target.entity.key
    from roar.registry import register

    try:
        prepared = register.prepare(reader, ws, f"session:{target.entity.key}", mask=mask)
    except RoarError:  # a session without jobs was never registered
        return None
    answer = client.post(remote.url, "/identify", prepared.bundle, auth=remote.auth)
    return str(answer["session_hash"])


def _register_hint(target: Target) -> str:
    ids = target.ids
    if ids["kind"] == "dag":
        ref = f"session:{ids['session_uid'][:12]}"
    elif ids["kind"] == "job":
        ref = ids.get("step_ref") or ids["job_uid"]
    else:
        ref = ids.get("path") or ids["hash"]
    return f"roar register {ref}"
