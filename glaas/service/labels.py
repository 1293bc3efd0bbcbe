"""Labels of registered records, read and set one target at a time (``roar label sync``).

A target is a registered artifact (its BLAKE3 hash), job (its registry hash, or the client's
job uid, which is how roar knows it) or session (its registry hash). Setting appends label
events (the same ``label_events`` a registration writes: the current value of a key is its
latest event; a null value removes it), stamped with the server's clock so that what a sync
sends is the newest. Registering is the only way a target comes to exist: labels of something
not registered are refused (NotFound), nothing written.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.db import WRITE
from glaas.service import NotFound

Kind = Literal["artifact", "job", "session"]


class LabelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kind: Kind
    target: str = Field(min_length=1, max_length=64)  # a hash, or a job's client uid
    key: str = Field(min_length=1, max_length=200)
    value: str | None = Field(default=None, max_length=100_000)  # None removes the label


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Who sets them: trusted as sent today, as a bundle's registered_by is (the auth slice
    # replaces it with the authenticated principal, as it does for /register).
    registered_by: str = Field(default="anonymous", max_length=200)
    changes: list[LabelChange] = Field(min_length=1, max_length=10_000)


class LabelsOut(BaseModel):
    events: int  # label events written
    set_at: float  # their time (the server's clock)


def resolve(db: Db, kind: str, ref: str) -> list[str]:
    """The registry hashes ``ref`` names (a job uid may name several registrations of the
    job, each under its own hash); NotFound when it is not registered."""
    if kind == "artifact":
        found = list(db.scalars(select(m.Artifact.hash).where(m.Artifact.hash == ref)))
    elif kind == "session":
        found = list(
            db.scalars(select(m.Session.session_hash).where(m.Session.session_hash == ref))
        )
    else:
        found = list(
            db.scalars(
                select(m.Job.job_hash)
                .where((m.Job.job_hash == ref) | (m.Job.uid == ref))
                .order_by(m.Job.job_hash)
            )
        )
    if not found:
        raise NotFound(f"{kind} {ref} is not registered")
    return found


def current(db: Db, kind: str, ref: str) -> dict[str, Any]:
    """The target's current labels (key → text)."""
    with db.begin():
        targets = resolve(db, kind, ref)
        rows = db.execute(
            select(m.LabelEvent.target, m.LabelEvent.key, m.LabelEvent.value)
            .where(m.LabelEvent.target_kind == kind, m.LabelEvent.target.in_(targets))
            .order_by(m.LabelEvent.set_at, m.LabelEvent.id)
        )
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


def apply(db: Db, body: LabelsIn) -> LabelsOut:
    """Append the changes as label events, all or none (a target not registered: NotFound)."""
    now = time.time()
    with db.begin():
        db.connection(execution_options=WRITE)
        rows = []
        for change in body.changes:
            for target in resolve(db, change.target_kind, change.target):
                rows.append(
                    m.LabelEvent(
                        target_kind=change.target_kind,
                        target=target,
                        key=change.key,
                        value=change.value,
                        set_at=now,
                        registered_by=body.registered_by,
                    )
                )
        db.add_all(rows)
    return LabelsOut(events=len(rows), set_at=now)
