"""Recording cells off the kernel's reply path.

Hashing a cell's files and writing its job often takes longer than the cell itself, and the
kernel cannot do it in the background: it runs under the tracer, so a recording thread's
reads would show up in the next cell's interval. The launcher — the kernel's untraced parent —
records instead. The kernel hands each finished cell over and replies to the front end at once;
the launcher writes cells in the order they ran, so a cell's variables still link to the job
of the cell that defined them.

What the cell touched is identified by (device, inode, size, mtime_ns) when the cell ended. A
file a later cell rewrites before the launcher gets to it fails that check and is left out of
the job with a warning: a job never gets the hash of content it did not see.

Protocol: newline-delimited JSON over the Unix socket named by ``ROAR_KERNEL_RECORDER``::

    {"op": "hello", "ignore": [prefix, ...]}   the kernel's housekeeping paths → {"ok": true}
    {"op": "record", "cell": {...}, "parts": [summary, ...], "identities": {path: [4 ints]}}
                                               acknowledged at once → {"ok": true, "notes": [...]}
    {"op": "flush"}                            answered once every earlier cell is written

Notes are messages for the notebook, e.g. that a cell could not be recorded.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the launcher imports this module: keep its start light
    from roar.record.hashing import Identity

RECORDER_ENV = "ROAR_KERNEL_RECORDER"
REPLY_HEADSTART = 0.003  # seconds
DRAIN_SECONDS = 60.0  # how long a stopping kernel's launcher keeps writing its last cells


class RecordingService:
    """The launcher's side: a socket the kernel talks to and a thread that records in order."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="roar-kernel-")
        self.path = os.path.join(self._dir, "recorder.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(1)
        self._queue: queue.Queue[dict[str, Any] | threading.Event | None] = queue.Queue()
        self._notes: list[str] = []
        self._lock = threading.Lock()
        self._ignore: list[str] = []
        self._worker = threading.Thread(target=self._work, name="roar-recorder", daemon=True)
        self._worker.start()
        threading.Thread(target=self._accept, name="roar-recorder-accept", daemon=True).start()

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Write what is queued (the kernel has stopped); False if that took too long."""
        self._queue.put(None)
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def close(self) -> None:
        self._server.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                request = json.loads(line)
                if request.get("op") == "flush":
                    written = threading.Event()
                    self._queue.put(written)
                    written.wait()
                elif request.get("op") == "hello":
                    self._ignore = list(request.get("ignore", []))
                else:
                    self._queue.put(request)
                reply = {"ok": True, "notes": self._take_notes()}
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def _work(self) -> None:
        recorder: Any = None
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:  # one bad cell (or a failed import) must not stop the cells after it
                if recorder is None:
                    from roar.record.cells import (
                        CellRecorder,  # the launcher starts the kernel first
                    )

                    recorder = CellRecorder(ignore=self._ignore)
                self._record(recorder, item)
            except Exception as exc:
                count = item.get("cell", {}).get("execution_count")
                where = "" if count is None else f" [{count}]"
                with self._lock:
                    self._notes.append(
                        f"roar: cell{where} was not recorded ({type(exc).__name__}: {exc})."
                    )
        if recorder is not None:
            recorder.close()

    def _record(self, recorder: Any, request: dict[str, Any]) -> None:
        from roar.record.cells import ExecutedCell
        from roar_kernel.tracers import merge

        cell = ExecutedCell.from_json(request["cell"])
        identities = {p: tuple(i) for p, i in request.get("identities", {}).items()}
        recorder.record(cell, merge(request["parts"]), identities)

    def _take_notes(self) -> list[str]:
        with self._lock:
            notes, self._notes = self._notes, []
        return notes


class RecordingClient:
    """The kernel's side: hand a finished cell to the launcher and go on.

    ``hand_over`` does the rest of the work — the files' identities, the message — in a thread,
    after the reply has gone; ``settle`` waits for it, and must be called before the next
    interval opens so that none of it happens inside a cell.
    """

    def __init__(self, path: str):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._replies = self._sock.makefile("rb")
        self._sending: threading.Thread | None = None
        self._notes: list[str] = []
        self._unsent: list[tuple[Any, list[dict[str, Any]]]] = []
        self.broken: Exception | None = None  # why the launcher cannot be reached any more

    @classmethod
    def from_environment(cls) -> RecordingClient | None:
        # Taken out of the environment: the cells' own subprocesses must not find it.
        path = os.environ.pop(RECORDER_ENV, None)
        if not path:
            return None
        try:
            return cls(path)
        except OSError:
            return None

    def hello(self, ignore: list[str]) -> list[str]:
        return self._request({"op": "hello", "ignore": ignore})

    def hand_over(self, describe: Callable[[], Any], parts: list[Any]) -> None:
        """Send the cell ``describe()`` makes (a roar.record.cells.ExecutedCell) and its summaries
        (roar_kernel.tracers.SummaryPart), in the background."""
        self.settle()
        self._sending = threading.Thread(
            target=self._send, args=(describe, parts), name="roar-handover", daemon=True
        )
        self._sending.start()

    def settle(self) -> tuple[list[str], list[tuple[Any, list[dict[str, Any]]]]]:
        """Wait for the cell being sent; (notes for the notebook, cells that could not be sent)."""
        if self._sending is not None:
            self._sending.join()
            self._sending = None
        notes, self._notes = self._notes, []
        unsent, self._unsent = self._unsent, []
        return notes, unsent

    def submit(
        self, cell: Any, parts: list[dict[str, Any]], identities: dict[str, Identity]
    ) -> list[str]:
        """Queue ``cell`` for recording now; notes about earlier cells."""
        return self._request(
            {"op": "record", "cell": cell.to_json(), "parts": parts, "identities": identities}
        )

    def flush(self) -> list[str]:
        """Wait until every cell submitted so far is in the store (``settle`` first)."""
        return self._request({"op": "flush"})

    def close(self) -> None:
        self._replies.close()
        self._sock.close()

    def _send(self, describe: Callable[[], Any], raw_parts: list[Any]) -> None:
        from roar.record.hashing import identities
        from roar_kernel.tracers import summary_dict

        # Let the kernel's main thread send the reply first: this thread's parsing would
        # otherwise hold the GIL it needs (for up to the 5 ms switch interval).
        time.sleep(REPLY_HEADSTART)
        try:
            cell = describe()
            parts = [summary_dict(part) for part in raw_parts]
        except Exception as exc:  # reported in the notebook, like a failed recording
            self._notes.append(f"roar: a cell was not recorded ({type(exc).__name__}: {exc}).")
            return
        paths = [f["path"] for part in parts for f in part.get("files", ())
                 if not (f.get("is_dir") or f.get("delete"))]  # fmt: skip
        try:
            self._notes += self.submit(cell, parts, identities(paths))
        except (OSError, ValueError) as exc:
            self.broken = exc
            self._unsent.append((cell, parts))

    def _request(self, message: dict[str, Any]) -> list[str]:
        if self.broken is not None:
            raise OSError(str(self.broken))
        self._sock.sendall(json.dumps(message).encode() + b"\n")
        raw = self._replies.readline()
        if not raw:
            raise OSError("the launcher's recorder closed the connection")
        return list(json.loads(raw).get("notes", []))
