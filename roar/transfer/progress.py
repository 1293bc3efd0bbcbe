"""Progress of a transfer: a callback the core calls, and a bar on stderr for the CLI.

The bar shows only on a terminal and only once a transfer has run for a second, so short
transfers and scripts print nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, total_bytes: int, objects: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finish(self) -> None: ...


class Silent:
    def start(self, total_bytes: int, objects: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


class StderrBar:
    """``[#####.....]  42%  420.0 MiB / 1.0 GiB  85.3 MiB/s`` redrawn in place, at most 10×/s."""

    DELAY = 1.0
    WIDTH = 30

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False
        self.lock = threading.Lock()

    def start(self, total_bytes: int, objects: int) -> None:
        self.total, self.started = total_bytes, time.monotonic()

    def advance(self, nbytes: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += nbytes
            now = time.monotonic()
            if now - self.started < self.DELAY or now - self.drawn < 0.1:
                return
            self.drawn, self.shown = now, True
            self.stream.write("\r" + self._line(now))
            self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r" + self._line(time.monotonic()) + "\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        rate = self.done / max(now - self.started, 1e-6)
        if self.total > 0:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            size = f"{human_size(self.done)} / {human_size(self.total)}"
            return f"{self.label} [{bar}] {frac:4.0%}  {size}  {human_size(int(rate))}/s"
        return f"{self.label} {human_size(self.done)}  {human_size(int(rate))}/s"


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
