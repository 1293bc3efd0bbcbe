"""Keep-alive connections spread over glaas-server's processes (glaas.api.balance): each
process counts the clients it serves, and one holding more than its share answers some with
``connection: close``. In process with two counters on one shared file and a clock of the
test's, then with a real two-process server and 40 clients connecting at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path
from typing import Any

from glaas.api import balance
from tests.registry.conftest import running_server
from tests.registry.test_workers import _server_pid, _workers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def process(path: Path, pid: int, clock: Clock) -> tuple[balance.Balance, list[bool]]:
    """A Balance over an app that answers 200, and whether each answer closed its connection."""
    closed: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def sent(message: Any) -> None:
        if message["type"] == "http.response.start":
            closed.append((b"connection", b"close") in message["headers"])

    b = balance.Balance(app, str(path), pid=pid, clock=clock)
    b.sent = sent  # type: ignore[attr-defined]
    return b, closed


def serve(b: balance.Balance, clients: range) -> None:
    async def run() -> None:
        for c in clients:
            scope = {"type": "http", "client": ("127.0.0.1", c)}
            await b(scope, None, b.sent)  # type: ignore[attr-defined]

    asyncio.run(run())


def test_the_process_with_more_connections_closes_its_excess(tmp_path):
    """30 clients on one process, 10 on the other, each asking once a round; a client told to
    close connects again to the other process. Within a few rounds the two hold even shares,
    and then nobody is told to close."""
    path = tmp_path / "balance"
    balance.create_file(str(path), 2)
    clock = Clock()
    # Two live processes: this one and its parent stand for the server's two workers.
    a, a_closed = process(path, pid=os.getpid(), clock=clock)
    b, b_closed = process(path, pid=os.getppid(), clock=clock)
    clients = {a: list(range(1000, 1030)), b: list(range(2000, 2010))}
    other = {a: b, b: a}
    closed = {a: a_closed, b: b_closed}
    new_port = iter(range(3000, 4000))
    closes = []
    for _ in range(8):
        clock.now += balance.PUBLISH
        moved = 0
        # The two processes' requests interleaved, as they arrive at a server.
        queue = [
            (p, c)
            for pair in zip_longest(clients[a], clients[b])
            for p, c in zip((a, b), pair, strict=True)
        ]
        for this, c in queue:
            if c is None:
                continue
            serve(this, [c])
            if closed[this][-1]:  # told to close: connects again, to the other process
                clients[this].remove(c)
                clients[other[this]].append(next(new_port))
                moved += 1
        closes.append(moved)
    assert abs(len(clients[a]) - len(clients[b])) <= 2 * balance.MARGIN + 1, clients
    assert closes[-3:] == [0, 0, 0], closes  # settled
    assert 0 < sum(closes) <= 20, closes  # it moved the excess, not every connection
    assert a.shed == sum(a_closed) and a.live == len(clients[a])


def test_a_dead_processs_slot_and_count_are_not_counted(tmp_path):
    path = tmp_path / "balance"
    balance.create_file(str(path), 2)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    clock = Clock()
    dead, _ = process(path, pid=int(gone.stdout), clock=clock)
    serve(dead, range(1, 41))  # it published 40 connections, then died
    a, a_closed = process(path, pid=os.getpid(), clock=clock)
    b, _ = process(path, pid=os.getppid(), clock=clock)  # the dead one's slot
    assert {a.slot, b.slot} == {0, 1}
    serve(b, range(2000, 2004))
    serve(a, range(1000, 1004))
    assert len(a.peers) == 1 and not a.over()  # the dead one's 40 are not counted


async def _clients(port: int, n: int, rounds: int) -> tuple[int, int, list[Any]]:
    """``n`` clients connect at once and ask ``rounds`` times each, connecting again when told
    to; (answers that closed their connection, answers not 200, the connections' writers: open
    until the caller closes them)."""
    closed = failed = 0
    open_writers: list[Any] = []
    go = asyncio.Event()
    ready = [0]

    async def get(reader: Any, writer: Any) -> tuple[int, bool]:
        writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n")
        head = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        fields = {k.lower(): v.strip() for k, _, v in (x.partition(b":") for x in head[1:])}
        await reader.readexactly(int(fields[b"content-length"]))
        return int(head[0].split()[1]), fields.get(b"connection") == b"close"

    async def client() -> None:
        nonlocal closed, failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ready[0] += 1
        if ready[0] == n:
            go.set()
        await go.wait()
        for _ in range(rounds):
            status, close = await get(reader, writer)
            failed += status != 200
            if close:
                closed += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        open_writers.append(writer)

    await asyncio.gather(*(client() for _ in range(n)))
    return closed, failed, open_writers


def _established(port: int, pids: list[int]) -> list[int]:
    """How many established connections to ``port`` each of ``pids`` holds (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    counts = []
    for pid in pids:
        links = [p.readlink().name for p in Path(f"/proc/{pid}/fd").iterdir() if p.is_symlink()]
        counts.append(sum(1 for link in links if link[len("socket:[") : -1] in inodes))
    return counts


def test_two_processes_end_up_with_even_shares_of_40_clients(tmp_path):
    with running_server(
        f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "server.log", {"GLAAS_WORKERS": "2"}
    ) as api:
        port = int(api.base.rsplit(":", 1)[1])
        workers = _workers(_server_pid(str(port)))
        assert len(workers) == 2

        async def run() -> tuple[int, int, list[int]]:
            closed, failed, writers = await _clients(port, 40, 60)
            await asyncio.sleep(0.05)  # the last closes and connects reach the server
            shares = _established(port, workers)
            for w in writers:
                w.close()
            return closed, failed, shares

        closed, failed, shares = asyncio.run(run())
    assert failed == 0
    assert sum(shares) == 40, shares
    assert abs(shares[0] - shares[1]) <= 2 * balance.MARGIN + 2, shares
    assert closed < 40 * 60 // 10, closed  # a few moves, not a connection per request


def test_one_process_has_no_balance(tmp_path):
    from glaas.api.app import create_app
    from glaas.settings import Settings

    app = create_app(Settings(host="127.0.0.1", port=0, database_url=f"sqlite:///{tmp_path}/g.db"))
    assert not any(mw.cls is balance.Balance for mw in app.user_middleware)
    app.state.engine.dispose()


def test_a_process_finding_no_free_slot_serves_without_balancing(tmp_path):
    """Every slot held by a running process (two per worker, so only if processes pile up):
    the newcomer answers everything as it is, closing nothing."""
    path = tmp_path / "balance"
    balance.create_file(str(path), 1)  # two slots
    clock = Clock()
    process(path, pid=os.getpid(), clock=clock)
    process(path, pid=os.getppid(), clock=clock)
    late, closed = process(path, pid=1, clock=clock)  # init: alive, and not in a slot
    assert late.slot is None
    serve(late, range(100))
    assert closed == [False] * 100
