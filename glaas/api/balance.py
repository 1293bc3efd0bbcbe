"""Keep-alive connections spread evenly over the server's processes (glaas-server --workers N).

The processes share one listening socket and a client's connection stays with the process that
accepted it. A burst of new connections goes mostly to whichever process woke first: 50
clients connecting together split 9/41 or 17/33, and the clients of the busier process waited
about twice as long (with 50 closed-loop clients on PostgreSQL, p95 2-2.5x the p50). So each
process counts the clients it served lately (its live connections) and publishes the count
in a small file every process maps; a process holding more than its share
(the mean, rounded up, plus MARGIN) answers its next requests with ``connection: close`` until
it no longer does, and those clients connect again, to whichever process accepts them. What
reaches a client is unchanged but for that header (HTTP/1.1 clients reconnect on it).
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV = "GLAAS_BALANCE_FILE"  # set by glaas-server for its workers (glaas.__main__.serve)
SLOT = struct.Struct("qq")  # a process's pid and its live connections
WINDOW = 0.3  # seconds: a client served this recently holds a live connection
PUBLISH = 0.1  # seconds between updates of this process's count
MARGIN = 1  # connections above the fair share before this process sheds one


def create_file(path: str, workers: int) -> None:
    """The shared file, its slots all free: two per worker, so a worker started in place of
    one that died finds a slot even before the dead one's is seen to be free."""
    with open(path, "wb") as f:
        f.write(bytes(SLOT.size * 2 * workers))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    return True


class Balance:
    """ASGI middleware: counts this process's live connections and sheds the excess."""

    def __init__(
        self,
        app: ASGIApp,
        path: str,
        pid: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.pid = pid or os.getpid()
        self.clock = clock
        fd = os.open(path, os.O_RDWR)
        try:
            self.slots = os.fstat(fd).st_size // SLOT.size
            self.map = mmap.mmap(fd, SLOT.size * self.slots)
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process claims a slot at a time
            try:
                self.slot = self._claim()
                self.offset = (self.slot or 0) * SLOT.size  # where this process publishes
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        self.seen: dict[Any, float] = {}  # client (host, port) -> when last served
        self.live = 0  # this process's live connections (published as they change)
        self.peers: list[int] = []  # where the other running processes publish theirs
        self.moved = 0  # connections this process closed since it last counted
        self.shed = 0  # connections this process closed, in all
        self._next = 0.0

    def _claim(self) -> int | None:
        """A free slot (never used, or its process gone) for this process; None if there is
        none, and then this process serves without balancing rather than not at all."""
        for i in range(self.slots):
            pid, _ = SLOT.unpack_from(self.map, i * SLOT.size)
            if pid in (0, self.pid) or not _alive(pid):
                SLOT.pack_into(self.map, i * SLOT.size, self.pid, 0)
                return i
        return None

    def _publish(self, now: float) -> None:
        """Count this process's live connections again (forget clients gone quiet), and find
        which other processes are running."""
        stale = now - WINDOW
        self.seen = {c: t for c, t in self.seen.items() if t >= stale}
        self._set_live(len(self.seen))
        self.peers = []
        for i in range(self.slots):
            if i != self.slot:
                pid, _ = SLOT.unpack_from(self.map, i * SLOT.size)
                if pid and _alive(pid):
                    self.peers.append(i * SLOT.size)
        self.moved = 0  # they have connected again by now, and are counted where they went
        self._next = now + PUBLISH

    def _set_live(self, live: int) -> None:
        self.live = live
        SLOT.pack_into(self.map, self.offset, self.pid, live)

    def over(self) -> bool:
        """This process holds more than its share of the connections: the mean, rounded up,
        plus MARGIN. The connections it closed since it last counted are counted as the
        others' (where they will mostly go), so it does not close more than its excess."""
        others = sum(SLOT.unpack_from(self.map, offset)[1] for offset in self.peers)
        total = self.live + others + self.moved
        return self.live > math.ceil(total / (1 + len(self.peers))) + MARGIN

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or client is None or self.slot is None:
            await self.app(scope, receive, send)
            return
        now = self.clock()
        if client not in self.seen:
            self._set_live(self.live + 1)
        self.seen[client] = now
        if now >= self._next:
            self._publish(now)
        if not self.peers or not self.over():
            await self.app(scope, receive, send)
            return
        del self.seen[client]  # this connection ends with this answer
        self._set_live(self.live - 1)
        self.moved += 1
        self.shed += 1

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)


def install(app: Any) -> None:
    """Add Balance to ``app`` when glaas-server runs several processes (its environment names
    their shared file)."""
    path = os.environ.get(ENV)
    if path:
        app.add_middleware(Balance, path=path)
