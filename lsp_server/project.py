"""A roar project as the server sees it: its store (read only), kept fresh by polling, and the
resolution of strings in documents to the paths its jobs recorded."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from lsp_server import lookup
from lsp_server.freshness import DiskDigests
from roar.errors import RoarError
from roar.store import provenance as prov

log = logging.getLogger(__name__)
T = TypeVar("T")
_CACHE_LIMIT = 20_000


class PathIndex:
    """Recorded paths by file name, for strings that name a tracked file by a tail of its path
    (``model.pkl`` for ``<root>/out/model.pkl``). Grows with the jobs recorded since the last
    refresh; rebuilt when jobs went away (``roar pop``)."""

    def __init__(self) -> None:
        self.by_name: dict[str, set[str]] = {}
        self.upto_job = 0

    def refresh(self, conn: prov.Connection) -> None:
        newest = prov.max_job_id(conn)
        if newest < self.upto_job:
            self.by_name, self.upto_job = {}, 0
        if newest == self.upto_job:
            return
        for path in prov.paths_recorded_after(conn, self.upto_job):
            self.by_name.setdefault(os.path.basename(path), set()).add(path)
        self.upto_job = newest

    def matching(self, text: str) -> list[str]:
        tail = os.path.normpath(text)
        if tail in (".", "") or tail.startswith(("..", "/")):
            return []
        names = self.by_name.get(os.path.basename(tail), ())
        return sorted(p for p in names if p == tail or p.endswith("/" + tail))


class Project:
    """One ``.roar/roar.db``. Every query goes through ``_query``, so a store that is missing,
    damaged or from a newer roar leaves the server up: lookups answer None and one line says why."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root, self.db_path = root, db_path
        self.conn: prov.Connection | None = None
        self.problem: str | None = None  # why the store cannot be read, logged once
        # A problem the user must act on (a store of a newer roar): the editor shows it once
        # (window/showMessage) and hovers say it instead of "not tracked".
        self.notice: str | None = None
        self.index = PathIndex()
        self.disk = DiskDigests()
        self._version: tuple[int, int] | None = None
        self._resolved: dict[tuple[str, tuple[str, ...]], str | None] = {}

    # lifecycle -----------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self._ensure_open()

    def _ensure_open(self) -> bool:
        if self.conn is not None:
            return True
        try:
            self.conn = prov.open_readonly(self.db_path)
            self.index.refresh(self.conn)
        except (RoarError, prov.ReadError) as exc:
            self._fail(exc)
            return False
        if self.problem is not None:
            log.info("roar store at %s is readable again", self.db_path)
        self.problem = self.notice = None
        self._version = self._signature()
        return True

    def _fail(self, exc: BaseException) -> None:
        message = getattr(exc, "message", None) or str(exc)
        if self.problem != message:  # one line per new problem, not one per request
            log.warning("roar store unavailable (%s): %s", self.db_path, message)
        self.problem = message
        self.notice = message if isinstance(exc, prov.NewerStoreError) else None
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _signature(self) -> tuple[int, int]:
        """(data_version, inode): the first moves on every commit by another connection, the
        second when the database file was replaced (a fresh ``roar init``)."""
        assert self.conn is not None
        return prov.data_version(self.conn), os.stat(self.db_path).st_ino

    def poll(self) -> bool:
        """Has the store changed since the last poll? Reopens a replaced or recovered store."""
        before = self._version
        try:
            if self.conn is not None and os.stat(self.db_path).st_ino != (before or (0, 0))[1]:
                self.close()
            if not self._ensure_open():
                return before is not None and self._forget()
            now = self._signature()
        except (OSError, prov.ReadError) as exc:
            self._fail(exc)
            return before is not None and self._forget()
        if now == before:
            return False
        self._version = now
        self._resolved.clear()
        self._query(self.index.refresh, None)
        return True

    def _forget(self) -> bool:
        self._version = None
        self._resolved.clear()
        return True

    # queries -------------------------------------------------------------------------------
    def _query(self, fn: Callable[[prov.Connection], T], default: T) -> T:
        if not self._ensure_open():
            return default
        assert self.conn is not None
        try:
            return fn(self.conn)
        except prov.ReadError as exc:
            self._fail(exc)
            return default

    def resolve(self, text: str, base_dirs: Sequence[str]) -> str | None:
        """The recorded path ``text`` names: as an absolute path, relative to one of
        ``base_dirs`` (the document's folder, the project root), else by a unique-enough tail."""
        key = (text, tuple(base_dirs))
        if key not in self._resolved:
            if len(self._resolved) > _CACHE_LIMIT:
                self._resolved.clear()
            self._resolved[key] = self._query(lambda c: self._resolve(c, text, base_dirs), None)
        return self._resolved[key]

    def _resolve(self, conn: prov.Connection, text: str, base_dirs: Sequence[str]) -> str | None:
        expanded = os.path.expanduser(text)
        bases = [""] if os.path.isabs(expanded) else base_dirs
        candidates = [os.path.normpath(os.path.join(b, expanded)) for b in bases]
        candidates += [os.path.realpath(c) for c in candidates]
        hits = prov.tracked(conn, candidates)
        for candidate in candidates:
            if candidate in hits:
                return candidate
        suffixed = self.index.matching(expanded) if not os.path.isabs(expanded) else []
        inside = [p for p in suffixed if p.startswith(str(self.root) + os.sep)]
        best = inside or suffixed
        return best[0] if best else None

    def provenance(self, path: str) -> lookup.Provenance | None:
        return self._query(lambda c: lookup.for_path(c, path, self.disk), None)

    def provenance_of_hash(self, prefix: str) -> lookup.Provenance | None:
        return self._query(lambda c: lookup.for_hash(c, prefix), None)
