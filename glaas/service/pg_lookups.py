"""The hash lookups on PostgreSQL, answered on the server's event loop over libpq itself, in
libpq's pipeline mode.

A lookup is one statement (pg_documents.LOOKUPS), whose answer is the document's JSON text.
What the server spends around that statement was most of a lookup's cost (issue 17: p95 <= 20
ms with 50 closed-loop clients): psycopg's cursor in the thread pool cost ~0.17 ms of CPU a
statement (a thread hand-off each way and the cursor's Python), psycopg's AsyncConnection on
the loop ~0.1 ms. Here the statement is prepared once per connection and sent on the
connection's libpq handle (psycopg.pq, psycopg's own binding); the bytes PostgreSQL answers are
the response body as they come.

The lookups share a few connections (``size`` a process, opened as lookups need them), each in
pipeline mode: a lookup's statement is sent at once, behind the ones still being answered, and
its answer read off the connection in the order sent, each lookup its own transaction (a sync
point after it: an error in one aborts no other, and each reads its own snapshot, as READ
COMMITTED's autocommit does). One backend kept busy with a queue of statements, instead of
one per lookup in flight each woken and sleeping for every statement, spends a quarter less
CPU a lookup, and the server a third less around it (fewer wake-ups and socket reads each
way). The prepared statements run on the generic plan: a lookup's plan does not depend on the
key, and PostgreSQL's default re-planned the prefix range on every run (~0.5 ms of its CPU).

A lookup whose waiter is cancelled leaves its answer to be read and dropped in its turn; the
connection goes on. A connection that fails (PostgreSQL restarted, or ended its backend) is
closed with the others, which most likely went with it, and the lookups waiting on them are
tried once more on new ones, as the lookups only read.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
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
_STATEMENTS["session_parts_cold"] = _numbered(pg_documents.SESSION_PARTS_COLD_LOOKUP)


def text_array(values: Sequence[str]) -> bytes:
    """``values`` as a PostgreSQL text[] literal: every element quoted (so NULL, commas,
    braces and spaces are text), with its quotes and backslashes escaped."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return ("{" + ",".join(quoted) + "}").encode()


