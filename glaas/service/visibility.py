"""What a viewer may see: a record (artifact, job or session hash) is visible when one of its
grants is in the viewer's scopes. Every lookup, traversal and search adds ``visible`` on the
record's hash: one probe of the grants' primary key (target_hash, scope)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service.auth import PUBLIC, Viewer


def _scope_in(column: Any, viewer: Viewer) -> ColumnElement[bool]:
    if viewer.scopes == (PUBLIC,):
        return column == PUBLIC  # type: ignore[no-any-return]
    return column.in_(viewer.scopes)  # type: ignore[no-any-return]


def visible(column: Any, viewer: Viewer) -> ColumnElement[bool]:
    """The record whose hash is ``column`` has a grant ``viewer`` can read."""
    return exists().where(m.Grant.target_hash == column, _scope_in(m.Grant.scope, viewer))


def grant_visible(grant: Any, viewer: Viewer) -> ColumnElement[bool]:
    """``grant`` (m.Grant or an alias of it) is in a scope ``viewer`` can read: what
    ``visible`` asks of one of a record's grants."""
    return _scope_in(grant.scope, viewer)


def grant_of(column: Any, viewer: Viewer) -> ColumnElement[bool]:
    """Join condition: a grant of the record whose hash is ``column`` that ``viewer`` can read
    (an outer join on it, ordered by registered_at, gives ``attribution`` in the record's own
    query)."""
    return and_(m.Grant.target_hash == column, _scope_in(m.Grant.scope, viewer))


def label_visible(viewer: Viewer, event: Any = m.LabelEvent) -> ColumnElement[bool]:
    """A label event registered in a scope ``viewer`` can read."""
    return _scope_in(event.scope, viewer)


def attribution(db: Db, hashes: Iterable[str], viewer: Viewer) -> dict[str, tuple[str, float]]:
    """hash -> (registered_by, registered_at) of its earliest registration ``viewer`` can see:
    a record first registered privately by one user and later publicly by another shows the
    public registration to everyone else."""
    wanted = sorted(set(hashes))
    out: dict[str, tuple[str, float]] = {}
    for i in range(0, len(wanted), 500):
        q = select(m.Grant.target_hash, m.Grant.registered_by, m.Grant.registered_at).where(
            m.Grant.target_hash.in_(wanted[i : i + 500]), _scope_in(m.Grant.scope, viewer)
        )
        for h, by, at in db.execute(q):
            if h not in out or at < out[h][1]:
                out[h] = (by, at)
    return out


def attribute(db: Db, docs: list[dict[str, Any]], key: str, viewer: Viewer) -> None:
    """Set each document's registered_by/at (``key`` names its hash) as ``viewer`` sees it."""
    seen = attribution(db, (d[key] for d in docs), viewer)
    for d in docs:
        if d[key] in seen:
            d["registered_by"], d["registered_at"] = seen[d[key]]
