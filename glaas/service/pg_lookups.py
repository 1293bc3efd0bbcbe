"""The hash lookups on PostgreSQL, answered on the server's event loop over libpq itself, the
lookups that come in together sent together.

A lookup is one statement (pg_documents.LOOKUPS), whose answer is the document's JSON text.
What the server spends around that statement was most of a lookup's cost (issue 17: p95 <= 20
ms with 50 closed-loop clients): psycopg's cursor in the thread pool cost ~0.17 ms of CPU a
statement (a thread hand-off each way and the cursor's Python), psycopg's AsyncConnection on
the loop ~0.1 ms. Here the statement is prepared once per connection and sent on the
connection's libpq handle (psycopg.pq, psycopg's own binding); the bytes PostgreSQL answers are
the response body as they come.

PostgreSQL's own cost of a lookup statement is mostly setting its plan up (a dozen subplans),
whatever it reads. So the lookups wait in batches (one per statement and viewer's scopes)
until the loop has run what is ready, and a batch goes as one statement over the array of its
texts (pg_documents.batched) whenever a connection has none in flight: alone, a lookup is sent
at once; under load, the lookups that came in while a batch was answered make the next one.
A batch of 10 costs PostgreSQL half the CPU a lookup of 10 statements, and the server one send
and one read. A batch PostgreSQL refuses is tried again a lookup at a time: an error is its
own lookup's.

The connections (``size`` a process, opened as lookups need them) are in libpq's pipeline
mode, each batch its own transaction (a sync point after it; each reads its own snapshot, as
READ COMMITTED's autocommit does). The prepared statements run on the generic plan: a
lookup's plan does not depend on the key, and PostgreSQL's default re-planned the prefix range
on every run (~0.5 ms of its CPU). A lookup whose waiter is cancelled has its answer dropped.
A connection that fails (PostgreSQL restarted, or ended its backend) is closed with the
others, which most likely went with it, and the lookups waiting on them are tried once more on
new ones, as the lookups only read.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Sequence
from functools import partial
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


# Each lookup statement by name (the kind's, and the session's parts) in libpq's form, for a
# batch of texts (pg_documents.batched).
_LOOKUPS = {
    **pg_documents.LOOKUPS,
    "session_parts": pg_documents.SESSION_PARTS_LOOKUP,
    "session_parts_cold": pg_documents.SESSION_PARTS_COLD_LOOKUP,
}
_STATEMENTS = {name: _numbered(pg_documents.batched(sql)) for name, sql in _LOOKUPS.items()}
BATCH = 64  # lookups at most in one statement


def array(values: Sequence[bytes | None]) -> bytes:
    """``values`` (UTF-8 text, or None for NULL) as a PostgreSQL text[] literal: every element
    quoted (so NULL, commas, braces and spaces are text), with its quotes and backslashes
    escaped."""
    quoted = (
        b"NULL" if v is None else b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        for v in values
    )
    return b"{" + b",".join(quoted) + b"}"


def text_array(values: Sequence[str]) -> bytes:
    """``values`` as a PostgreSQL text[] literal (array)."""
    return array([v.encode() for v in values])


class _Lookup:
    """A lookup waiting for its batch: its text and prefix (as UTF-8), and its answer."""

    __slots__ = ("answer", "p", "t")

    def __init__(self, t: bytes, p: bytes | None, answer: asyncio.Future[Any]) -> None:
        self.t, self.p, self.answer = t, p, answer


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
    """This process's PostgreSQL lookups: ``await document(kind, text, scopes)``.

    The lookups that come in together go to PostgreSQL together: each waits in a batch (one
    per statement and viewer's scopes) until the loop's current round of work is done, and a
    batch is sent as one statement (pg_documents.batched) when a connection has none in
    flight. Alone, a lookup is sent at once; under load, those that came in while a batch was
    answered go in the next. A batch PostgreSQL refuses is tried again a lookup at a time, so
    that one lookup's error is its own."""

    def __init__(self, connect: dict[str, Any], size: int) -> None:
        """``connect``: psycopg.connect's arguments for the registry's database; ``size``: how
        many connections at most."""
        self.connect_args = connect
        self.size = size
        self.statements = 0  # sent so far (benchmarks/bench_lookup.py counts them)
        self.docs = doc_cache.DocCache()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pipes: list[_Pipeline] = []
        self._opening = 0  # connections being opened
        self._waiting: dict[tuple[str, bytes, int], list[_Lookup]] = {}  # batches to send
        self._alone = 0  # lookups tried again on their own
        self._scheduled = False

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
        doc, hits = await self._run(statement, encoded["t"], encoded["p"], encoded["scopes"])
        if doc is None:
            pg_documents.explain(kind, text, None if hits is None else hits.decode())
        return doc

    async def _session(self, text: str, p: str, encoded: dict[str, Any]) -> bytes:
        """A session's document: a 20-job session's is most of PostgreSQL's work of a lookup
        (~0.7 ms of its CPU), and all but who registered it and its jobs first and its labels
        never changes (doc_cache). So when the text is a whole hash whose session is kept here,
        PostgreSQL sends only the viewer's parts (SESSION_PARTS, ~0.2 ms); otherwise the rest
        as well (SESSION_PARTS_COLD), which is kept for next time. The visibility is checked by
        the statement either way. The same parts as last time make the same document as last
        time, which is sent again as it was (making it cost ~0.2 ms of the server's CPU)."""
        known = self.docs.session(p) if len(p) == FULL else None
        statement = "session_parts" if known is not None else "session_parts_cold"
        found = await self._document("session", statement, text, encoded)
        if known is not None:
            return self.docs.remade(p, found, lambda: self._session_json(found, known))
        return self._session_json(found, None)

    def _session_json(self, found: bytes, known: Any) -> bytes:
        """A session's JSON from the statement's answer ``found`` and what doc_cache kept of
        it (``known``: its row and jobs' documents), or, when None, what ``found`` holds of
        them, which is kept for next time."""
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
        return lookup.dumps(lookup.session_document(s, shared, attribution, first, parts["labels"]))

    def close(self) -> None:
        """Close the connections (a lookup still waiting on one fails)."""
        pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            pipe.fail(psycopg.OperationalError("the registry's lookups were closed"))

    # ------------------------------------------------------------ batches

    async def _run(
        self, statement: str, t: bytes, p: bytes | None, scopes: bytes
    ) -> tuple[bytes | None, bytes | None]:
        """(the document, the hits) of ``statement`` for the text ``t`` (``p``: its prefix),
        for a viewer of ``scopes`` (a text[] literal)."""
        self._bind()
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            lookup = _Lookup(t, p, loop.create_future())
            self._waiting.setdefault((statement, scopes, 0), []).append(lookup)
            self._schedule()
            try:
                return await lookup.answer  # type: ignore[no-any-return]
            except psycopg.OperationalError:
                if attempt == 2:  # a connection dropped (a restart): tried once more
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _schedule(self) -> None:
        """Send what waits once the loop has run what is ready now (the other lookups that
        came in with this one)."""
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._send)

    def _send(self) -> None:
        """Every waiting batch (BATCH lookups a statement at most), pipelined on a connection
        with none in flight, each kind's in the same round (one after another, each kind would
        wait for the others' answers); a connection opened while there are fewer than
        ``size``."""
        self._scheduled = False
        self._pipes = [p for p in self._pipes if not p.closed]
        while self._waiting:
            pipe = next((p for p in self._pipes if not p.waiting), None)
            if pipe is None:
                if len(self._pipes) + self._opening < self.size:
                    self._opening += 1
                    asyncio.ensure_future(self._open())
                return
            ready, self._waiting = self._waiting, {}
            for key, waiting in ready.items():
                live = [w for w in waiting if not w.answer.done()]
                for start in range(0, len(live), BATCH):
                    self._send_batch(pipe, key, live[start : start + BATCH])

    def _send_batch(
        self, pipe: _Pipeline, key: tuple[str, bytes, int], batch: list[_Lookup]
    ) -> None:
        statement, scopes, _ = key
        given = {"ts": array([w.t for w in batch]), "ps": array([w.p for w in batch]),
                 "scopes": scopes}  # fmt: skip
        try:
            answer = pipe.send(statement, [given[name] for name in _STATEMENTS[statement][1]])
        except psycopg.OperationalError as exc:
            self._dropped(exc, batch)
            return
        self.statements += 1
        answer.add_done_callback(partial(self._answered, pipe, key, batch))

    def _answered(
        self,
        pipe: _Pipeline,
        key: tuple[str, bytes, int],
        batch: list[_Lookup],
        answer: asyncio.Future[list[pq.abc.PGresult]],
    ) -> None:
        """Each lookup of ``batch`` its row of the statement's answer; then the next round goes
        at once, before the lookups answered here write their responses, so that PostgreSQL
        works on it meanwhile."""
        try:
            rows = self._rows(pipe, key[0], answer.result(), len(batch))
        except psycopg.OperationalError as exc:
            self._dropped(exc, batch)
        except psycopg.Error as exc:
            if len(batch) == 1:
                _settle(batch[0].answer, exc=exc)
            else:  # which lookup's error? each on its own, to find out
                for w in batch:
                    self._alone += 1
                    self._waiting[(key[0], key[1], self._alone)] = [w]
        else:
            for w, row in zip(batch, rows, strict=True):
                _settle(w.answer, row)  # their tasks run once this returns
        self._send()

    def _dropped(self, exc: BaseException, batch: list[_Lookup]) -> None:
        """A connection failed: closed, with the others, which most likely went with it (a
        restart); their lookups get ``exc`` and are tried once more (_run)."""
        for pipe in self._pipes:
            pipe.fail(exc)
        for w in batch:
            _settle(w.answer, exc=exc)

    @staticmethod
    def _rows(
        pipe: _Pipeline, statement: str, results: list[pq.abc.PGresult], count: int
    ) -> list[tuple[bytes | None, bytes | None]]:
        """The statement's ``count`` rows from a batch's results, or the error PostgreSQL
        sent."""
        failed = [r for r in results if r.status == pq.ExecStatus.FATAL_ERROR]
        if failed:
            if results[0].status == pq.ExecStatus.FATAL_ERROR and len(results) > 1:
                pipe.prepared.discard(statement)  # its prepare failed: again next time
            raise errors.error_from_result(failed[0])
        res = results[-1] if results else None
        if res is None or res.status != pq.ExecStatus.TUPLES_OK:
            raise psycopg.InterfaceError(f"a lookup's statement answered {res and res.status}")
        if res.ntuples != count:
            raise psycopg.DataError(f"a batch of {count} lookups answered {res.ntuples} rows")
        return [(res.get_value(i, 0), res.get_value(i, 1)) for i in range(count)]

    # ------------------------------------------------------------ connections

    def _bind(self) -> None:
        """The connections serve the event loop they were opened on; on another (a test's
        second asyncio.run) start again."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()
            self._loop, self._opening, self._waiting, self._scheduled = loop, 0, {}, False

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        args = dict(self.connect_args)
        options = f"{args.pop('options', '')} {OPTIONS}".strip()
        args.setdefault("application_name", APPLICATION)
        return await psycopg.AsyncConnection.connect(**args, autocommit=True, options=options)

    async def _open(self) -> None:
        """One more connection, then what waits is sent; if it cannot be opened, the lookups
        waiting get the error."""
        try:
            conn = await self._connect()
        except BaseException as exc:
            self._opening -= 1
            waiting, self._waiting = self._waiting, {}
            for w in (w for batch in waiting.values() for w in batch if not w.answer.done()):
                if isinstance(exc, Exception):
                    w.answer.set_exception(exc)
                else:  # cancelled (the server stopping): so are they
                    w.answer.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        self._opening -= 1
        if self._loop is not asyncio.get_running_loop():  # pragma: no cover - loop changed
            conn.pgconn.finish()
            return
        self._pipes.append(_Pipeline(conn, self._loop))
        self._send()


def _settle(
    answer: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None
) -> None:
    """Answer a lookup whose waiter still waits (a cancelled one's is dropped): ``exc``, else
    ``result``."""
    if answer.done():
        return
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(result)