class _Pipeline:
    """One connection in libpq's pipeline mode on the event loop: ``send`` queues a statement
    and returns the future of its results; the loop reads the answers as they come (a reader
    on the socket) and hands each lookup's to its future, in the order sent."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop):
        self.conn = conn  # owns the libpq handle; nothing else runs on it
        self.pg = conn.pgconn
        self.loop = loop
        self.prepared: set[str] = set()
        self.waiting: deque[asyncio.Future[list[pq.abc.PGresult]]] = deque()
        self.results: list[pq.abc.PGresult] = []  # of the lookup being answered
        self.answered = 0
        self.closed = False
        self.writing = False
        self.pg.nonblocking = 1
        self.pg.enter_pipeline_mode()
        self.fd = self.pg.socket
        loop.add_reader(self.fd, self._readable)

    def send(self, statement: str, values: list[bytes | None]) -> asyncio.Future[Any]:
        """Queue ``statement`` (its name in _STATEMENTS, prepared here the first time) with
        ``values``, then a sync point: the future of its results (the prepare's, if any, then
        the statement's)."""
        name = f"glaas_lookup_{statement}".encode()
        try:
            if statement not in self.prepared:
                self.pg.send_prepare(name, _STATEMENTS[statement][0])
                self.prepared.add(statement)
            self.pg.send_query_prepared(name, values)
            self.pg.pipeline_sync()
        except psycopg.OperationalError as exc:
            self.fail(exc)
            raise
        answer: asyncio.Future[list[pq.abc.PGresult]] = self.loop.create_future()
        self.waiting.append(answer)
        self._flush()
        return answer

    def _flush(self) -> None:
        """Send what libpq holds; what the socket does not take yet, when it can."""
        try:
            more = self.pg.flush()
        except psycopg.OperationalError as exc:
            self.fail(exc)
            return
        if more and not self.writing:
            self.loop.add_writer(self.fd, self._flush)
            self.writing = True
        elif not more and self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False

    def _readable(self) -> None:
        """Read what PostgreSQL sent; each lookup's results, up to its sync point, to its
        future (dropped when its waiter was cancelled)."""
        pg = self.pg
        try:
            pg.consume_input()
            ended = False  # libpq marks the end of each statement's results with None
            while self.waiting and not pg.is_busy():
                r = pg.get_result()
                if r is None:
                    if ended:  # nothing more is ready
                        break
                    ended = True
                    continue
                ended = False
                if r.status != pq.ExecStatus.PIPELINE_SYNC:
                    self.results.append(r)
                    continue
                answer, results, self.results = self.waiting.popleft(), self.results, []
                self.answered += 1
                if not answer.done():
                    answer.set_result(results)
        except psycopg.OperationalError as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Close the connection; the lookups waiting on it get ``exc``."""
        self.close()
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(exc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
            if self.writing:
                self.loop.remove_writer(self.fd)
        self.pg.finish()


class PgLookups:
    """This process's PostgreSQL lookups: ``await document(kind, text, scopes)``."""

    def __init__(self, connect: dict[str, Any], size: int) -> None:
        """``connect``: psycopg.connect's arguments for the registry's database; ``size``: how
        many connections at most."""
        self.connect_args = connect
        self.size = size
        self.statements = 0  # run so far (benchmarks/bench_lookup.py counts them)
        self.docs = doc_cache.DocCache()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pipes: list[_Pipeline] = []
        self._opening = 0  # connections being opened
        self._opened: list[asyncio.Future[None]] = []  # lookups waiting for one

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
        as well (SESSION_PARTS_COLD), which is kept for next time. The visibility is checked by the statement
        either way."""
        known = self.docs.session(p) if len(p) == FULL else None
        statement = "session_parts" if known is not None else "session_parts_cold"
        found = await self._document("session", statement, text, encoded)
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
        """Close the connections (a lookup still waiting on one fails)."""
        pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            pipe.fail(psycopg.OperationalError("the registry's lookups were closed"))

    # ------------------------------------------------------------ connections

    def _bind(self) -> None:
        """The connections serve the event loop they were opened on; on another (a test's
        second asyncio.run) start again."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()
            self._loop, self._opening, self._opened = loop, 0, []

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        args = dict(self.connect_args)
        options = f"{args.pop('options', '')} {OPTIONS}".strip()
        args.setdefault("application_name", APPLICATION)
        return await psycopg.AsyncConnection.connect(**args, autocommit=True, options=options)

    async def _pipe(self) -> _Pipeline:
        """A connection for one more lookup: one with none waiting, else a new one while there
        are fewer than ``size``, else the one with the fewest waiting."""
        while True:
            self._pipes = [p for p in self._pipes if not p.closed]
            free = [p for p in self._pipes if not p.waiting]
            if free:
                return free[0]
            if len(self._pipes) + self._opening < self.size:
                return await self._open()
            if self._pipes:
                return min(self._pipes, key=lambda p: len(p.waiting))
            opened = asyncio.get_running_loop().create_future()  # all still opening
            self._opened.append(opened)
            await opened

    async def _open(self) -> _Pipeline:
        self._opening += 1
        try:
            conn = await self._connect()
        finally:
            self._opening -= 1
            opened, self._opened = self._opened, []
            for waiter in opened:  # to look again (or open one, if this failed)
                if not waiter.done():
                    waiter.set_result(None)
        pipe = _Pipeline(conn, asyncio.get_running_loop())
        self._pipes.append(pipe)
        return pipe

    async def _run(self, statement: str, values: list[bytes | None]) -> tuple[bytes | None, ...]:
        """(the document, the hits) of ``statement`` with ``values``."""
        self._bind()
        for attempt in (1, 2):
            pipe = await self._pipe()
            try:
                results = await pipe.send(statement, values)
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise
                # Dropped with it, most likely (a restart): every connection is closed, their
                # lookups tried again, like this one, on new ones.
                for other in self._pipes:
                    other.fail(exc)
                continue
            self.statements += 1
            return self._answer(pipe, statement, results)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _answer(
        pipe: _Pipeline, statement: str, results: list[pq.abc.PGresult]
    ) -> tuple[bytes | None, ...]:
        """The statement's row from a lookup's results, or the error PostgreSQL sent."""
        failed = [r for r in results if r.status == pq.ExecStatus.FATAL_ERROR]
        if failed:
            if results[0].status == pq.ExecStatus.FATAL_ERROR and len(results) > 1:
                pipe.prepared.discard(statement)  # its prepare failed: again next time
            raise errors.error_from_result(failed[0])
        res = results[-1] if results else None
        if res is None or res.status != pq.ExecStatus.TUPLES_OK:
            raise psycopg.InterfaceError(f"a lookup's statement answered {res and res.status}")
        if res.ntuples != 1:
            raise psycopg.DataError(f"a lookup answered {res.ntuples} rows, not one")
        return res.get_value(0, 0), res.get_value(0, 1)
