"""Search and filter jobs and artifacts, newest first, with keyset pagination; the label
leaderboard.

Every page is one indexed walk: rows come in (registered_at, hash) order, descending, from the
index revision 0002 adds, and the filters are predicates on that walk (correlated EXISTS on the
edges' and labels' own indexes), so a page costs the rows it skips, not a sort of the table.
The cursor is the last row's key, so pages stay stable while registrations arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, literal_column, or_, select
from sqlalchemy.orm import Session as Db
from sqlalchemy.orm import aliased

from glaas import models as m
from glaas.service import BadPrefix
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer
from glaas.service.visibility import attribute, grant_visible, label_visible, visible

Kind = Literal["job", "artifact"]
MAX_LIMIT = 200
LEADERBOARD_LIMIT = 500
COMMON = 2000  # edges: past this many matches, a filter is checked along the walk
_HEX = re.compile(r"^[0-9a-fA-F]{8,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$")


class BadQuery(BadPrefix):
    """A filter or cursor the search cannot read (answered 422)."""


@dataclass(frozen=True)
class Filters:
    q: str | None = None  # any text: a command, a file name, or a hash prefix
    command: str | None = None
    file: str | None = None  # a file name (the end of a path the job read or wrote)
    ext: str | None = None  # an extension, with or without its dot
    label: str | None = None  # key=value: the current value of a label
    gpu: bool | None = None  # the job ran on a host with a GPU (metadata host.gpu)
    user: str | None = None  # registered_by
    project: str | None = None  # part of the git remote (acme/project)
    since: str | None = None  # the job started at or after (ISO 8601, UTC)
    until: str | None = None  # the job started before


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise BadQuery(f"label filter {text!r} is not key=value")
    return key, value


def _date(text: str, what: str) -> str:
    if not _DATE.match(text.strip()):
        raise BadQuery(f"{what} {text!r} is not an ISO 8601 date or date and time")
    return text.strip().replace(" ", "T").replace("Z", "+00:00")


def encode_cursor(at: float, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        if not isinstance(at, (int, float)) or not isinstance(key, str):
            raise ValueError
        return float(at), key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadQuery(f"cursor {cursor!r} is not one this server gave") from None


# A path's last component, as an expression both databases index (revision 0002 creates
# ix_edges_basename on exactly this text; a query must spell it the same way to use it).
BASENAME = {
    "sqlite": "replace(path, rtrim(path, replace(path, '/', '')), '')",
    "postgresql": "regexp_replace(path, '^.*/', '')",
}


# A job's metadata host.gpu (SQL NULL when absent or JSON null), spelled as revision 0006's
# partial index ix_jobs_gpu spells it: a database uses a partial index only for a query whose
# condition is the index's own text, constants and all (a bound JSON path is not).
GPU = {
    "sqlite": "json_extract(jobs.metadata, '$.host.gpu')",
    "postgresql": "(jobs.metadata #>> '{host,gpu}')",
}


def _named(dialect: str, outer: Any, edge_column: Any, name: str) -> ColumnElement[bool]:
    """``outer`` (a job or artifact hash) is ``edge_column`` of an edge whose file name is
    ``name``: a lookup in ix_edges_basename, not a walk of every path."""
    base: ColumnElement[str] = literal_column(BASENAME[dialect])
    return outer.in_(select(edge_column).where(base == name))


def _named_like(dialect: str, start: str) -> ColumnElement[bool]:
    """An edge's file name starts with ``start`` (a range of ix_edges_basename; ``path`` is
    left unqualified, so it names the edges of whichever query holds it)."""
    base: ColumnElement[str] = literal_column(BASENAME[dialect])
    return (base >= start) & (base < start + "\U0010ffff")


def _hash_prefix(column: Any, text: str) -> ColumnElement[bool]:
    """A hex prefix as a range, which a B-tree serves under any collation (LIKE 'p%' is
    served only under C)."""
    p = text.lower()
    return (column >= p) & (column < p + "g")


def _any_of(db: Db, outer: Any, edge_column: Any, parts: list[Any]) -> Any:
    """``outer`` is among what any of ``parts`` (a select of hashes, its condition) finds.

    Each part runs once, bounded, on its own index: when together they find fewer than COMMON,
    the page is those few, sorted; when a part is common, its condition is checked along the
    newest-first walk instead, which fills a page long before it ends."""
    found: set[str] = set()
    for query, cond, _on_edges in parts:
        rows = list(db.scalars(query.where(cond).limit(COMMON)))
        if len(rows) >= COMMON:
            break
        found.update(rows)
    else:
        return outer.in_(sorted(found))
    return or_(
        *(exists().where(edge_column == outer, c) if on_edges else c for _q, c, on_edges in parts)
    )


def _labelled(kind: str, key: str, value: str, viewer: Viewer) -> Any:
    """The targets whose label ``key`` is now ``value``: an event setting it that no later
    event for the same target and key overrides (ix_label_events_key, then the target's),
    among the events registered in scopes ``viewer`` can see."""
    ev, later = aliased(m.LabelEvent), aliased(m.LabelEvent)
    newer = exists().where(
        later.target_kind == ev.target_kind,
        later.target == ev.target,
        later.key == ev.key,
        later.set_at > ev.set_at,
        label_visible(viewer, later),
    )
    return select(ev.target).where(
        ev.key == key,
        ev.target_kind == kind,
        ev.value == value,
        label_visible(viewer, ev),
        ~newer,
    )


def _ext_like(ext: str) -> str:
    return "%." + _like(ext.lstrip("."))


def _with_ext(db: Db, outer: Any, edge_column: Any, ext: str) -> ColumnElement[bool]:
    """``outer`` has an edge whose path ends in ``.ext``. No index serves a suffix, so the plan
    depends on how common the extension is, which one bounded probe tells: a rare one is
    collected by the probe itself (one pass over the edges, a short list to sort), a common one checked
    row by row along the newest-first walk (a page fills long before the walk ends)."""
    matches = m.Edge.path.like(_ext_like(ext), escape="\\")
    found = list(db.scalars(select(edge_column).where(matches).limit(COMMON)))
    if len(found) < COMMON:  # the probe found every edge: no second pass
        return outer.in_(sorted(set(found)))
    e = aliased(m.Edge)
    own = e.job_hash if edge_column is m.Edge.job_hash else e.artifact_hash
    return exists().where(own == outer, e.path.like(_ext_like(ext), escape="\\"))


def _contains(dialect: str, column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring. SQLite's own LIKE already ignores ASCII case, and reads the
    command straight from ix_jobs_registered_at_hash; lower() on both sides costs twice that."""
    pattern = "%" + _like(text) + "%"
    if dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _registered_by(column: Any, user: str, viewer: Viewer) -> ColumnElement[bool]:
    """``column`` (a record's hash) has a grant ``viewer`` can see registered by ``user``:
    visibility.visible's probe with the registrant added, so ``search`` adds no other."""
    g = aliased(m.Grant)
    return exists().where(
        g.target_hash == column, g.registered_by == user, grant_visible(g, viewer)
    )


def _job_conditions(db: Db, f: Filters, dialect: str, viewer: Viewer) -> list[ColumnElement[bool]]:
    j = m.Job
    conds: list[ColumnElement[bool]] = []
    if f.q:
        text = f.q.strip()
        e = aliased(m.Edge)
        parts = [
            (select(j.job_hash), _contains(dialect, j.command, text), False),
            (select(e.job_hash), _named_like(dialect, text), True),
        ]
        if _HEX.match(text):
            parts.append(
                (select(j.job_hash), _hash_prefix(j.job_hash, text) | (j.uid == text), False)
            )
        conds.append(_any_of(db, j.job_hash, e.job_hash, parts))
    if f.command:
        conds.append(_contains(dialect, j.command, f.command))
    if f.file:
        conds.append(_named(dialect, j.job_hash, m.Edge.job_hash, f.file))
    if f.ext:
        conds.append(_with_ext(db, j.job_hash, m.Edge.job_hash, f.ext))
    if f.label:
        key, value = _label(f.label)
        conds.append(j.job_hash.in_(_labelled("job", key, value, viewer)))
    if f.gpu is not None:
        # gpu=true walks ix_jobs_gpu, the GPU jobs alone, newest first
        gpu: ColumnElement[Any] = literal_column(GPU[dialect])
        conds.append(gpu.is_not(None) if f.gpu else gpu.is_(None))
    if f.user:
        conds.append(_registered_by(j.job_hash, f.user, viewer))
    if f.project:
        conds.append(_contains(dialect, j.git_remote, f.project))
    if f.since:
        conds.append(j.started_at >= _date(f.since, "since"))
    if f.until:
        conds.append(j.started_at < _date(f.until, "until"))
    return conds


def _artifact_conditions(
    db: Db, f: Filters, dialect: str, viewer: Viewer
) -> list[ColumnElement[bool]]:
    a = m.Artifact
    conds: list[ColumnElement[bool]] = []
    if f.q:
        text = f.q.strip()
        e = aliased(m.Edge)
        parts = [(select(e.artifact_hash), _named_like(dialect, text), True)]
        if _HEX.match(text):
            parts.append((select(a.hash), _hash_prefix(a.hash, text), False))
        conds.append(_any_of(db, a.hash, e.artifact_hash, parts))
    if f.file:
        conds.append(_named(dialect, a.hash, m.Edge.artifact_hash, f.file))
    if f.ext:
        conds.append(_with_ext(db, a.hash, m.Edge.artifact_hash, f.ext))
    if f.label:
        key, value = _label(f.label)
        conds.append(a.hash.in_(_labelled("artifact", key, value, viewer)))
    if f.user:
        conds.append(_registered_by(a.hash, f.user, viewer))
    unsupported = [n for n in ("command", "gpu", "project", "since", "until") if getattr(f, n)]
    if unsupported:
        raise BadQuery(f"filter {', '.join(unsupported)} applies to jobs, not artifacts")
    return conds


def search(
    db: Db,
    f: Filters,
    kind: Kind = "job",
    limit: int = 50,
    cursor: str | None = None,
    viewer: Viewer = ANONYMOUS_VIEWER,
) -> dict[str, Any]:
    """One page of jobs (or artifacts) matching every filter, newest registered first, among
    those ``viewer`` can see."""
    limit = max(1, min(limit, MAX_LIMIT))
    after = decode_cursor(cursor) if cursor else None
    dialect = db.get_bind().dialect.name
    with db.begin():
        if kind == "artifact":
            at, key, conds = (
                m.Artifact.registered_at,
                m.Artifact.hash,
                _artifact_conditions(db, f, dialect, viewer),
            )
            model: type[m.Base] = m.Artifact
        else:
            at, key = m.Job.registered_at, m.Job.job_hash
            conds = _job_conditions(db, f, dialect, viewer)
            model = m.Job
        if not f.user:  # the user filter is a grant in the viewer's scopes: one probe, not two
            conds.append(visible(key, viewer))
        if after is not None:
            conds.append(or_(at < after[0], and_(at == after[0], key < after[1])))
        q = select(model).where(*conds).order_by(at.desc(), key.desc()).limit(limit + 1)
        rows = list(db.scalars(q))
        more = len(rows) > limit
        rows = rows[:limit]
        if kind == "artifact":
            results = _artifact_rows(db, rows, viewer)  # type: ignore[arg-type]
            attribute(db, results, "hash", viewer)
        else:
            results = [_job_row(r) for r in rows]  # type: ignore[arg-type]
            attribute(db, results, "job_hash", viewer)
        nxt = None
        if more and rows:
            last = rows[-1]
            nxt = encode_cursor(
                last.registered_at,  # type: ignore[attr-defined]
                last.hash if kind == "artifact" else last.job_hash,  # type: ignore[attr-defined]
            )
        return {"kind": kind, "limit": limit, "results": results, "next": nxt}


def _job_row(j: m.Job) -> dict[str, Any]:
    return {
        "job_hash": j.job_hash,
        "uid": j.uid,
        "kind": j.kind,
        "step_number": j.step_number,
        "command": j.command,
        "exit_code": j.exit_code,
        "started_at": j.started_at,
        "git": {"remote": j.git_remote, "commit": j.git_commit, "branch": j.git_branch},
        "gpu": bool((j.job_metadata or {}).get("host", {}).get("gpu")),
        "registered_at": j.registered_at,
        "registered_by": j.registered_by,
    }


def _artifact_rows(db: Db, rows: list[m.Artifact], viewer: Viewer) -> list[dict[str, Any]]:
    hashes = [a.hash for a in rows]
    paths: dict[str, set[str]] = {}
    if hashes:
        q = select(m.Edge.artifact_hash, m.Edge.path).where(
            m.Edge.artifact_hash.in_(hashes), visible(m.Edge.job_hash, viewer)
        )
        for h, p in db.execute(q).tuples():
            paths.setdefault(h, set()).add(p)
    return [
        {
            "hash": a.hash,
            "size": a.size,
            "composite": a.composite,
            "paths": sorted(paths.get(a.hash, ()))[:10],
            "registered_at": a.registered_at,
            "registered_by": a.registered_by,
        }
        for a in rows
    ]


def label_keys(db: Db, viewer: Viewer = ANONYMOUS_VIEWER) -> list[str]:
    """Every label key ever set (in a scope ``viewer`` sees), for the leaderboard's picker."""
    with db.begin():
        q = (
            select(m.LabelEvent.key)
            .where(label_visible(viewer), visible(m.LabelEvent.target, viewer))
            .distinct()
            .order_by(m.LabelEvent.key)
            .limit(1000)
        )
        return list(db.scalars(q))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def leaderboard(
    db: Db, key: str, order: Literal["desc", "asc"] = "desc", viewer: Viewer = ANONYMOUS_VIEWER
) -> dict[str, Any]:
    """Everything whose label ``key`` is currently set, sorted by its value: numerically when
    every value is a number, else as text; ``desc`` puts the largest first."""
    with db.begin():
        q = (
            select(m.LabelEvent)
            .where(
                m.LabelEvent.key == key,
                label_visible(viewer),
                visible(m.LabelEvent.target, viewer),  # labels set apart from a registration
            )
            .order_by(m.LabelEvent.set_at, m.LabelEvent.id)
        )
        current: dict[tuple[str, str], m.LabelEvent] = {}
        for ev in db.scalars(q):
            current[(ev.target_kind, ev.target)] = ev  # later events win
        live = [ev for ev in current.values() if ev.value is not None]
        numeric = all(_number(ev.value or "") is not None for ev in live)

        def sort_key(ev: m.LabelEvent) -> tuple[Any, str]:
            v: Any = _number(ev.value or "") if numeric else (ev.value or "")
            return (v, ev.target)

        live.sort(key=sort_key, reverse=order == "desc")
        live = live[:LEADERBOARD_LIMIT]
        jobs = {
            j.job_hash: j
            for j in db.scalars(
                select(m.Job).where(
                    m.Job.job_hash.in_([e.target for e in live if e.target_kind == "job"])
                )
            )
        }
        entries = []
        for rank, ev in enumerate(live, 1):
            entry: dict[str, Any] = {
                "rank": rank,
                "target_kind": ev.target_kind,
                "target": ev.target,
                "value": ev.value,
                "set_at": ev.set_at,
                "registered_by": ev.registered_by,
            }
            if ev.target_kind == "job" and ev.target in jobs:
                entry["command"] = jobs[ev.target].command
            entries.append(entry)
        return {"key": key, "order": order, "numeric": numeric and bool(live), "entries": entries}
