"""Find an artifact, job or session by full hash or unique prefix.

The lookups are the registry's hot path (issue 17: p95 <= 20 ms with 50 concurrent clients), so
their statements are built once, compiled once per database dialect and number of viewer scopes
(``_Sql``), and run as that SQL text on the connection: no expression building, cache key, ORM
row or identity map per request. The SQL and what it lets a viewer see are the same as the
expressions' (glaas.service.visibility): a record is found only when one of its grants is in the
viewer's scopes, others are as absent (not found, never "forbidden").

The documents are built here from rows on SQLite, with what never changes kept between lookups
(doc_cache). On PostgreSQL a lookup is one statement that resolves the key and builds the
document (pg_documents): the server's own lookups run it on the event loop
(glaas.service.pg_lookups), the web pages through ``_find`` on their session's connection.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Dialect,
    Engine,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.service import BadPrefix, doc_cache, pg_documents
from glaas.service.auth import ANONYMOUS_VIEWER, Viewer
from glaas.service.keys import CANDIDATES, FULL, check_prefix
from glaas.service.keys import unique as _unique

# ---------------------------------------------------------------- statements built once

Scopes = Callable[[Any], Any]  # column -> "column is one of the viewer's scopes"
# SQL text, its parameters' names in order (positional paramstyles) and its own values
_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]


class _Sql:
    """A statement, built by ``build(in_scopes)`` and compiled the first time it runs on a
    dialect with a given number of viewer scopes; then run as its SQL text on a cursor of the
    connection's driver connection, in the connection's transaction (SQLAlchemy's own
    execution of a text statement costs 30-40 µs of Python each: a cursor result's metadata,
    events, the execution context; the driver's cursor 4 µs). Rows are the driver's tuples.

    ``in_scopes(column)`` is the viewer filter (visibility._scope_in's SQL): one bound
    parameter per scope, ``scope_0``, ``scope_1``, … Other parameters are ``bindparam(name)``
    given by name to ``rows``."""

    def __init__(self, build: Callable[[Scopes], Any]) -> None:
        self.build = build
        self._compiled: dict[tuple[str, int], _Compiled] = {}

    def _compile(self, conn: Reader, n: int) -> _Compiled:
        names = [f"scope_{i}" for i in range(n)]

        def in_scopes(column: Any) -> Any:
            if n == 1:
                return column == bindparam(names[0])
            return column.in_([bindparam(name) for name in names])

        compiled = self.build(in_scopes).compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        # Values the statement holds itself (its LIMITs).
        fixed = {k: b.value for k, b in compiled.binds.items() if not b.required}
        return compiled.string, order, fixed

    def rows(self, conn: Reader, scopes: Sequence[str], **params: Any) -> list[Any]:
        key = (conn.dialect.name, len(scopes))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(conn, len(scopes))
        sql, order, fixed = found
        params.update(fixed)
        for i, scope in enumerate(scopes):
            params[f"scope_{i}"] = scope
        args: Any = params if order is None else tuple(params[name] for name in order)
        cursor = conn.driver.cursor()
        try:
            if conn.dialect.name == "postgresql":
                cursor.execute(sql, args, prepare=True)
            else:
                cursor.execute(sql, args)
            return cursor.fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()


def _visible(column: Any, in_scopes: Scopes) -> Any:
    """visibility.visible: the record whose hash is ``column`` has a grant the viewer reads."""
    return exists().where(m.Grant.target_hash == column, in_scopes(m.Grant.scope))


def _starts(column: Any) -> Any:
    """``column`` starts with the hex prefix :p, as a range an index answers: LIKE with a bound
    parameter is a full scan on SQLite (and on PostgreSQL outside the C collation). Stored hashes
    are lower-case hex, so every one with this prefix sorts in [p, p + "g"), and under a binary
    collation only those do. Under another (PostgreSQL's web pages may run in one), the range's
    rows are checked to start with :p by their first len(p) characters, not by LIKE: SQLite
    prepares a statement again each time a LIKE's bound pattern changes (~20 µs of a simple
    prefix lookup's 28, ~65 of the artifact key's 80)."""
    head = func.substr(column, 1, func.length(bindparam("p")))
    return and_(column >= bindparam("p"), column < bindparam("p_end"), head == bindparam("p"))


def _is(column: Any) -> Any:
    """``column`` is the full hash :p. Its own statement, not a range of one: PostgreSQL plans
    a prepared equality once (a generic plan), a range each time it runs (~0.5 ms)."""
    return column == bindparam("p")


def _prefix_params(p: str) -> dict[str, str]:
    return {"p": p, "p_end": p + "g"}


def _by_alias(in_scopes: Scopes) -> Any:
    return (
        select(m.ArtifactAlias.artifact_hash.label("h"), literal_column("0").label("o"))
        .where(
            m.ArtifactAlias.digest == bindparam("text"),
            _visible(m.ArtifactAlias.artifact_hash, in_scopes),
        )
        .limit(1)
    )


Match = Callable[[Any], Any]  # column -> the key's condition on it (_starts or _is)


def _alias_or_prefix(match: Match) -> Callable[[Scopes], Any]:
    def build(in_scopes: Scopes) -> Any:
        by_prefix: Any = (
            select(m.Artifact.hash.label("h"), literal_column("1").label("o"))
            .where(match(m.Artifact.hash), _visible(m.Artifact.hash, in_scopes))
            .limit(CANDIDATES)
        )
        a, b = _by_alias(in_scopes).subquery(), by_prefix.subquery()
        return union_all(select(a.c.h, a.c.o), select(b.c.h, b.c.o))

    return build


def _job_key(match: Match) -> Callable[[Scopes], Any]:
    # Each on its own index (an OR of the two is a full scan), in one statement; a uid may be
    # its hash's prefix.
    def build(in_scopes: Scopes) -> Any:
        seen = _visible(m.Job.job_hash, in_scopes)
        by_hash = select(m.Job.job_hash).where(match(m.Job.job_hash), seen).limit(CANDIDATES)
        by_uid = select(m.Job.job_hash).where(m.Job.uid == bindparam("p"), seen).limit(CANDIDATES)
        a, b = by_hash.subquery(), by_uid.subquery()
        return union_all(select(a.c.job_hash), select(b.c.job_hash))

    return build


def _session_key(match: Match) -> Callable[[Scopes], Any]:
    def build(in_scopes: Scopes) -> Any:
        return (
            select(m.Session.session_hash)
            .where(match(m.Session.session_hash), _visible(m.Session.session_hash, in_scopes))
            .limit(CANDIDATES)
        )

    return build


class _Key:
    """A key statement in two forms: for a prefix (a range) and for a whole hash (equality)."""

    def __init__(self, build: Callable[[Match], Callable[[Scopes], Any]]) -> None:
        self.prefix, self.full = _Sql(build(_starts)), _Sql(build(_is))

    def rows(self, conn: Reader, scopes: Sequence[str], p: str, **params: Any) -> list[Any]:
        if len(p) == FULL:
            return self.full.rows(conn, scopes, p=p, **params)
        return self.prefix.rows(conn, scopes, **params, **_prefix_params(p))


ALIAS = _Sql(_by_alias)
ALIAS_OR_PREFIX = _Key(_alias_or_prefix)
JOB_KEY = _Key(_job_key)
SESSION_KEY = _Key(_session_key)


def _with_attribution(table: Any, key: Any) -> Callable[[Scopes], Any]:
    """The record :h and, in the same row, who registered it first as the viewer sees it: its
    earliest grant in the viewer's scopes (visibility.attribution, folded into the query), as
    the row's last two columns (``g_by``, ``g_at``)."""

    def build(in_scopes: Scopes) -> Any:
        return (
            select(
                *table.c,
                m.Grant.registered_by.label("g_by"),
                m.Grant.registered_at.label("g_at"),
            )
            .outerjoin(m.Grant, and_(m.Grant.target_hash == key, in_scopes(m.Grant.scope)))
            .where(key == bindparam("h"))
            .order_by(m.Grant.registered_at)
            .limit(1)
        )

    return build


# visibility.attribution alone, for a job or session whose row is already known (doc_cache).
ATTRIBUTION = _Sql(
    lambda in_scopes: (
        select(m.Grant.registered_by, m.Grant.registered_at)
        .where(m.Grant.target_hash == bindparam("h"), in_scopes(m.Grant.scope))
        .order_by(m.Grant.registered_at)
        .limit(1)
    )
)
ARTIFACT = _Sql(_with_attribution(m.Artifact.__table__, m.Artifact.hash))
JOB = _Sql(_with_attribution(m.Job.__table__, m.Job.job_hash))
SESSION = _Sql(_with_attribution(m.Session.__table__, m.Session.session_hash))


def _artifact_parts(_in_scopes: Scopes) -> Any:
    """Aliases and members in one statement: (kind, name, hash, size)."""
    aliases: Any = select(
        literal_column("'alias'"),
        m.ArtifactAlias.algorithm,
        m.ArtifactAlias.digest,
        cast(null(), BigInteger),
    ).where(m.ArtifactAlias.artifact_hash == bindparam("h"))
    members: Any = select(
        literal_column("'member'"),
        m.CompositeMember.path,
        m.CompositeMember.member_hash,
        m.CompositeMember.size,
    ).where(m.CompositeMember.composite_hash == bindparam("h"))
    return union_all(aliases, members)


def _artifact_edges(in_scopes: Scopes) -> Any:
    """The artifact's edges (role, path, job), whether their job is visible, and the visible
    sessions of their jobs."""
    return (
        select(
            m.Edge.role,
            m.Edge.path,
            m.Edge.job_hash,
            _visible(m.Edge.job_hash, in_scopes).label("seen"),
            m.SessionJob.session_hash,
        )
        .outerjoin(
            m.SessionJob,
            and_(
                m.SessionJob.job_hash == m.Edge.job_hash,
                _visible(m.SessionJob.session_hash, in_scopes),
            ),
        )
        .where(m.Edge.artifact_hash == bindparam("h"))
    )


ARTIFACT_PARTS = _Sql(_artifact_parts)
ARTIFACT_EDGES = _Sql(_artifact_edges)
JOB_EDGES = _Sql(
    lambda _s: select(m.Edge.job_hash, m.Edge.role, m.Edge.path, m.Edge.artifact_hash).where(
        m.Edge.job_hash == bindparam("h")
    )
)
JOB_SESSIONS = _Sql(
    lambda in_scopes: select(m.SessionJob.session_hash).where(
        m.SessionJob.job_hash == bindparam("h"), _visible(m.SessionJob.session_hash, in_scopes)
    )
)
SESSION_JOBS = _Sql(
    lambda _s: (
        select(*m.Job.__table__.c)
        .join(m.SessionJob, m.SessionJob.job_hash == m.Job.job_hash)
        .where(m.SessionJob.session_hash == bindparam("h"))
    )
)
SESSION_EDGES = _Sql(
    lambda _s: (
        select(m.Edge.job_hash, m.Edge.role, m.Edge.path, m.Edge.artifact_hash)
        .join(m.SessionJob, m.SessionJob.job_hash == m.Edge.job_hash)
        .where(m.SessionJob.session_hash == bindparam("h"))
    )
)
# visibility.attribution of a session's jobs: their grants in the viewer's scopes.
SESSION_GRANTS = _Sql(
    lambda in_scopes: (
        select(m.Grant.target_hash, m.Grant.registered_by, m.Grant.registered_at)
        .join(m.SessionJob, m.SessionJob.job_hash == m.Grant.target_hash)
        .where(m.SessionJob.session_hash == bindparam("h"), in_scopes(m.Grant.scope))
    )
)
LABELS = _Sql(
    lambda in_scopes: (
        select(
            m.LabelEvent.key, m.LabelEvent.value, m.LabelEvent.set_at, m.LabelEvent.registered_by
        )
        .where(
            m.LabelEvent.target_kind == bindparam("kind"),
            m.LabelEvent.target == bindparam("h"),
            in_scopes(m.LabelEvent.scope),
        )
        .order_by(m.LabelEvent.set_at, m.LabelEvent.id)
    )
)

_ARTIFACT_COLUMNS = [c.name for c in m.Artifact.__table__.c]
_SESSION_COLUMNS = [c.name for c in m.Session.__table__.c]
# Job columns in the order of select(*m.Job.__table__.c): a row of JOB or SESSION_JOBS.
_JOB_COLUMNS = [c.name for c in m.Job.__table__.c]
_JOB_JSON = {c.name for c in m.Job.__table__.c if isinstance(c.type, JSON)}
_JOB_BOOL = {"interrupted", "git_dirty"}


class Reader:
    """Where a lookup reads: a database driver's connection, already in a read transaction
    (``reading``), the dialect its statements are compiled for, and the documents of its
    database that never change (doc_cache)."""

    def __init__(self, dialect: Dialect, driver: Any, docs: doc_cache.DocCache) -> None:
        self.dialect, self.driver, self.docs = dialect, driver, docs


Source = Db | Connection | Reader  # an ORM session (the web pages), a Core connection, a Reader


@contextmanager
def reading(engine: Engine) -> Iterator[Reader]:
    """One of ``engine``'s pooled connections for one lookup's reads, without SQLAlchemy's
    Connection around it (~80 µs of a lookup's CPU). SQLite: in a read transaction, so the
    statements see one snapshot (the pool's reset rolls it back). PostgreSQL: in autocommit,
    which reads as the ORM's transaction did at READ COMMITTED (each statement its own
    snapshot) without its BEGIN and ROLLBACK, two of a lookup's eight round trips."""
    pooled = engine.raw_connection()
    sqlite = engine.dialect.name == "sqlite"
    driver: Any = pooled.driver_connection
    try:
        if sqlite:
            driver.execute("BEGIN")  # glaas.db makes pysqlite leave transactions to us
        else:
            driver.autocommit = True
        yield Reader(engine.dialect, driver, doc_cache.for_engine(engine))
    finally:
        if not sqlite:
            driver.autocommit = False  # as the pool gave it (idle: no round trip)
        pooled.close()


class KeptReader:
    """On SQLite, one connection kept for this process's lookups, each in a read transaction
    of its own (BEGIN ... ROLLBACK: one snapshot a lookup, as ``reading`` gives), instead of a
    pool checkout per lookup: the checkout, the pool's reset and the checkin were ~15 % of a
    lookup's server CPU. The server reads on its event loop, one lookup at a time; a lookup
    that finds the connection in use (another thread) reads through ``reading``. Elsewhere
    (PostgreSQL), ``reading`` it is."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._driver: Any = None
        self._reader: Reader | None = None

    @contextmanager
    def __call__(self) -> Iterator[Reader]:
        if self.engine.dialect.name != "sqlite" or not self._lock.acquire(blocking=False):
            with reading(self.engine) as reader:
                yield reader
            return
        try:
            reader = self._reader or self._open()
            self._driver.execute("BEGIN")
            try:
                yield reader
            finally:
                if self._driver.in_transaction:
                    self._driver.execute("ROLLBACK")
        except sqlite3.Error:  # the connection may be the trouble: a new one next time
            self.close()
            raise
        finally:
            self._lock.release()

    def _open(self) -> Reader:
        # Taken out of the pool for good (detached): this reader owns and closes it.
        pooled = self.engine.raw_connection()
        self._driver = pooled.driver_connection
        pooled.detach()
        weakref.finalize(self, self._driver.close)
        self._reader = Reader(self.engine.dialect, self._driver, doc_cache.for_engine(self.engine))
        return self._reader

    def close(self) -> None:
        driver, self._driver, self._reader = self._driver, None, None
        if driver is not None:
            driver.close()


def _conn(db: Source) -> Reader:
    if isinstance(db, Reader):
        return db
    conn = db if isinstance(db, Connection) else db.connection()
    docs = doc_cache.for_engine(conn.engine)
    return Reader(conn.dialect, conn.connection.driver_connection, docs)


class _Decode:
    """Values as the models' types give them: SQLite hands JSON columns back as text and
    booleans as 0/1 (PostgreSQL's driver decodes both itself)."""

    def __init__(self, conn: Reader) -> None:
        self.sqlite = conn.dialect.name == "sqlite"

    def json(self, value: Any) -> Any:
        return loads(value) if self.sqlite and isinstance(value, str) else value

    def bool(self, value: Any) -> Any:
        return bool(value) if self.sqlite and value is not None else value


# ---------------------------------------------------------------- keys


def artifact_hash(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    """A BLAKE3 hash or prefix, or any alias digest given in full (sha256:..., an ETag), of an
    artifact ``viewer`` can see (others are as absent: not found, never "forbidden"). One
    statement: the alias (which wins) and the prefix's matches together."""
    conn = _conn(db)
    try:
        p = check_prefix(text)
    except BadPrefix:
        rows = ALIAS.rows(conn, viewer.scopes, text=text)
        if not rows:
            raise
        return rows[0][0]  # type: ignore[no-any-return]
    rows = ALIAS_OR_PREFIX.rows(conn, viewer.scopes, p, text=text)
    aliased = [h for h, o in rows if o == 0]
    if aliased:
        return aliased[0]  # type: ignore[no-any-return]
    return _unique("artifact", text, [h for h, _ in rows])


def job_hash(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    """A registry job hash or prefix, or the client's job uid (of a job ``viewer`` can see)."""
    p = check_prefix(text)
    rows = JOB_KEY.rows(_conn(db), viewer.scopes, p)
    found = list(dict.fromkeys(h for (h,) in rows))
    return _unique("job", text, found[:CANDIDATES])


def session_hash(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> str:
    p = check_prefix(text)
    rows = SESSION_KEY.rows(_conn(db), viewer.scopes, p)
    return _unique("session", text, [h for (h,) in rows])


def _attributed(out: dict[str, Any], by: str | None, at: float | None) -> dict[str, Any]:
    if by is not None:
        out["registered_by"], out["registered_at"] = by, at
    return out


def labels(db: Source, kind: str, target: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """Current labels and their history, oldest first, as registered in scopes ``viewer``
    can see."""
    rows = LABELS.rows(_conn(db), viewer.scopes, kind=kind, h=target)
    history = [{"key": k, "value": v, "set_at": at, "registered_by": by} for k, v, at, by in rows]
    current = {h["key"]: h["value"] for h in history}  # later events win
    return {"current": {k: v for k, v in current.items() if v is not None}, "history": history}


# ---------------------------------------------------------------- documents


class _Read:
    """One lookup's reads in one transaction, so its statements see one snapshot: the
    Reader's own (``reading``), or one begun here on a Core connection (a Core connection of
    its own) or an ORM session's (the web pages)."""

    def __init__(self, db: Source) -> None:
        self.db = db
        self._tx: Any = None

    def __enter__(self) -> Reader:
        if not isinstance(self.db, Reader):
            self._tx = self.db.begin()
            self._tx.__enter__()
        return _conn(self.db)

    def __exit__(self, *exc: object) -> None:
        if self._tx is not None:
            self._tx.__exit__(*exc)


def _artifact(conn: Reader, h: str, viewer: Viewer) -> dict[str, Any]:
    scopes, d = viewer.scopes, _Decode(conn)
    (*row, by, at) = ARTIFACT.rows(conn, scopes, h=h)[0]
    a = dict(zip(_ARTIFACT_COLUMNS, row, strict=True))
    parts = ARTIFACT_PARTS.rows(conn, scopes, h=h)
    edges = ARTIFACT_EDGES.rows(conn, scopes, h=h)  # role, path, job, seen, session
    seen = [e for e in edges if e[3]]
    out: dict[str, Any] = {
        "hash": a["hash"],
        "size": a["size"],
        "composite": d.bool(a["composite"]),
        "registered_at": a["registered_at"],
        "registered_by": a["registered_by"],
        "aliases": sorted(
            ({"algorithm": x[1], "digest": x[2]} for x in parts if x[0] == "alias"),
            key=lambda x: (x["algorithm"], x["digest"]),
        ),
        "members": sorted(
            ({"path": x[1], "hash": x[2], "size": x[3]} for x in parts if x[0] == "member"),
            key=lambda x: x["path"],
        ),
        "produced_by": sorted({e[2] for e in seen if e[0] == "write"}),
        "consumed_by": sorted({e[2] for e in seen if e[0] == "read"}),
        "paths": sorted({e[1] for e in seen}),
        "sessions": sorted({e[4] for e in edges if e[4] is not None}),
        "labels": labels(conn, "artifact", h, viewer),
    }
    return _attributed(out, by, at)


def _files(edges: list[Any], role: str) -> list[dict[str, Any]]:
    """``edges``: (job_hash, role, path, artifact_hash) rows."""
    return sorted(
        ({"path": e[2], "hash": e[3]} for e in edges if e[1] == role),
        key=lambda f: (f["path"], f["hash"]),
    )


def job_json(db: Db, job: m.Job) -> dict[str, Any]:
    return jobs_json(db, [job])[0]


def jobs_json(db: Db, jobs: list[m.Job]) -> list[dict[str, Any]]:
    """Each job's document (from its ORM object), with the edges of all of them read in one
    statement per 500."""
    by_job: dict[str, list[Any]] = {j.job_hash: [] for j in jobs}
    wanted = list(by_job)
    for i in range(0, len(wanted), 500):
        q = select(m.Edge.job_hash, m.Edge.role, m.Edge.path, m.Edge.artifact_hash).where(
            m.Edge.job_hash.in_(wanted[i : i + 500])
        )
        for e in db.execute(q):
            by_job[e.job_hash].append(e)
    return [_job_doc(j, by_job[j.job_hash]) for j in jobs]


def _job_doc(job: m.Job, edges: list[Any]) -> dict[str, Any]:
    return _job_document({c: getattr(job, a) for c, a in _JOB_ATTRS.items()}, edges)


# column name -> the ORM attribute (the "metadata" column is Job.job_metadata)
_JOB_ATTRS = {c.name: k for k, c in m.Job.__table__.c.items()} | {"metadata": "job_metadata"}


def _job_row(row: Sequence[Any], edges: list[Any], d: _Decode) -> dict[str, Any]:
    """A job's document from a row of its table's columns (JOB, SESSION_JOBS)."""
    job = dict(zip(_JOB_COLUMNS, row, strict=True))
    for name in _JOB_JSON:
        job[name] = d.json(job[name])
    for name in _JOB_BOOL:
        job[name] = d.bool(job[name])
    return _job_document(job, edges)


def _job_document(job: dict[str, Any], edges: list[Any]) -> dict[str, Any]:
    """``job``: column name -> value. ``edges``: rows with role, path and artifact_hash."""
    return {
        "job_hash": job["job_hash"],
        "uid": job["uid"],
        "kind": job["kind"],
        "step_number": job["step_number"],
        "step_name": job["step_name"],
        "command": job["command"],
        "argv": job["argv"],
        "cwd": job["cwd"],
        "exit_code": job["exit_code"],
        "interrupted": job["interrupted"],
        "started_at": job["started_at"],
        "ended_at": job["ended_at"],
        "duration_seconds": job["duration_seconds"],
        "tracer": job["tracer"],
        "git": {
            "remote": job["git_remote"],
            "commit": job["git_commit"],
            "branch": job["git_branch"],
            "dirty": job["git_dirty"],
            "diff_hash": job["git_diff_hash"],
        },
        "packages": job["packages"],
        "env_names": job["env_names"],
        "metadata": job["metadata"],
        "inputs": _files(edges, "read"),
        "outputs": _files(edges, "write"),
        "deleted": job["deleted"],
        "cell": job["cell"],
        "registered_at": job["registered_at"],
        "registered_by": job["registered_by"],
    }


def _attribution(conn: Reader, scopes: Sequence[str], h: str) -> tuple[Any, Any]:
    rows = ATTRIBUTION.rows(conn, scopes, h=h)
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def _job(conn: Reader, h: str, viewer: Viewer) -> dict[str, Any]:
    """The job's document; shared with other lookups below its top level (doc_cache)."""
    scopes = viewer.scopes
    doc = conn.docs.job(h)
    if doc is None:
        (*row, by, at) = JOB.rows(conn, scopes, h=h)[0]
        doc = _job_row(row, JOB_EDGES.rows(conn, scopes, h=h), _Decode(conn))
        conn.docs.put_job(h, doc)
    else:
        by, at = _attribution(conn, scopes, h)
    out = dict(doc)
    out["sessions"] = sorted(s for (s,) in JOB_SESSIONS.rows(conn, scopes, h=h))
    out["labels"] = labels(conn, "job", h, viewer)
    return _attributed(out, by, at)


def _session_jobs(conn: Reader, scopes: Sequence[str], h: str) -> list[dict[str, Any]]:
    """The documents of session ``h``'s jobs, by start time, step and hash."""
    by_job: dict[str, list[Any]] = {}
    for e in SESSION_EDGES.rows(conn, scopes, h=h):
        by_job.setdefault(e[0], []).append(e)
    step = _JOB_COLUMNS.index("step_number"), _JOB_COLUMNS.index("started_at")
    key = _JOB_COLUMNS.index("job_hash")
    jobs = sorted(
        SESSION_JOBS.rows(conn, scopes, h=h),
        key=lambda j: (j[step[1]] or "", j[step[0]] or 0, j[key]),
    )
    d = _Decode(conn)
    return [_job_row(j, by_job.get(j[key], []), d) for j in jobs]


def _session(conn: Reader, h: str, viewer: Viewer) -> dict[str, Any]:
    """The session's document; its jobs' are shared with other lookups below their top level
    (doc_cache)."""
    s, shared, parts, _ = _session_parts(conn, h, viewer)
    return session_document(s, shared, *parts)


def _session_json(conn: Reader, h: str, viewer: Viewer) -> bytes:
    """The session's document as JSON: when its session was kept and what the viewer's scopes
    decide is what it was last time, the same bytes as last time (writing a 20-job session's
    JSON was a tenth of a lookup's server CPU)."""
    s, shared, parts, known = _session_parts(conn, h, viewer)
    try:
        key = orjson.dumps(parts) if known else None
    except TypeError:  # not what the viewer's parts hold (text and floats); made anew
        key = None
    if key is None:
        return dumps(session_document(s, shared, *parts))
    return conn.docs.remade(h, key, lambda: dumps(session_document(s, shared, *parts)))


def _session_parts(
    conn: Reader, h: str, viewer: Viewer
) -> tuple[dict[str, Any], list[dict[str, Any]], tuple[Any, Any, Any], bool]:
    """The session's row and its jobs' documents (doc_cache's, else read and kept), what the
    viewer's scopes decide (who registered it first, and each job, and its labels), and
    whether the row and documents were kept already."""
    scopes = viewer.scopes
    known = conn.docs.session(h)
    if known is None:
        (*row, by, at) = SESSION.rows(conn, scopes, h=h)[0]
        s = dict(zip(_SESSION_COLUMNS, row, strict=True))
        shared = _session_jobs(conn, scopes, h)
        conn.docs.put_session(h, s, shared)
    else:
        s, shared = known
        by, at = _attribution(conn, scopes, h)
    # Each job's earliest registration the viewer can see (visibility.attribution).
    first: dict[str, tuple[str, float]] = {}
    for target, g_by, g_at in SESSION_GRANTS.rows(conn, scopes, h=h):
        if target not in first or g_at < first[target][1]:
            first[target] = (g_by, g_at)
    parts = ((by, at), first, labels(conn, "session", h, viewer))
    return s, shared, parts, known is not None


def session_document(
    s: dict[str, Any],
    shared: list[dict[str, Any]],
    attribution: tuple[Any, Any],
    first: dict[str, Any],
    labels: dict[str, Any],
) -> dict[str, Any]:
    """A session's document from what never changes (its row ``s``, its jobs' documents
    ``shared`` as their rows have them, doc_cache's) and what the viewer's scopes decide: who
    registered it first (``attribution``: by, at) and each job (``first``: job hash -> (by,
    at)) as the viewer sees it, and its ``labels``. ``shared`` is left as it is."""
    docs = [dict(doc) for doc in shared]
    for doc in docs:
        if doc["job_hash"] in first:
            doc["registered_by"], doc["registered_at"] = first[doc["job_hash"]]
    out: dict[str, Any] = {
        "session_hash": s["session_hash"],
        "git": {"remote": s["git_remote"], "commit": s["git_commit"]},
        "registered_at": s["registered_at"],
        "registered_by": s["registered_by"],
        "jobs": docs,
        "labels": labels,
    }
    return _attributed(out, *attribution)


# ---------------------------------------------------------------- the lookups

_KINDS: dict[str, tuple[Callable[..., str], Callable[[Reader, str, Viewer], dict[str, Any]]]] = {
    "artifact": (artifact_hash, _artifact),
    "job": (job_hash, _job),
    "session": (session_hash, _session),
}


def _find(kind: str, db: Source, text: str, viewer: Viewer, encoded: bool) -> Any:
    """The ``kind`` document ``text`` names, as a dict or (``encoded``) as JSON bytes. On
    PostgreSQL the database builds it (pg_documents), on SQLite this module does."""
    key, build = _KINDS[kind]
    with _Read(db) as conn:
        if conn.dialect.name == "postgresql":
            doc = pg_documents.find(conn.driver, kind, text, viewer.scopes)
            return doc.encode() if encoded else loads(doc)
        h = key(conn, text, viewer)
        if encoded and kind == "session":
            return _session_json(conn, h, viewer)
        found = build(conn, h, viewer)
        return dumps(found) if encoded else found


def artifact(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """A BLAKE3 hash or prefix, or any alias digest given in full, of an artifact ``viewer``
    can see: its size, aliases, members, the jobs that wrote and read it, its sessions and
    labels, and who registered it first as ``viewer`` sees it."""
    return _find("artifact", db, text, viewer, False)  # type: ignore[no-any-return]


def job(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """A registry job hash or prefix, or a client job uid: what ran, its inputs and outputs,
    its sessions and labels. Below its top level, shared with later lookups: read only."""
    return _find("job", db, text, viewer, False)  # type: ignore[no-any-return]


def session(db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> dict[str, Any]:
    """A session hash or prefix: its jobs' documents in order, its labels. Below its top level,
    shared with later lookups: read only."""
    return _find("session", db, text, viewer, False)  # type: ignore[no-any-return]


def document_json(kind: str, db: Source, text: str, viewer: Viewer = ANONYMOUS_VIEWER) -> bytes:
    """The ``kind`` (artifact, job or session) lookup's document as JSON bytes, as the API
    sends it."""
    return _find(kind, db, text, viewer, True)  # type: ignore[no-any-return]


# 20 digits in a row: an integer that may not fit in 64 bits (2**64 has 20 digits)
_LONG_DIGITS = re.compile(r"\d{20}")


def loads(text: str) -> Any:
    """Stored JSON as Python values, integers whole: orjson reads one beyond 64 bits as a
    float (a job's metadata seed 2**70 + 1 came back as 2**70), so text that may hold one is
    read by json instead (slower; rare: a run of 20 decimal digits)."""
    if _LONG_DIGITS.search(text):
        return json.loads(text)
    return orjson.loads(text)


def dumps(doc: Any) -> bytes:
    """A document as JSON bytes, as JSONResponse writes it (compact, UTF-8); orjson when it
    can (integers beyond 64 bits, which a job's metadata may hold, it refuses)."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode()
