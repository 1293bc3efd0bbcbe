"""Running a command under a tracer backend and collecting its access summary.

The backend runs the command in a native thread; this module keeps Python's signal handling
alive meanwhile so that termination signals sent to roar reach the command. Ctrl-C from a
terminal already goes to the whole foreground process group, so roar does not repeat it.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from roar.tracing.selection import preflight_error

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


@dataclass
class FileAccess:
    path: str
    read: bool = False
    write: bool = False
    create: bool = False
    delete: bool = False
    exec: bool = False
    dir_list: bool = False
    is_dir: bool = False
    mtime_ns_before: int | None = None


@dataclass
class Summary:
    backend: str
    exit_code: int
    exit_signal: int | None
    exec_error: str | None
    files: list[FileAccess]
    renames: list[tuple[str, str]]
    processes: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False


class TracedRun:
    """A command started under a tracer. ``wait()`` returns its summary."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str, backend: str):
        import roar._native as _native

        self.backend = backend
        try:
            self._proc = _native.spawn_traced(list(argv), dict(env), cwd, backend)
        except (OSError, RuntimeError) as exc:
            raise preflight_error(backend, f"the backend could not start ({exc})") from exc
        self.pid: int = self._proc.pid
        self._interrupted = False
        self._previous: dict[int, Any] = {}
        self._install_handlers()

    def wait(self) -> Summary:
        try:
            raw = None
            while raw is None:
                raw = self._proc.wait(0.25)  # wake up now and then so signal handlers run
        finally:
            self._restore_handlers()
        summary = parse_summary(json.loads(raw))
        summary.interrupted = self._interrupted or summary.exit_signal == signal.SIGINT
        return summary

    def _install_handlers(self) -> None:
        try:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_interrupt)
            for sig in _FORWARDED:
                self._previous[sig] = signal.signal(sig, self._forward)
        except ValueError:  # not the main thread (e.g. inside a kernel): leave signals alone
            self._previous.clear()

    def _restore_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_interrupt(self, signum: int, _frame: object) -> None:
        # A terminal's Ctrl-C reaches the command directly (same process group); a SIGINT
        # aimed at roar alone is passed on.
        self._interrupted = True
        if not _terminal_delivered_to(self.pid):
            self._forward(signum, _frame)

    def _forward(self, signum: int, _frame: object) -> None:
        try:
            os.kill(self.pid, signum)
        except OSError:
            pass


def parse_summary(data: dict[str, Any]) -> Summary:
    """Turn the documented access-summary JSON (rust/roar-trace-format/README.md) into objects."""
    files = []
    for entry in data.get("files", []):
        path = _path_of(entry)
        files.append(
            FileAccess(
                path=path,
                read=bool(entry.get("read")),
                write=bool(entry.get("write")),
                create=bool(entry.get("create")),
                delete=bool(entry.get("delete")),
                exec=bool(entry.get("exec")),
                dir_list=bool(entry.get("dir_list")),
                is_dir=bool(entry.get("is_dir")),
                mtime_ns_before=entry.get("mtime_ns_before"),
            )
        )
    renames = [(_path_of(r, "from"), _path_of(r, "to")) for r in data.get("renames", [])]
    return Summary(
        backend=str(data.get("backend", "")),
        exit_code=int(data.get("exit_code", 1)),
        exit_signal=data.get("exit_signal"),
        exec_error=data.get("exec_error"),
        files=files,
        renames=renames,
        processes=list(data.get("processes", [])),
        warnings=list(data.get("warnings", [])),
    )


_FILE_FLAGS = ("read", "write", "create", "delete", "exec", "dir_list", "is_dir")


def summary_json(summary: Summary) -> dict[str, Any]:
    """The inverse of ``parse_summary``: the documented JSON, for summaries made in Python."""
    files = []
    for f in summary.files:
        entry: dict[str, Any] = {"path": f.path, **{k: True for k in _FILE_FLAGS if getattr(f, k)}}
        if f.mtime_ns_before is not None:
            entry["mtime_ns_before"] = f.mtime_ns_before
        files.append(entry)
    return {
        "backend": summary.backend,
        "exit_code": summary.exit_code,
        "exit_signal": summary.exit_signal,
        "exec_error": summary.exec_error,
        "files": files,
        "renames": [{"from": a, "to": b} for a, b in summary.renames],
        "processes": list(summary.processes),
        "warnings": list(summary.warnings),
    }


def _path_of(entry: dict[str, Any], key: str = "path") -> str:
    # Undecodable bytes arrive surrogate-escaped, so this is already os.fsdecode's string.
    return str(entry[key])


def _terminal_delivered_to(pid: int) -> bool:
    """Did a terminal's Ctrl-C already reach ``pid``? (It did if we share its foreground group.)"""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgid(pid)
    except OSError:
        return False
    finally:
        os.close(fd)
