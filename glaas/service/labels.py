"""Labels of registered records, read and set one target at a time (``roar label sync``).

A target is a registered artifact (its BLAKE3 hash), job (its registry hash, or the client's
job uid, which is how roar knows it) or session (its registry hash). Setting appends label
events (the same ``label_events`` a registration writes: the current value of a key is its
latest event; a null value removes it), stamped with the server's clock so that what a sync
sends is the newest. Registering is the only way a target comes to exist: labels of something
not registered, or not visible to the viewer, are refused (NotFound), nothing written.

Scopes as /register has them (glaas.service.auth.grant_scope): the events are written in the
grant scope ``scope`` names for the viewer, attributed to the viewer (anonymous: public, by
"anonymous"); reading with a ``scope`` gives the labels of that grant scope only, which is what
a sync into that scope compares with.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.db import WRITE
from glaas.service import NotFound
from glaas.service.auth import ANONYMOUS, ANONYMOUS_VIEWER, Viewer, grant_scope
from glaas.service.visibility import label_visible, visible

Kind = Literal["artifact", "job", "session"]


class LabelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kind: Kind
    target: str = Field(min_length=1, max_length=64)  # a hash, or a job's client uid
    key: str = Field(min_length=1, max_length=200)
    value: str | None = Field(default=None, max_length=100_000)  # None removes the label

    @field_validator("target", "key", "value")
    @classmethod
    def _storable(cls, text: str | None) -> str | None:
        """A NUL in a text no column takes (PostgreSQL's text refuses it: it was a 500), and
        no hash or uid holds one; refused on SQLite alike."""
        if text is not None and "\x00" in text:
            raise ValueError("a text of the label change holds a NUL character (\\u0000)")
        return text


class LabelsIn(BaseModel):
    """Who sets them is the request's viewer (glaas.api.auth), never a field of the body."""

    model_config = ConfigDict(extra="forbid")

    changes: list[LabelChange] = Field(min_length=1, max_length=10_000)


class LabelsOut(BaseModel):
    events: int  # label events written
    set_at: float  # their time (the server's clock)


def resolve(db: Db, kind: str, ref: str, viewer: Viewer = ANONYMOUS_VIEWER) -> list[str]:
    """The registry hashes ``ref`` names that ``viewer`` can see (a job uid may name several
    registrations of the job, each under its own hash); NotFound when there is none."""
    if kind == "artifact":
        col, q = m.Artifact.hash, select(m.Artifact.hash).where(m.Artifact.hash == ref)
    elif kind == "session":
        col = m.Session.session_hash
        q = select(col).where(col == ref)
    else:
        col = m.Job.job_hash
        q = select(col).where((col == ref) | (m.Job.uid == ref)).order_by(col)
    found = list(db.scalars(q.where(visible(col, viewer))))
    if not found:
        raise NotFound(f"{kind} {ref} is not registered")
    return found


def current(
    db: Db, kind: str, ref: str, viewer: Viewer = ANONYMOUS_VIEWER, scope: str | None = None
) -> dict[str, Any]:
    """The target's current labels (key → text) that ``viewer`` can see; with ``scope``, only
    those of the grant scope it names (anonymous and public: public)."""
    granted = grant_scope(viewer, scope)[0] if scope is not None else None
    with db.begin():
        targets = resolve(db, kind, ref, viewer)
        q = (
            select(m.LabelEvent.target, m.LabelEvent.key, m.LabelEvent.value)
            .where(
                m.LabelEvent.target_kind == kind,
                m.LabelEvent.target.in_(targets),
                label_visible(viewer),
            )
            .order_by(m.LabelEvent.set_at, m.LabelEvent.id)
        )
        if granted is not None:
            q = q.where(m.LabelEvent.scope == granted)
        rows = db.execute(q)
        by_target: dict[str, dict[str, str | None]] = {t: {} for t in targets}
        for target, key, value in rows:
            by_target[target][key] = value  # later events win
    first = by_target[targets[0]]
    return {
        "target_kind": kind,
        "target": ref,
        "hashes": targets,
        "labels": {k: v for k, v in sorted(first.items()) if v is not None},
    }


def apply(
    db: Db, body: LabelsIn, viewer: Viewer = ANONYMOUS_VIEWER, scope: str = ANONYMOUS
) -> LabelsOut:
    """Append the changes as label events in ``scope``, as ``viewer``, all or none (a target
    not registered or not visible: NotFound)."""
    now = time.time()
    granted, who = grant_scope(viewer, scope)  # AuthError / Forbidden before any write
    with db.begin():
        db.connection(execution_options=WRITE)
        rows = []
        for change in body.changes:
            for target in resolve(db, change.target_kind, change.target, viewer):
                rows.append(
                    m.LabelEvent(
                        target_kind=change.target_kind,
                        target=target,
                        key=change.key,
                        value=change.value,
                        set_at=now,
                        registered_by=who,
                        scope=granted,
                    )
                )
        db.add_all(rows)
    return LabelsOut(events=len(rows), set_at=now)
