"""Long-lived mode, from inside a traced process: mark an interval, get its access summary.

A command started with ``spawn_traced(..., intervals=True)`` finds ``ROAR_TRACE_CONTROL`` in its
environment. The notebook kernel uses this to make each cell its own job::

    client = IntervalClient.from_environment()
    client.begin("cell 3")
    ...                       # run the cell; subprocesses it starts are included
    summary = client.end()    # the access summary of just this interval

The line protocol is documented in ``rust/roar-trace-format/src/control.rs``.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

CONTROL_ENV = "ROAR_TRACE_CONTROL"


class IntervalError(Exception):
    pass


class IntervalClient:
    def __init__(self, path: str):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._reader = self._sock.makefile("r", encoding="utf-8", errors="surrogateescape")

    @classmethod
    def from_environment(cls) -> IntervalClient | None:
        """A client for the tracer this process runs under, or None when not traced this way."""
        path = os.environ.get(CONTROL_ENV)
        return cls(path) if path else None

    def begin(self, label: str) -> None:
        if "\n" in label:
            raise ValueError("an interval label cannot contain a newline")
        self._request(f"begin {label}")

    def end(self) -> dict[str, Any]:
        """The access summary (rust/roar-trace-format/README.md) of the interval just ended."""
        return summary_of_end_reply(self.end_text())

    def end_text(self) -> str:
        """The `end` reply as its JSON text, for a caller that parses it later
        (``summary_of_end_reply``): a cell's reply need not wait for the parse."""
        self._sock.sendall(b"end\n")
        raw = self._reader.readline()
        if not raw:
            raise IntervalError("the tracer closed the control socket")
        if not raw.startswith('{"ok":true'):
            self._check(json.loads(raw))
        return raw

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> IntervalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, line: str) -> dict[str, Any]:
        self._sock.sendall(line.encode("utf-8", "surrogateescape") + b"\n")
        raw = self._reader.readline()
        if not raw:
            raise IntervalError("the tracer closed the control socket")
        reply: dict[str, Any] = json.loads(raw)
        self._check(reply)
        return reply

    @staticmethod
    def _check(reply: dict[str, Any]) -> None:
        if not reply.get("ok"):
            raise IntervalError(str(reply.get("error", "unknown error")))


def summary_of_end_reply(raw: str) -> dict[str, Any]:
    reply = json.loads(raw)
    summary: dict[str, Any] = reply["summary"]
    summary["label"] = reply["label"]
    return summary
