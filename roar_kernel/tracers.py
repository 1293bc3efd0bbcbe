"""Where a cell's file accesses come from: one interface, three sources.

- ``NativeIntervals``: the roar kernel runs under a native backend in long-lived mode
  (``roar_kernel.launcher``); each cell is an interval of that trace. Sees everything,
  C libraries and subprocesses included.
- ``AttachedTracer``: `%%roar` in a plain kernel attaches a backend that can (eBPF by pid,
  ptrace without seccomp) for the duration of one cell.
- ``AuditHookTracer``: no native backend can run; Python's audit hooks see what Python code
  opens, renames and removes, but nothing a C library or a subprocess does.

All return the access summary as its documented JSON (rust/roar-trace-format/README.md):
a dict, or, from the native tracer, the reply's text still to be parsed (``summary_dict``) —
a cell's summary goes on to the launcher's recorder after the reply, so the kernel parses it
off the reply's path. ``merge`` joins the pieces of a cell split around a `%roar run`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from roar.tracing.run import FileAccess, Summary, parse_summary, summary_json

SummaryPart = dict[str, Any] | str  # a summary, or the native tracer's reply text


class CellTracer(Protocol):
    backend: str

    def begin(self, label: str) -> None: ...

    def end(self) -> SummaryPart: ...


class NativeIntervals:
    """Intervals of the native trace this kernel process runs under."""

    def __init__(self, client: Any, backend: str):
        self._client = client  # roar.tracing.intervals.IntervalClient
        self.backend = backend

    @classmethod
    def from_environment(cls) -> NativeIntervals | None:
        from roar.tracing.intervals import CONTROL_ENV, IntervalClient

        client = IntervalClient.from_environment()
        if client is None:
            return None
        # The cell's own subprocesses must not find (and talk to) the control socket.
        os.environ.pop(CONTROL_ENV, None)
        return cls(client, os.environ.get("ROAR_KERNEL_BACKEND", "native"))

    def begin(self, label: str) -> None:
        self._client.begin(label.replace("\n", " "))

    def end(self) -> SummaryPart:
        return str(self._client.end_text())


class AttachedTracer:
    """A backend attached to this process for one cell (`%%roar` in a plain kernel)."""

    def __init__(self, backend: str):
        self.backend = backend
        self._trace: Any = None

    def begin(self, label: str) -> None:
        from roar.tracing.attach import AttachedTrace

        self._trace = AttachedTrace.start(os.getpid(), self.backend)

    def end(self) -> dict[str, Any]:
        trace, self._trace = self._trace, None
        summary: dict[str, Any] = trace.detach_json()
        return summary


class AuditHookTracer:
    """The fallback: Python audit hooks (PEP 578) record what Python code does to files.

    Hooks cannot be removed, so one hook is installed for the life of the process and
    records only while an interval is open.
    """

    backend = "audit"
    _hook_installed = False
    _active: AuditHookTracer | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, FileAccess] = {}
        self._renames: list[tuple[str, str]] = []
        self._warnings: list[str] = []
        self._inside = threading.local()

    def begin(self, label: str) -> None:
        with self._lock:
            self._files, self._renames, self._warnings = {}, [], []
        AuditHookTracer._active = self
        if not AuditHookTracer._hook_installed:
            sys.addaudithook(_dispatch_audit_event)
            AuditHookTracer._hook_installed = True

    def end(self) -> dict[str, Any]:
        AuditHookTracer._active = None
        with self._lock:
            files = [f for f in self._files.values() if not (f.create and f.delete)]
            return summary_json(
                Summary(
                    backend=self.backend,
                    exit_code=0,
                    exit_signal=None,
                    exec_error=None,
                    files=sorted(files, key=lambda f: f.path),
                    renames=list(self._renames),
                    processes=[],
                    warnings=list(dict.fromkeys(self._warnings)),
                )
            )

    def on_event(self, event: str, args: tuple) -> None:
        if getattr(self._inside, "busy", False):
            return  # our own stat calls
        self._inside.busy = True
        try:
            self._handle(event, args)
        finally:
            self._inside.busy = False

    def _handle(self, event: str, args: tuple) -> None:
        if event == "open":
            self._on_open(args[0], args[2] if len(args) > 2 else None)
        elif event in ("os.rename", "os.replace"):
            self._on_rename(args[0], args[1])
        elif event in ("os.remove", "os.unlink", "os.rmdir"):
            entry = self._entry(args[0])
            if entry:
                entry.delete = True
                entry.is_dir = entry.is_dir or event == "os.rmdir"
        elif event == "os.mkdir":
            entry = self._entry(args[0])
            if entry and not os.path.lexists(entry.path):
                entry.create = entry.is_dir = True
        elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
            self._warnings.append(
                "a subprocess ran in this cell; without a native tracer its files are not seen"
            )

    def _on_open(self, path: Any, flags: int | None) -> None:
        entry = self._entry(path)
        if entry is None:
            return
        flags = os.O_RDONLY if flags is None else flags
        exists = os.path.exists(entry.path)
        if os.path.isdir(entry.path):
            entry.is_dir = entry.dir_list = True
            return
        access = flags & os.O_ACCMODE
        wrote_before = entry.write or entry.create
        if access != os.O_WRONLY and not flags & os.O_TRUNC and exists and not wrote_before:
            entry.read = True
        if access != os.O_RDONLY or flags & (os.O_CREAT | os.O_TRUNC):
            entry.write = True
            if not exists:
                entry.create = True
            entry.delete = False

    def _on_rename(self, source: Any, target: Any) -> None:
        src, dst = self._entry(source), self._entry(target)
        if src is None or dst is None:
            return
        dst.write = True
        dst.create = dst.create or not os.path.lexists(dst.path)
        dst.delete = False
        if src.create:
            self._files.pop(src.path, None)  # temp file + rename = a write of the final name
        else:
            src.delete = True
        self._renames.append((src.path, dst.path))

    def _entry(self, path: Any) -> FileAccess | None:
        if isinstance(path, int) or path is None:
            return None
        text = os.fsdecode(path)
        absolute = os.path.realpath(os.path.join(os.getcwd(), text))
        with self._lock:
            return self._files.setdefault(absolute, FileAccess(path=absolute))


def _dispatch_audit_event(event: str, args: tuple) -> None:
    tracer = AuditHookTracer._active
    if tracer is not None:
        tracer.on_event(event, args)


def summary_dict(part: SummaryPart) -> dict[str, Any]:
    """A tracer's summary as a dict (parsing the native tracer's reply text)."""
    if isinstance(part, str):
        from roar.tracing.intervals import summary_of_end_reply

        return summary_of_end_reply(part)
    return part


def merge(raw_parts: Sequence[SummaryPart]) -> Summary:
    """One summary for consecutive pieces of the same cell (split around a `%roar run`)."""
    parts = [parse_summary(summary_dict(part)) for part in raw_parts]
    if len(parts) == 1:
        return parts[0]
    files: dict[str, FileAccess] = {}
    for part in parts:
        for f in part.files:
            seen = files.get(f.path)
            if seen is None:
                files[f.path] = FileAccess(**vars(f))
                continue
            wrote = seen.write or seen.create
            seen.read = seen.read or (f.read and not wrote)
            seen.write = seen.write or f.write
            seen.create = seen.create or (f.create and not seen.read)
            seen.delete = f.delete
            seen.exec = seen.exec or f.exec
            seen.dir_list = seen.dir_list or f.dir_list
            seen.is_dir = seen.is_dir or f.is_dir
            if seen.mtime_ns_before is None:
                seen.mtime_ns_before = f.mtime_ns_before
    first = parts[0]
    return Summary(
        backend=first.backend,
        exit_code=0,
        exit_signal=None,
        exec_error=None,
        files=sorted(files.values(), key=lambda f: f.path),
        renames=[r for p in parts for r in p.renames],
        processes=[proc for p in parts for proc in p.processes],
        warnings=list(dict.fromkeys(w for p in parts for w in p.warnings)),
    )
