"""The hash lookups on PostgreSQL, answered on the server's event loop over libpq itself.

A lookup is one statement (pg_documents.LOOKUPS), whose answer is the document's JSON text.
What the server spends around that statement was most of a lookup's cost (issue 17: p95 <= 20
ms with 50 closed-loop clients): psycopg's cursor in the thread pool cost ~0.17 ms of CPU a
statement (a thread hand-off each way and the cursor's Python), psycopg's AsyncConnection on
the loop ~0.1 ms. Here the statement is prepared once per connection and sent on the
connection's libpq handle (psycopg.pq, psycopg's own binding), its answer awaited on the loop:
~0.03 ms. The bytes PostgreSQL answers are the response body as they come.

The connections are this process's own (``size`` at most, opened as lookups need them),
autocommit (each statement its own snapshot, as READ COMMITTED reads), and run their prepared
statements on the generic plan: a lookup's plan does not depend on the key, and PostgreSQL's
default re-planned the prefix range on every run (~0.5 ms of its CPU). A connection that fails
or whose lookup is cancelled is closed, never reused with a statement in flight; a lookup that
meets a connection the server dropped while it sat idle (a restart) is tried once more on a new
one, as the lookups only read.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors, pq

from glaas.service import doc_cache, lookup, pg_documents
from glaas.service.keys import FULL, check_prefix

OPTIONS = "-c plan_cache_mode=force_generic_plan"
APPLICATION = "glaas-lookups"


def _numbered(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """``sql`` written with psycopg's ``%(name)s`` placeholders as libpq wants it (``$1``,
    ``$2``, … in order of first use; ``%%`` is ``%``), and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"%%|%\((\w+)\)s", number, sql).encode(), tuple(names)


# Each lookup statement by name (the kind's, and session_parts) in libpq's form.
_STATEMENTS = {kind: _numbered(sql) for kind, sql in pg_documents.LOOKUPS.items()}
_STATEMENTS["session_parts"] = _numbered(pg_documents.SESSION_PARTS_LOOKUP)


