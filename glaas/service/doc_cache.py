"""Job documents and session contents kept in memory between lookups: they never change.

A job's hash covers its command, where and when it ran and every file it read and wrote
(identity.job_hash); a session's hash covers its jobs and their edges (identity.session_hash);
and lineage rows are only ever inserted (register: ON CONFLICT DO NOTHING, the first
registration's row stays). So the document built from a job's row and its edges, and the list of
a session's jobs, are the same for as long as the registry holds them, whoever asks. What can
change is read on every lookup, never kept here: who may see a record, who registered it first in
the viewer's scopes, its labels, the sessions a job is in.

One cache per engine (per database) and process, for the documents glaas.service.lookup builds
from rows (SQLite's); on PostgreSQL the server's lookups keep their own (pg_lookups: a
session's row and jobs, which PostgreSQL sends when it is not kept). Least recently used out
first once the kept documents' JSON passes ``budget`` bytes. Documents handed out are shared:
readers copy the top level to add their own keys and never change what is inside.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Engine

BUDGET = 32 * 2**20  # bytes of JSON a process keeps per database (~4x that in Python objects)
SESSION_ENTRY = 200  # bytes a session's own entry is counted as, besides its jobs' hashes


def json_size(doc: Any) -> int:
    try:
        return len(orjson.dumps(doc))
    except TypeError:  # an integer beyond 64 bits in a job's metadata
        return len(json.dumps(doc, default=str))


class DocCache:
    """Job documents by job hash; a session's row and its jobs' hashes by session hash; the
    last answer made of a kept session (``remade``). Thread-safe: the web pages read in
    the server's threads, the API's lookups on its event loop."""

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def job(self, job_hash: str) -> dict[str, Any] | None:
        with self._lock:
            return self._get(("job", job_hash))  # type: ignore[no-any-return]

    def put_job(self, job_hash: str, doc: dict[str, Any]) -> None:
        size = json_size(doc)
        with self._lock:
            self._put(("job", job_hash), doc, size)

    def session(self, session_hash: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The session's row and its jobs' documents in order, or None unless all are kept."""
        with self._lock:
            found = self._get(("session", session_hash))
            if found is None:
                return None
            row, job_hashes = found
            docs = [self._get(("job", h)) for h in job_hashes]
        if any(d is None for d in docs):
            return None
        return row, docs

    def put_session(
        self, session_hash: str, row: dict[str, Any], docs: list[dict[str, Any]]
    ) -> None:
        sizes = [json_size(d) for d in docs]
        with self._lock:
            for doc, size in zip(docs, sizes, strict=True):
                self._put(("job", doc["job_hash"]), doc, size)
            hashes = tuple(d["job_hash"] for d in docs)
            self._put(("session", session_hash), (row, hashes), SESSION_ENTRY + 66 * len(hashes))

    def answer(self, key: str) -> tuple[bytes, bytes] | None:
        """What ``remade`` kept for ``key``: (the parts, the answer made of them)."""
        with self._lock:
            return self._get(("answer", key))  # type: ignore[no-any-return]

    def remade(self, key: str, parts: bytes, make: Callable[[], bytes]) -> bytes:
        """The answer ``make`` gives, made of ``parts`` and what is kept here for ``key``
        alone: the one kept from last time when ``parts`` are the same bytes, else made and
        kept."""
        last = self.answer(key)
        if last is not None and last[0] == parts:
            return last[1]
        answer = make()
        with self._lock:
            self._put(("answer", key), (parts, answer), len(parts) + len(answer))
        return answer

    def _get(self, key: tuple[str, str]) -> Any:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def _put(self, key: tuple[str, str], value: Any, size: int) -> None:
        if size > self.budget:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped


_CACHES: weakref.WeakKeyDictionary[Engine, DocCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_engine(engine: Engine) -> DocCache:
    """The cache of ``engine``'s database in this process (made on first use)."""
    cache = _CACHES.get(engine)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.setdefault(engine, DocCache())
    return cache