def text_array(values: Sequence[str]) -> bytes:
    """``values`` as a PostgreSQL text[] literal: every element quoted (so NULL, commas,
    braces and spaces are text), with its quotes and backslashes escaped."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return ("{" + ",".join(quoted) + "}").encode()


class _Connection:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn  # owns the libpq handle; nothing else runs on it
        self.pg = conn.pgconn
        self.prepared: set[str] = set()
        self.reused = False


class PgLookups:
    """This process's PostgreSQL lookups: ``await document(kind, text, scopes)``."""

    def __init__(self, connect: dict[str, Any], size: int) -> None:
        """``connect``: psycopg.connect's arguments for the registry's database."""
        self.connect_args = connect
        self.size = size
        self.statements = 0  # run so far (benchmarks/bench_lookup.py counts them)
        self.docs = doc_cache.DocCache()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []

    async def document(self, kind: str, text: str, scopes: Sequence[str]) -> bytes:
        """The JSON of the ``kind`` (artifact, job, session) document ``text`` names, as a
        viewer of ``scopes`` sees it; NotFound, Ambiguous or BadPrefix as lookup raises them."""
        params = pg_documents.parameters(text, scopes)
        if params["p"] is None and kind != "artifact":  # only an artifact has other names
            check_prefix(text)
        encoded = {
            "t": params["t"].encode(),
            "p": None if params["p"] is None else params["p"].encode(),
            "scopes": text_array(params["scopes"]),
        }
        if kind == "session":
            return await self._session(text, params["p"], encoded)
        return await self._document(kind, kind, text, encoded)

    async def _document(
        self, kind: str, statement: str, text: str, encoded: dict[str, Any]
    ) -> bytes:
        """The ``kind`` lookup ``statement``'s document; else the error its hits explain."""
        values = [encoded[name] for name in _STATEMENTS[statement][1]]
        doc, hits = await self._run(statement, values)
        if doc is None:
            pg_documents.explain(kind, text, None if hits is None else hits.decode())
        return doc

    async def _session(self, text: str, p: str, encoded: dict[str, Any]) -> bytes:
        """A session's document: a 20-job session's is most of PostgreSQL's work of a lookup
        (~0.7 ms of its CPU), and all but who registered it and its jobs first and its labels
        never changes (doc_cache). So when the text is a whole hash whose session is kept here,
        PostgreSQL sends only the viewer's parts (SESSION_PARTS, ~0.2 ms); otherwise the rest
        as well, which is kept for next time. The visibility is checked by the statement
        either way."""
        known = self.docs.session(p) if len(p) == FULL else None
        encoded["cold"] = b"false" if known is not None else b"true"
        found = await self._document("session", "session_parts", text, encoded)
        # Only the jobs' documents can hold an integer beyond 64 bits (their metadata), which
        # lookup.loads reads whole (its check costs ~0.1 ms on a session's hashes); the
        # viewer's parts are text and floats.
        parts = orjson.loads(found) if known is not None else lookup.loads(found.decode())
        if known is None:
            s, shared = parts["shared"]["session"], parts["shared"]["jobs"]
            self.docs.put_session(s["session_hash"], s, shared)
        else:
            s, shared = known
        first = {job: (by, at) for job, (by, at) in parts["grants"].items()}
        attribution = (parts["registered_by"], parts["registered_at"])
        doc = lookup.session_document(s, shared, attribution, first, parts["labels"])
        return lookup.dumps(doc)

    def close(self) -> None:
        """Close the idle connections (a lookup in flight closes its own when it ends)."""
        idle, self._idle = self._idle, []
        for c in idle:
            c.pg.finish()

    # ------------------------------------------------------------ connections

    def _bind(self) -> None:
        """The connections serve the event loop they were opened on; on another (a test's
        second asyncio.run) start again."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            for c in self._idle:
                c.pg.finish()
            self._loop, self._idle, self._slots = loop, [], asyncio.Semaphore(self.size)

    async def _connect(self) -> _Connection:
        args = dict(self.connect_args)
        options = f"{args.pop('options', '')} {OPTIONS}".strip()
        args.setdefault("application_name", APPLICATION)
        conn = await psycopg.AsyncConnection.connect(**args, autocommit=True, options=options)
        conn.pgconn.nonblocking = 1
        return _Connection(conn)

    async def _run(self, statement: str, values: list[bytes | None]) -> tuple[bytes | None, ...]:
        self._bind()
        async with self._slots:
            for attempt in (1, 2):
                c = self._idle.pop() if self._idle else await self._connect()
                try:
                    found = await self._execute(c, statement, values)
                except psycopg.OperationalError:
                    c.pg.finish()
                    if attempt == 2 or not c.reused:
                        raise
                    for stale in self._idle:  # dropped with it, most likely: a restart
                        stale.pg.finish()
                    self._idle.clear()
                    continue
                except BaseException:  # a statement may still be in flight: never reuse
                    c.pg.finish()
                    raise
                c.reused = True
                self._idle.append(c)
                return found
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ one statement

    async def _execute(
        self, c: _Connection, statement: str, values: list[bytes | None]
    ) -> tuple[bytes | None, ...]:
        """Run ``statement`` (its name in _STATEMENTS) on ``c``, prepared there the first time:
        (the document, the hits)."""
        name = f"glaas_lookup_{statement}".encode()
        if statement not in c.prepared:
            c.pg.send_prepare(name, _STATEMENTS[statement][0])
            self._check(await self._result(c), pq.ExecStatus.COMMAND_OK)
            c.prepared.add(statement)
        c.pg.send_query_prepared(name, values)
        self.statements += 1
        res = self._check(await self._result(c), pq.ExecStatus.TUPLES_OK)
        if res.ntuples != 1:
            raise psycopg.DataError(f"a lookup answered {res.ntuples} rows, not one")
        return res.get_value(0, 0), res.get_value(0, 1)

    @staticmethod
    def _check(res: pq.abc.PGresult | None, ok: pq.ExecStatus) -> pq.abc.PGresult:
        if res is None:
            raise psycopg.InterfaceError("PostgreSQL sent no result")
        if res.status != ok:
            raise errors.error_from_result(res)
        return res

    async def _result(self, c: _Connection) -> pq.abc.PGresult | None:
        """The last result of the command just sent, once PostgreSQL has answered it all."""
        pg, loop = c.pg, asyncio.get_running_loop()
        while pg.flush():  # 1: the socket took only part of it
            await _ready(loop.add_writer, loop.remove_writer, pg.socket)
        result = None
        while True:
            pg.consume_input()  # OperationalError if the connection is gone
            while not pg.is_busy():
                r = pg.get_result()
                if r is None:
                    return result
                result = r
            await _ready(loop.add_reader, loop.remove_reader, pg.socket)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():  # the loop may call again before the waiter runs
        ready.set_result(None)


async def _ready(add: Any, remove: Any, fd: int) -> None:
    """Until the event loop sees ``fd`` ready (``add``: its add_reader or add_writer)."""
    ready = asyncio.get_running_loop().create_future()
    add(fd, _wake, ready)
    try:
        await ready
    finally:
        remove(fd)
